"""`nasbench check RESULTS_DIR --baseline FILE`: fail when collapse metrics moved beyond tolerance."""

from __future__ import annotations

from pathlib import Path

import click

from nasbench_harness.cli.app import main


@main.command()
@click.argument("results_dir", type=click.Path(file_okay=False, exists=True))
@click.option(
    "--baseline",
    "baseline_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Committed baseline YAML (e.g. ci/collapse_baseline.yaml).",
)
@click.option("--update", is_flag=True, help="Rewrite the baseline from these results (after a deliberate change).")
@click.option("--reason", default="", help="Why the baseline changes; required with --update.")
@click.option("--all", "show_all", is_flag=True, help="Show passing checks too.")
def check(results_dir: str, baseline_path: str, update: bool, reason: str, show_all: bool) -> None:
    """Compare the collapse metrics of the runs in RESULTS_DIR with a baseline; exit 1 on regression.

    A baseline with a `direction` section also checks that the runs it names collapse and that some fix
    does not (ci/README.md)."""
    from nasbench_harness.check import compare, load_baseline, render_table, summarise_runs, write_baseline
    from nasbench_harness.check.direction import check_direction, render_direction

    summaries = summarise_runs(Path(results_dir))
    path = Path(baseline_path)
    if update:
        previous = load_baseline(path) if path.exists() else None
        write_baseline(path, summaries, reason, previous)
        click.echo(f"baseline {path} rewritten from {len(summaries)} runs: {reason}")
        return
    baseline = load_baseline(path)
    rows = compare(baseline, summaries)
    click.echo(render_table(rows, show_all))
    direction = check_direction(baseline.direction, Path(results_dir)) if baseline.direction else []
    if direction:
        click.echo("\nDirection (does the regime still collapse, and does a fix still hold?):")
        click.echo(render_direction(direction))
    if any(not r.ok for r in rows) or any(not d.ok for d in direction):
        raise SystemExit(1)
