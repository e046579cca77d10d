"""What a worker does with one run, on whatever machine it lands: the same for pool, Ray and SLURM.

The task is plain JSON (config, paths as strings), so it travels anywhere; paths and the device are
resolved here, on the worker, because a cluster node has its own. The worker writes only the run's
own directory (through `execute`, under the run's lock) and returns a small JSON-able outcome. A
worker that dies returns nothing: the driver notices and retries.

`main([TASK.json, OUTCOME.json])` is the pool's worker process.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

from nasbench_harness.config import RunConfig
from nasbench_harness.engine.runner import RunOutcome


def make_task(
    config: RunConfig,
    results_dir: Path,
    data_dir: str | None,
    device: str,
    *,
    rerun_stale: bool,
    attempt: int,
) -> dict[str, Any]:
    """The JSON a worker runs; executors that pin workers add `threads` and `cpus` (the pool does)."""
    return {
        "config": config.model_dump(mode="json"),
        "results_dir": str(results_dir),
        "data_dir": data_dir,
        "device": device,
        "rerun_stale": rerun_stale,
        "attempt": attempt,
    }


def run_task(task: dict[str, Any]) -> dict[str, Any]:
    """Run one task here; a run's own failure is an outcome (and failed.json), never an exception."""
    import torch

    from nasbench_harness.datadir import resolve_data_dir
    from nasbench_harness.engine.runner import resolve_device
    from nasbench_harness.errors import HarnessError
    from nasbench_harness.evaluation.protocols import EvalConfig
    from nasbench_harness.evaluation.run import execute_job

    if task.get("cpus") and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, task["cpus"])  # threads torch starts from now on inherit it
    if task.get("threads"):
        torch.set_num_threads(task["threads"])
    # an evaluation job's config says so (EvalConfig.kind); a search's has no kind
    kind = EvalConfig if task["config"].get("kind") == "evaluate" else RunConfig
    config = kind.model_validate(task["config"])
    where = {"host": platform.node(), "pid": os.getpid()}
    try:
        data_dir = resolve_data_dir(task["data_dir"])
        device = resolve_device(task["device"])
    except HarnessError as err:
        return {"status": "failed", "reason": f"on the worker ({where['host']}): {err}", **where}
    (outcome,) = execute_job(
        config,
        Path(task["results_dir"]),
        data_dir,
        device,
        progress=False,
        rerun_stale=task["rerun_stale"],
        attempt=task["attempt"],
    )
    return {
        "status": outcome.status,
        "reason": outcome.reason,
        "seconds": outcome.seconds,
        "genotype": outcome.genotype,
        **where,
    }


def outcome_from(config: RunConfig, results_dir: Path, returned: dict[str, Any], attempts: int) -> RunOutcome:
    return RunOutcome(
        config,
        results_dir / config.relative_dir(),
        returned["status"],
        reason=returned.get("reason", ""),
        seconds=returned.get("seconds", 0.0),
        genotype=returned.get("genotype", ""),
        attempts=attempts,
    )


def main(argv: list[str]) -> int:
    task_path, outcome_path = argv
    outcome = run_task(json.loads(Path(task_path).read_text()))
    partial = Path(f"{outcome_path}.partial")
    partial.write_text(json.dumps(outcome))
    os.replace(partial, outcome_path)  # the driver reads an outcome whole or not at all
    return 0
