"""Today's loop: runs one after another in this process, on the chosen device."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from nasbench_harness.config import RunConfig
from nasbench_harness.datadir import resolve_data_dir
from nasbench_harness.engine.executors.base import Executor, register_executor
from nasbench_harness.engine.packed import SeedPack
from nasbench_harness.engine.runner import Reporter, RunOutcome, resolve_device


@register_executor("local")
class LocalExecutor(Executor):
    runs_packs = True

    def run_all(
        self,
        configs: Sequence[RunConfig | SeedPack],
        results_dir: Path,
        data_dir: str | None,
        device: str,
        report: Reporter,
        *,
        rerun_stale: bool = False,
    ) -> list[RunOutcome]:
        from nasbench_harness.evaluation.run import execute_job  # evaluation imports the engine

        torch_device = resolve_device(device)
        data = resolve_data_dir(self.worker_data_dir(data_dir))
        outcomes = []
        for i, job in enumerate(configs, start=1):
            position = f"[{i}/{len(configs)}]"
            report(f"{position} {job_label(job)}")
            ended = execute_job(
                job,
                results_dir,
                data,
                torch_device,
                report=lambda m: report(f"  {m}"),
                rerun_stale=rerun_stale,
                position=position,
            )
            for outcome in ended:
                c = outcome.config
                label = f"{position} {c.method} on {c.space}/{c.dataset} seed {c.seed}"
                report(f"{label}: {outcome.status}{' - ' + outcome.reason if outcome.reason else ''}")
            outcomes += ended
        return outcomes


def job_label(job: RunConfig | SeedPack) -> str:
    if isinstance(job, SeedPack):
        return f"seed pack: {job.describe()}"
    return f"{job.method} on {job.space}/{job.dataset} seed {job.seed} ({job.run_id()})"
