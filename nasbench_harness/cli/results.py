"""`nasbench aggregate`, `nasbench leaderboard`, `nasbench report`: read a results directory."""

from __future__ import annotations

from pathlib import Path

import click

from nasbench_harness.cli.app import main
from nasbench_harness.errors import HarnessError

_RESULTS_DIR = click.argument("results_dir", type=click.Path(file_okay=False, path_type=Path))


def _check_results_dir(results_dir: Path) -> None:
    if not (results_dir / "runs").is_dir() and not (results_dir / "evaluations").is_dir():
        raise HarnessError(
            f"{results_dir} holds no runs/ folder (nor evaluations/): pass the --results-dir given to `nasbench run` "
            "or `nasbench evaluate`"
        )


def _load(results_dir: Path):
    from nasbench_harness.results import load_results

    _check_results_dir(results_dir)
    return load_results(results_dir)


@main.command()
@_RESULTS_DIR
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the per-run table here (.parquet or .csv) and the per-epoch table as <stem>_epochs<suffix>.",
)
def aggregate(results_dir: Path, out: Path | None) -> None:
    """Load every run under RESULTS_DIR and print the comparison tables (plain text)."""
    from nasbench_harness.results import render_text, sections, write_tables

    results = _load(results_dir)
    counts = results.runs["status"].value_counts().to_dict() if not results.runs.empty else {}
    flags = {f: int(results.runs[f].sum()) for f in ("running", "stale") if f in results.runs}
    click.echo(
        f"{len(results.runs)} runs ({', '.join(f'{n} {s}' for s, n in sorted(counts.items())) or 'none'}), "
        f"{len(results.epochs)} epoch rows" + "".join(f"; {n} {f}" for f, n in flags.items() if n)
    )
    for section in sections(results.runs):
        click.echo("\n" + render_text(section).rstrip())
    from nasbench_harness.results.evaluation_table import report_sections

    for section in report_sections(results_dir):  # retrained genotypes (nasbench evaluate), if any
        click.echo("\n" + render_text(section).rstrip())
    if out is not None:
        for path in write_tables(results, out):
            click.echo(f"wrote {path}")


@main.command()
@_RESULTS_DIR
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the leaderboard CSV (default: RESULTS_DIR/leaderboard.csv).",
)
def leaderboard(results_dir: Path, csv_path: Path | None) -> None:
    """Print one row per (method, space, dataset, setting) and write the full CSV schema (docs/results.md)."""
    from nasbench_harness.results import write_leaderboard
    from nasbench_harness.results.leaderboard import leaderboard_display
    from nasbench_harness.results.tables import text_table

    runs = _load(results_dir).runs
    csv_path = csv_path or results_dir / "leaderboard.csv"
    frame = write_leaderboard(runs, csv_path, results_dir)
    if frame.empty:
        click.echo(f"no runs under {results_dir / 'runs'}")
    else:
        click.echo(text_table(leaderboard_display(frame)))
    click.echo(f"\nwrote {csv_path} ({len(frame)} rows, all {len(frame.columns)} columns)")


@main.command()
@_RESULTS_DIR
@click.option(
    "-o",
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Report folder (report.md, report.html, img/).",
)
@click.option("--pdf/--no-pdf", default=True, show_default=True, help="Also save every figure as PDF.")
def report(results_dir: Path, out_dir: Path, pdf: bool) -> None:
    """Write a self-contained HTML + Markdown report with tables and figures."""
    from nasbench_harness.results import write_report

    _check_results_dir(results_dir)
    written = write_report(results_dir, out_dir, pdf=pdf)
    click.echo(f"wrote {written.html}, {written.markdown} and {len(written.images)} images")
