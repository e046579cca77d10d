"""SLURM through submitit: one job array per suite, one array task per run.

submitit is imported only here, when the executor opens. Each job is checkpointable: on preemption
or at the time limit SLURM requeues it (submitit's `checkpoint` hook) and the run resumes from its
checkpoint.pt; a job that dies anyway is retried by the driver. `cluster: local` runs the same jobs
as processes on this machine with submitit's local executor (for a try-out, and the tests).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import NonNegativeInt, PositiveFloat, PositiveInt

from nasbench_harness.engine.executors.base import register_executor
from nasbench_harness.engine.executors.driver import DriverExecutor, DriverOptions, Ended, Task
from nasbench_harness.engine.executors.worker import run_task
from nasbench_harness.engine.runner import Reporter
from nasbench_harness.errors import HarnessError


class SlurmOptions(DriverOptions):
    partition: str | None = None
    #: Minutes per run (sbatch --time); a run that needs longer is requeued and resumes.
    time_limit: PositiveInt = 24 * 60
    gpus_per_run: NonNegativeInt = 0
    cpus_per_run: PositiveInt = 1
    mem_gb: PositiveFloat | None = None
    #: Array tasks running at once (sbatch --array=...%N).
    array_parallelism: PositiveInt = 256
    #: submitit's job files and logs, on a file system the nodes share. Default: RESULTS_DIR/submitit.
    folder: str | None = None
    #: "slurm", or "local": submitit's local executor (processes on this machine).
    cluster: Literal["slurm", "local"] = "slurm"
    #: Shell lines run before each job (module load ..., source venv/bin/activate).
    setup: list[str] = []
    #: Further sbatch options, e.g. {"account": "proj", "qos": "normal", "constraint": "a100"}.
    sbatch: dict[str, str | int] = {}
    #: Seconds between looks at the jobs' states (sacct is asked at most this often).
    poll_interval: PositiveFloat = 15.0
    #: Times SLURM may requeue a preempted or timed-out job before the driver counts it as crashed.
    max_requeues: NonNegativeInt = 3


def import_submitit() -> Any:
    try:
        import submitit
    except ImportError:
        raise HarnessError(
            "executor slurm needs the submitit package: pip install 'nasbench-harness[slurm]' (or pip install submitit)"
        ) from None
    return submitit


def checkpointable_run() -> Any:
    """`run_task` as a submitit Checkpointable: a preempted job is requeued with the same task."""
    submitit = import_submitit()

    class SlurmRun(submitit.helpers.Checkpointable):
        def __call__(self, task: dict[str, Any]) -> dict[str, Any]:
            return run_task(task)

    return SlurmRun()


@register_executor("slurm")
class SlurmExecutor(DriverExecutor):
    Options = SlurmOptions
    options: SlurmOptions

    def open(self, results_dir: Path, total: int, report: Reporter) -> None:
        submitit = import_submitit()
        o = self.options
        if o.cluster == "slurm" and shutil.which("sbatch") is None:
            raise HarnessError(
                "executor slurm: no sbatch on PATH here; run the driver on a SLURM login node "
                "(or set executor.cluster: local to try the jobs as local processes)"
            )
        folder = Path(o.folder).expanduser() if o.folder else results_dir / "submitit"
        self.executor = submitit.AutoExecutor(folder=str(folder / "%j"), cluster=o.cluster)
        parameters: dict[str, Any] = {
            "timeout_min": o.time_limit,
            "nodes": 1,
            "tasks_per_node": 1,
            "cpus_per_task": o.cpus_per_run,
            "gpus_per_node": o.gpus_per_run,
            "name": "nasbench",
        }
        if o.mem_gb:
            parameters["mem_gb"] = o.mem_gb
        if o.cluster == "slurm":
            parameters.update(
                slurm_array_parallelism=o.array_parallelism,
                slurm_setup=o.setup,
                slurm_additional_parameters=dict(o.sbatch),
                slurm_max_num_timeout=o.max_requeues,
            )
            if o.partition:
                parameters["slurm_partition"] = o.partition
        self.executor.update_parameters(**parameters)
        self.total, self.function = total, checkpointable_run()
        self.poll_seconds = o.poll_interval if o.cluster == "slurm" else min(o.poll_interval, 0.5)
        report(f"slurm ({o.cluster}): jobs in {folder}, {o.cpus_per_run} CPUs and {o.gpus_per_run} GPUs per run")

    def capacity(self) -> int:
        # SLURM throttles the array itself (%N); the local executor would start every job at once.
        return self.total if self.options.cluster == "slurm" else self.options.array_parallelism

    def worker_device(self, device: str) -> str:
        return "cuda" if self.options.gpus_per_run > 0 else device

    def submit(self, tasks: list[tuple[Task, dict[str, Any]]]) -> list[Any]:
        threads = self.options.cpus_per_run
        with self.executor.batch():
            jobs = [self.executor.submit(self.function, {**payload, "threads": threads}) for _, payload in tasks]
        return jobs

    def poll(self, handles: list[Any]) -> list[Ended]:
        ended = []
        for job in handles:
            if not job.done():
                continue
            try:
                ended.append(Ended(job, job.result()))
            except Exception as err:  # the job failed, was cancelled or killed: no outcome
                first = str(err).strip().splitlines()[0] if str(err).strip() else ""
                ended.append(
                    Ended(job, None, f"job {job.job_id} {type(err).__name__}: {first} (log: {job.paths.stderr})")
                )
        if not ended:
            time.sleep(self.poll_seconds)
        return ended

    def cancel(self, handles: list[Any]) -> None:
        for job in handles:
            job.cancel(check=False)
