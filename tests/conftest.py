"""Shared fixtures: the reference data directory; `reference_packages.require` for the reference code."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from reference_packages import in_ci

# One thread: on a 2-core CI box two threads contend with the other process and run many times slower.
torch.set_num_threads(1)

REPO_ROOT = Path(__file__).resolve().parent.parent


def _reference_data_dir() -> Path | None:
    if os.environ.get("NASBENCH_DATA"):
        return Path(os.environ["NASBENCH_DATA"])
    sibling = REPO_ROOT.parent / "shared" / "data"
    return sibling if sibling.is_dir() else None


@pytest.fixture(scope="session")
def reference_data_dir() -> Path:
    """The real reference data (../shared/data in CI). Required in CI, skipped elsewhere if absent."""
    path = _reference_data_dir()
    if path is None or not path.is_dir():
        if in_ci():
            pytest.fail("CI needs NASBENCH_DATA pointing at the reference data (../shared/data)")
        pytest.skip("reference data not available; set NASBENCH_DATA")
    return path
