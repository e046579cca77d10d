"""Executors run a list of run configs somewhere; a new one (Ray, SLURM) is one module here with
`@register_executor`: every module in this package is imported."""

from nasbench_harness.engine.executors.base import Executor, get_executor, list_executors, register_executor
from nasbench_harness.engine.executors.local import LocalExecutor
from nasbench_harness.registry import import_submodules

import_submodules(__name__, __path__)

__all__ = ["Executor", "LocalExecutor", "get_executor", "list_executors", "register_executor"]
