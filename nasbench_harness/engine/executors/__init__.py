"""Executors run a list of run configs somewhere: `local`, `pool`, `ray`, `slurm`, one file each.

A new one is one module here with `@register_executor`: every module in this package is imported.
`ray` and `slurm` import their packages only when they run, so the harness never needs them installed.
"""

from nasbench_harness.engine.executors.base import (
    Executor,
    ExecutorOptions,
    get_executor,
    get_executor_class,
    list_executors,
    register_executor,
)
from nasbench_harness.engine.executors.local import LocalExecutor
from nasbench_harness.registry import import_submodules

import_submodules(__name__, __path__)

__all__ = [
    "Executor",
    "ExecutorOptions",
    "LocalExecutor",
    "get_executor",
    "get_executor_class",
    "list_executors",
    "register_executor",
]
