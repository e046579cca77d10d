"""Executors run a list of run configs somewhere: `local`, `pool`, `ray`, `slurm`, one file each.

`ray` and `slurm` import their packages only when they run, so the harness never needs them installed.
"""

from nasbench_harness.engine.executors import pool, ray, slurm  # noqa: F401  (they register themselves)
from nasbench_harness.engine.executors.base import (
    Executor,
    ExecutorOptions,
    get_executor,
    get_executor_class,
    list_executors,
    register_executor,
)
from nasbench_harness.engine.executors.local import LocalExecutor

__all__ = [
    "Executor",
    "ExecutorOptions",
    "LocalExecutor",
    "get_executor",
    "get_executor_class",
    "list_executors",
    "register_executor",
]
