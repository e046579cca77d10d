"""What a worker does with one job, on whatever machine it lands: the same for pool, Ray and SLURM.

A job is one run (a search or an evaluation) or a seed pack (engine/packed.py: several searches trained
together in this one process, on this worker's CPU share or GPU). The task is plain JSON (config, paths
as strings), so it travels anywhere; paths and the device are resolved here, on the worker, because a
cluster node has its own. The worker writes only its runs' own directories (through `execute_job`, under
each run's lock) and returns a small JSON-able outcome per run, in the job's order. A worker that dies
returns nothing: the driver notices and retries the whole job.

`main([TASK.json, OUTCOME.json])` is the pool's worker process.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

from nasbench_harness.config import RunConfig
from nasbench_harness.engine.packed import SeedPack
from nasbench_harness.engine.runner import RunOutcome

#: What a worker runs: a RunConfig, an EvalConfig (evaluation/protocols.py, which imports the engine) or a SeedPack.
Job = Any


def job_runs(job: Job) -> tuple[Any, ...]:
    """The runs a job holds, in the order its outcomes come back: a pack's members, else the run itself."""
    return job.configs if isinstance(job, SeedPack) else (job,)


def make_task(
    job: Job,
    results_dir: Path,
    data_dir: str | None,
    device: str,
    *,
    rerun_stale: bool,
    attempt: int,
) -> dict[str, Any]:
    """The JSON a worker runs; executors that pin workers add `threads` and `cpus` (the pool does)."""
    if isinstance(job, SeedPack):
        config = {"kind": "pack", "configs": [c.model_dump(mode="json") for c in job.configs], "mode": job.mode}
    else:
        config = job.model_dump(mode="json")
    return {
        "config": config,
        "results_dir": str(results_dir),
        "data_dir": data_dir,
        "device": device,
        "rerun_stale": rerun_stale,
        "attempt": attempt,
    }


def job_from(config: dict[str, Any]) -> Job:
    """The job a task's config describes (its `kind`: "pack", "evaluate", or none for a search)."""
    from nasbench_harness.evaluation.protocols import EvalConfig

    kind = config.get("kind")
    if kind == "pack":
        return SeedPack(tuple(RunConfig.model_validate(c) for c in config["configs"]), config["mode"])
    return (EvalConfig if kind == "evaluate" else RunConfig).model_validate(config)


def run_task(task: dict[str, Any]) -> dict[str, Any]:
    """Run one task here: {"outcomes": one per run of the job, "host", "pid"}. A run's own failure is an
    outcome (and failed.json), never an exception."""
    import torch

    from nasbench_harness.datadir import resolve_data_dir
    from nasbench_harness.engine.runner import resolve_device
    from nasbench_harness.errors import HarnessError
    from nasbench_harness.evaluation.run import execute_job

    if task.get("cpus") and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, task["cpus"])  # threads torch starts from now on inherit it
    if task.get("threads"):
        torch.set_num_threads(task["threads"])
    job = job_from(task["config"])
    where = {"host": platform.node(), "pid": os.getpid()}
    try:
        data_dir = resolve_data_dir(task["data_dir"])
        device = resolve_device(task["device"])
    except HarnessError as err:
        failure = {"status": "failed", "reason": f"on the worker ({where['host']}): {err}"}
        return {"outcomes": [failure] * len(job_runs(job)), **where}
    outcomes = execute_job(
        job,
        Path(task["results_dir"]),
        data_dir,
        device,
        progress=False,
        rerun_stale=task["rerun_stale"],
        attempt=task["attempt"],
    )
    returned = [
        {"status": o.status, "reason": o.reason, "seconds": o.seconds, "genotype": o.genotype} for o in outcomes
    ]
    return {"outcomes": returned, **where}


def outcome_from(job: Job, results_dir: Path, returned: dict[str, Any], attempts: int) -> list[RunOutcome]:
    """The outcome of each run of the job from what its worker returned (`run_task`), in the job's order."""
    return [
        RunOutcome(
            config,
            results_dir / config.relative_dir(),
            one["status"],
            reason=one.get("reason", ""),
            seconds=one.get("seconds", 0.0),
            genotype=one.get("genotype", ""),
            attempts=attempts,
        )
        for config, one in zip(job_runs(job), returned["outcomes"], strict=True)
    ]


def main(argv: list[str]) -> int:
    task_path, outcome_path = argv
    outcome = run_task(json.loads(Path(task_path).read_text()))
    partial = Path(f"{outcome_path}.partial")
    partial.write_text(json.dumps(outcome))
    os.replace(partial, outcome_path)  # the driver reads an outcome whole or not at all
    return 0
