"""The executor seam: given run configs and where to put results, produce one outcome per run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from nasbench_harness.config import RunConfig
from nasbench_harness.engine.runner import Reporter, RunOutcome
from nasbench_harness.registry import Registry


class Executor:
    def run_all(
        self,
        configs: Sequence[RunConfig],
        results_dir: Path,
        data_dir: Path,
        device: str,
        report: Reporter,
        *,
        rerun_stale: bool = False,
    ) -> list[RunOutcome]:
        """One outcome per config, in order; `rerun_stale` goes to `execute` (runs of another version)."""
        raise NotImplementedError


EXECUTORS: Registry[type[Executor]] = Registry("executor")


def register_executor(name: str) -> Callable[[type[Executor]], type[Executor]]:
    return EXECUTORS.register(name)


def get_executor(name: str) -> Executor:
    return EXECUTORS.get(name)()


def list_executors() -> list[str]:
    return EXECUTORS.names()
