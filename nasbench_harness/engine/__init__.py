"""The run engine: suite → run configs → executor → one self-describing directory per run."""

from nasbench_harness.engine.runner import RunOutcome, SearchRun, execute
from nasbench_harness.engine.suite import run_suite

__all__ = ["RunOutcome", "SearchRun", "execute", "run_suite"]
