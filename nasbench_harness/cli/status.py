"""`nasbench status RESULTS_DIR`: finished / running / failed / pending per suite (and of the evaluation
runs), while suites run."""

from __future__ import annotations

from pathlib import Path

import click

from nasbench_harness.cli.app import main


@main.command()
@click.argument("results_dir", type=click.Path(file_okay=False))
@click.option("--all", "show_all", is_flag=True, help="List finished runs too.")
def status(results_dir: str, show_all: bool) -> None:
    """Counts per suite and of the evaluation runs (retrained genotypes), each running run with its latest
    epoch and holder, each failure with its reason."""
    from nasbench_harness.engine.status import format_status, results_status

    click.echo(format_status(results_status(Path(results_dir)), show_finished=show_all))
