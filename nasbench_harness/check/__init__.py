"""Collapse-metric regression check: compare finished runs against a committed baseline."""

from nasbench_harness.check.baseline import Baseline, load_baseline, write_baseline
from nasbench_harness.check.compare import Comparison, compare, render_table
from nasbench_harness.check.summary import RunSummary, summarise_runs

__all__ = [
    "Baseline",
    "Comparison",
    "RunSummary",
    "compare",
    "load_baseline",
    "render_table",
    "summarise_runs",
    "write_baseline",
]
