"""Executors run a list of run configs somewhere: `local` now; Ray and SLURM plug in as one file each."""

from nasbench_harness.engine.executors.base import Executor, get_executor, list_executors, register_executor
from nasbench_harness.engine.executors.local import LocalExecutor

__all__ = ["Executor", "LocalExecutor", "get_executor", "list_executors", "register_executor"]
