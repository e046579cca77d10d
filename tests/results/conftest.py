"""The session's result tree, built by real tiny runs (hand-written trees: results_support.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

TINY_SUITE = """\
name: results-tiny
profile: tiny
methods: [darts]
spaces: [nb201, s1]
datasets: [cifar10]
seeds: [0, 1]
"""


@pytest.fixture(scope="session")
def real_tree(tmp_path_factory: pytest.TempPathFactory, reference_data_dir: Path) -> Path:
    """Four finished tiny runs (NB201 and S1, seeds 0 and 1) with ground truth, built once per session."""
    from nasbench_harness.engine import run_suite

    root = tmp_path_factory.mktemp("real")
    suite = root / "suite.yaml"
    suite.write_text(TINY_SUITE)
    outcomes = run_suite(
        suite, results_dir=str(root / "results"), data_dir=str(reference_data_dir), device="cpu", report=print
    )
    assert [o.status for o in outcomes] == ["finished"] * 4, [o.reason for o in outcomes]
    return root / "results"
