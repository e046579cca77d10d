"""A process pool on this machine: N CPU workers, or one GPU (or a share of one) per worker.

Each run is a fresh `python -m ...executors.worker` process (a crash takes down one run, never the
pool), started on a worker slot that pins it: its CPU cores (sched_setaffinity) and torch threads
are the slot's share of this machine's cores, so workers do not oversubscribe them, and
CUDA_VISIBLE_DEVICES shows it only its GPU (set before CUDA starts in the new process).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, PositiveInt, field_validator

from nasbench_harness.engine.executors.base import register_executor
from nasbench_harness.engine.executors.driver import DriverExecutor, DriverOptions, Ended, Task
from nasbench_harness.engine.runner import Reporter
from nasbench_harness.errors import HarnessError


class PoolOptions(DriverOptions):
    #: Runs at once. Default: one per core (CPU) or GPUs / gpus_per_run.
    workers: PositiveInt | None = None
    #: 0: CPU workers (no GPU visible); 0.5: two workers share each GPU; 1, 2, ...: whole GPUs per worker.
    gpus_per_run: float = Field(0, ge=0)
    #: torch threads per worker. Default: this machine's cores / workers (at least 1).
    threads_per_run: PositiveInt | None = None

    @field_validator("gpus_per_run")
    @classmethod
    def _whole_or_share(cls, g: float) -> float:
        if g > 1 and g != int(g):
            raise ValueError(f"gpus_per_run {g}: above 1 it must be a whole number of GPUs")
        if 0 < g < 1 and abs(1 / g - round(1 / g)) > 1e-6:
            raise ValueError(f"gpus_per_run {g}: a share of a GPU must divide it evenly (1/2, 1/3, 1/4, ...)")
        return g


#: The worker process (not `-m`: the package imports worker.py first, which runpy warns about).
_WORKER = "import sys; from nasbench_harness.engine.executors.worker import main; sys.exit(main(sys.argv[1:]))"


@dataclass
class _Slot:
    cpus: list[int]
    gpus: list[int]


@dataclass(eq=False)  # a handle: hashed by identity
class _Job:
    slot: int
    process: subprocess.Popen[bytes]
    outcome: Path


@register_executor("pool")
class PoolExecutor(DriverExecutor):
    Options = PoolOptions
    options: PoolOptions

    def open(self, results_dir: Path, total: int, report: Reporter) -> None:
        self.slots = self._slots()
        self.free = list(range(len(self.slots)))
        self.scratch = Path(tempfile.mkdtemp(prefix="nasbench-pool-"))  # task and outcome files, not results
        self.count = 0
        where = ", ".join(
            f"worker {i}: cores {_ranges(s.cpus)}" + (f", GPU {_ranges(s.gpus)}" if s.gpus else "")
            for i, s in enumerate(self.slots)
        )
        report(f"pool: {len(self.slots)} workers, {self.threads} torch threads each ({where})")

    def _slots(self) -> list[_Slot]:
        cores = (
            sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
        )
        g = self.options.gpus_per_run
        gpus: list[list[int]] = []
        if g > 0:
            import torch

            count = torch.cuda.device_count()
            if count == 0:
                raise HarnessError(
                    f"executor pool: gpus_per_run {g} asks for GPUs, but torch sees none on this machine; "
                    "use gpus_per_run 0 (CPU workers) or run where GPUs are"
                )
            per_gpu = round(1 / g) if g < 1 else 1
            gpus = (
                [[i] for i in range(count) for _ in range(per_gpu)]
                if g <= 1
                else [list(range(i, i + int(g))) for i in range(0, count - int(g) + 1, int(g))]
            )
            if not gpus:
                raise HarnessError(f"executor pool: gpus_per_run {g} but this machine has only {count} GPUs")
        workers = self.options.workers or (len(gpus) if gpus else len(cores))
        if gpus and workers > len(gpus):
            raise HarnessError(
                f"executor pool: {workers} workers with gpus_per_run {g} need {workers * g:g} GPUs; this machine "
                f"has {torch.cuda.device_count()}. Lower workers or gpus_per_run"
            )
        self.threads = self.options.threads_per_run or max(1, len(cores) // workers)
        share = max(1, len(cores) // workers)
        return [
            _Slot(cpus=[cores[(i * share + k) % len(cores)] for k in range(share)], gpus=gpus[i] if gpus else [])
            for i in range(workers)
        ]

    def capacity(self) -> int:
        return len(self.slots)

    def worker_device(self, device: str) -> str:
        if self.options.gpus_per_run > 0:
            if device == "cpu":
                raise HarnessError("executor pool: gpus_per_run > 0 with device cpu; drop one of them")
            return "cuda"
        if device == "cuda":
            raise HarnessError(
                "executor pool: device cuda with gpus_per_run 0 gives the workers no GPU; set --gpus-per-run "
                "(1, or a fraction to share one) or use --device cpu"
            )
        return device

    def submit(self, tasks: list[tuple[Task, dict[str, Any]]]) -> list[Any]:
        handles = []
        for _task, payload in tasks:
            slot_index = self.free.pop(0)
            slot = self.slots[slot_index]
            self.count += 1
            task_file = self.scratch / f"task-{self.count}.json"
            outcome = self.scratch / f"outcome-{self.count}.json"
            task_file.write_text(json.dumps({**payload, "threads": self.threads, "cpus": slot.cpus}))
            env = {
                **os.environ,
                "CUDA_VISIBLE_DEVICES": ",".join(map(str, slot.gpus)),
                "OMP_NUM_THREADS": str(self.threads),
                "MKL_NUM_THREADS": str(self.threads),
            }
            command = [sys.executable, "-c", _WORKER, str(task_file), str(outcome)]
            handles.append(_Job(slot_index, subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL), outcome))
        return handles

    def poll(self, handles: list[Any]) -> list[Ended]:
        ended = []
        for job in handles:
            code = job.process.poll()
            if code is None:
                continue
            if job.outcome.is_file():
                ended.append(Ended(job, json.loads(job.outcome.read_text())))
            else:
                ended.append(Ended(job, None, _exit_reason(code, job.process.pid)))
        if not ended:
            time.sleep(self.poll_seconds)
        return ended

    def released(self, handle: Any) -> None:
        self.free.append(handle.slot)
        self.free.sort()

    def cancel(self, handles: list[Any]) -> None:
        for job in handles:
            job.process.terminate()
        for job in handles:
            try:
                job.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                job.process.kill()

    def close(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)


def _exit_reason(code: int, pid: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (the OOM killer, or someone, killed it)" if -code == signal.SIGKILL else ""
        return f"worker pid {pid} killed by {name}{hint}"
    return f"worker pid {pid} exited with code {code} without an outcome (its traceback is on stderr above)"


def _ranges(values: list[int]) -> str:
    """[0, 1, 2, 5] → "0-2,5"."""
    parts, start = [], None
    for i, v in enumerate(values):
        if start is None:
            start = v
        if i == len(values) - 1 or values[i + 1] != v + 1:
            parts.append(str(start) if start == v else f"{start}-{v}")
            start = None
    return ",".join(parts) or "-"


__all__ = ["PoolExecutor", "PoolOptions"]
