"""Fixtures: the tiny suite file and its `local` result, computed once, as every executor's reference."""

from __future__ import annotations

from pathlib import Path

import pytest
from executors_support import SUITE, snapshot


@pytest.fixture
def suite_file(tmp_path: Path) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(SUITE)
    return path


@pytest.fixture(scope="session")
def local_results(tmp_path_factory, reference_data_dir) -> Path:
    """The tiny suite's results directory as `local` leaves it (read-only: copy run directories out of it)."""
    from nasbench_harness.engine import run_suite

    root = tmp_path_factory.mktemp("local")
    (root / "suite.yaml").write_text(SUITE)
    outcomes = run_suite(
        root / "suite.yaml",
        results_dir=str(root / "results"),
        data_dir=str(reference_data_dir),
        device="cpu",
        executor="local",
        report=lambda message: None,
    )
    assert [o.status for o in outcomes] == ["finished", "finished"]
    return root / "results"


@pytest.fixture(scope="session")
def local_reference(local_results) -> dict[str, tuple[list[dict], str]]:
    reference = snapshot(local_results)
    assert len(reference) == 2 and all(len(rows) == 3 for rows, _ in reference.values())
    return reference
