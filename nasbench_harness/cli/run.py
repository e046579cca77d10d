"""`nasbench run SUITE`: run every search of a suite, skipping finished runs and resuming others."""

from __future__ import annotations

import click

from nasbench_harness.cli.app import main
from nasbench_harness.engine.executors import list_executors


@main.command()
@click.argument("suite", type=click.Path(dir_okay=False))
@click.option(
    "--results-dir",
    help="Where run directories go (default: suite's results_dir, $NASBENCH_RESULTS, ./results).",
)
@click.option("--data-dir", help="Dataset directory (default: suite's data_dir, $NASBENCH_DATA, the user cache).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), help="Default: the suite's device (auto).")
@click.option(
    "--executor", type=click.Choice(list_executors()), default="local", show_default=True, help="Where runs execute."
)
@click.option(
    "--rerun-stale",
    is_flag=True,
    help="Run again the runs finished by another harness version or commit (their old record is moved to "
    "previous/ in the run directory); without it they are kept and reported as stale.",
)
def run(
    suite: str, results_dir: str | None, data_dir: str | None, device: str | None, executor: str, rerun_stale: bool
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
        report=lambda message: click.echo(message, err=True),
        rerun_stale=rerun_stale,
    )
    click.echo(summary_table(outcomes))
    if any(o.status == "failed" for o in outcomes):
        raise SystemExit(1)
