"""The executor seam: given run configs and where to put results, produce one outcome per run.

An executor is one file: a class registered with `@register_executor(name)` and its `Options` (a
pydantic model, extra keys forbidden) that the suite's `executor:` section and the CLI fill in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from nasbench_harness.config import RunConfig
from nasbench_harness.engine.runner import Reporter, RunOutcome
from nasbench_harness.registry import Registry


class ExecutorOptions(BaseModel):
    """Options every executor takes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The data directory as the workers see it (a cluster node has its own paths); resolved on the
    #: worker. Unset: the suite's data_dir / --data-dir, else the worker's $NASBENCH_DATA or user cache.
    data_dir: str | None = None


class Executor:
    Options: ClassVar[type[ExecutorOptions]] = ExecutorOptions
    #: The registry name it was chosen by (set by `get_executor`).
    name: str = ""
    #: Whether `run_all` takes seed packs (engine/packed.py) among its jobs, one outcome per packed run.
    runs_packs: ClassVar[bool] = False

    def __init__(self, options: ExecutorOptions | None = None):
        self.options = options if options is not None else self.Options()

    def run_all(
        self,
        configs: Sequence[RunConfig],
        results_dir: Path,
        data_dir: str | None,
        device: str,
        report: Reporter,
        *,
        rerun_stale: bool = False,
    ) -> list[RunOutcome]:
        """One outcome per run, in order (a seed pack's runs in its order, where `runs_packs`). `data_dir` is
        resolved where each run executes (None: that machine's $NASBENCH_DATA or cache); `rerun_stale` goes
        to `execute` (runs of another version)."""
        raise NotImplementedError

    def worker_data_dir(self, data_dir: str | None) -> str | None:
        """The data directory the workers get: the executor's own `data_dir` wins over the suite's."""
        return self.options.data_dir or data_dir


EXECUTORS: Registry[type[Executor]] = Registry("executor")


def register_executor(name: str) -> Callable[[type[Executor]], type[Executor]]:
    return EXECUTORS.register(name)


def get_executor_class(name: str) -> type[Executor]:
    return EXECUTORS.get(name)


def get_executor(name: str, options: Mapping[str, Any] | None = None) -> Executor:
    """An executor with `options` validated by its Options model (raises pydantic's ValidationError)."""
    cls = EXECUTORS.get(name)
    executor = cls(cls.Options.model_validate(dict(options or {})))
    executor.name = name
    return executor


def list_executors() -> list[str]:
    return EXECUTORS.names()
