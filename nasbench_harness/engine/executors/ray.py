"""Each run a Ray task with its CPU / GPU share, on an existing cluster (`address`) or a local instance.

Ray is imported only here, when the executor opens. Ray's own task retries are off (`max_retries=0`):
the driver retries a crashed run itself, so attempts are counted, recorded and resumed one way on
every executor. A task with `gpus_per_run` 0 sees no GPU (Ray hides them); the device and the data
directory are resolved on the node that runs the task.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pydantic import Field, NonNegativeInt, PositiveFloat, PositiveInt

from nasbench_harness.engine.executors.base import register_executor
from nasbench_harness.engine.executors.driver import DriverExecutor, DriverOptions, Ended, Task
from nasbench_harness.engine.executors.worker import run_task
from nasbench_harness.engine.runner import Reporter
from nasbench_harness.errors import HarnessError


class RayOptions(DriverOptions):
    #: An existing cluster: "auto" (this node is part of it) or "ray://HEAD:10001". None: start a local instance.
    address: str | None = None
    cpus_per_run: PositiveFloat = 1
    #: A share of a GPU (0.5: two runs per GPU) or whole GPUs per run; 0: CPU only.
    gpus_per_run: float = Field(0, ge=0)
    #: CPUs / GPUs of the local instance (default: all of this machine); ignored with `address`.
    num_cpus: PositiveInt | None = None
    num_gpus: NonNegativeInt | None = None
    #: Runs in flight at once (default: all; Ray queues them until their resources are free).
    workers: PositiveInt | None = None
    #: Ray runtime_env for the tasks, e.g. {"env_vars": {"NASBENCH_DATA": "/data"}, "pip": [...]}.
    runtime_env: dict[str, Any] | None = None


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise HarnessError(
            "executor ray needs the ray package: pip install 'nasbench-harness[ray]' (or pip install ray)"
        ) from None
    return ray


@register_executor("ray")
class RayExecutor(DriverExecutor):
    Options = RayOptions
    options: RayOptions

    def open(self, results_dir: Path, total: int, report: Reporter) -> None:
        ray = self.ray = import_ray()
        o = self.options
        self.total, self.started = total, False
        if not ray.is_initialized():
            common: dict[str, Any] = {"include_dashboard": False, "runtime_env": o.runtime_env}
            if o.address:
                ray.init(address=o.address, **common)
            else:
                ray.init(num_cpus=o.num_cpus, num_gpus=o.num_gpus, **common)
            self.started = True
        self.remote = ray.remote(num_cpus=o.cpus_per_run, num_gpus=o.gpus_per_run, max_retries=0)(run_task)
        report(f"ray: {ray.cluster_resources()}; each run {o.cpus_per_run:g} CPUs, {o.gpus_per_run:g} GPUs")

    def capacity(self) -> int:
        return self.options.workers or self.total

    def worker_device(self, device: str) -> str:
        return "cuda" if self.options.gpus_per_run > 0 else device

    def submit(self, tasks: list[tuple[Task, dict[str, Any]]]) -> list[Any]:
        threads = max(1, math.floor(self.options.cpus_per_run))
        return [self.remote.remote({**payload, "threads": threads}) for _, payload in tasks]

    def poll(self, handles: list[Any]) -> list[Ended]:
        ready, _ = self.ray.wait(handles, num_returns=len(handles), timeout=self.poll_seconds)
        ended = []
        for ref in ready:
            try:
                ended.append(Ended(ref, self.ray.get(ref)))
            except self.ray.exceptions.RayError as err:
                first = str(err).strip().splitlines()[0] if str(err).strip() else ""
                ended.append(Ended(ref, None, f"{type(err).__name__}: {first}"[:500]))
        return ended

    def cancel(self, handles: list[Any]) -> None:
        for ref in handles:
            self.ray.cancel(ref, force=True)

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()
