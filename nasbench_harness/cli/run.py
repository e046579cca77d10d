"""`nasbench run SUITE`: run every search of a suite, skipping finished runs and resuming others."""

from __future__ import annotations

from typing import get_args

import click

from nasbench_harness.cli.app import main
from nasbench_harness.config import PackMode
from nasbench_harness.engine.executors import list_executors

#: Executor options on the command line (they override the suite's `executor:` section); each applies to
#: the executors whose Options have that field (docs/executors.md).
EXECUTOR_FLAGS = [
    click.option("--workers", type=click.IntRange(min=1), help="pool/ray: runs at once."),
    click.option("--gpus-per-run", type=click.FloatRange(min=0), help="pool/ray/slurm: GPUs per run (0.5: a share)."),
    click.option("--cpus-per-run", type=click.FloatRange(min=0, min_open=True), help="ray/slurm: CPUs per run."),
    click.option("--max-retries", type=click.IntRange(min=0), help="pool/ray/slurm: restarts of a crashed run."),
    click.option("--address", help="ray: an existing cluster ('auto' or ray://HEAD:10001)."),
    click.option("--partition", help="slurm: the partition."),
    click.option("--time-limit", type=click.IntRange(min=1), help="slurm: minutes per run."),
    click.option("--array-parallelism", type=click.IntRange(min=1), help="slurm: array tasks at once."),
    click.option("--cluster", type=click.Choice(["slurm", "local"]), help="slurm: 'local' runs jobs here."),
    click.option("--worker-data-dir", help="The data directory as the workers see it (a node's own path)."),
]


def _executor_flags(function):
    for flag in reversed(EXECUTOR_FLAGS):
        function = flag(function)
    return function


@main.command()
@click.argument("suite", type=click.Path(dir_okay=False))
@click.option(
    "--results-dir",
    help="Where run directories go (default: suite's results_dir, $NASBENCH_RESULTS, ./results).",
)
@click.option("--data-dir", help="Dataset directory (default: suite's data_dir, $NASBENCH_DATA, the user cache).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), help="Default: the suite's device (auto).")
@click.option(
    "--executor",
    type=click.Choice(list_executors()),
    help="Where runs execute (default: the suite's executor section, else local).",
)
@_executor_flags
@click.option(
    "--pack-seeds",
    type=click.IntRange(min=1),
    help="Train up to N seeds of each configuration together in one process (this one, or one worker of "
    "pool / ray / slurm), each in its own run directory with the results it would have alone (default: the "
    "suite's pack_seeds, 1).",
)
@click.option(
    "--pack-mode",
    type=click.Choice(list(get_args(PackMode))),
    help="How a seed pack executes its members' steps (default: the suite's pack_mode).",
)
@click.option(
    "--rerun-stale",
    is_flag=True,
    help="Run again the runs finished by another harness version or commit (their old record is moved to "
    "previous/ in the run directory); without it they are kept and reported as stale.",
)
def run(
    suite: str,
    results_dir: str | None,
    data_dir: str | None,
    device: str | None,
    executor: str | None,
    rerun_stale: bool,
    worker_data_dir: str | None,
    pack_seeds: int | None,
    pack_mode: str | None,
    **options: object,
) -> None:
    """Run SUITE (YAML: methods × spaces × datasets × seeds). Exit code 1 if any run failed.

    A failed run leaves failed.json and the suite goes on; the summary at the end lists every run.
    """
    from nasbench_harness.engine.suite import run_suite, summary_table

    outcomes = run_suite(
        suite,
        results_dir=results_dir,
        data_dir=data_dir,
        device=device,
        executor=executor,
        executor_options={**options, "data_dir": worker_data_dir},
        report=lambda message: click.echo(message, err=True),
        rerun_stale=rerun_stale,
        pack_seeds=pack_seeds,
        pack_mode=pack_mode,
    )
    click.echo(summary_table(outcomes))
    if any(o.status == "failed" for o in outcomes):
        raise SystemExit(1)
