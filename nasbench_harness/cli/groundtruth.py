"""`nasbench data convert-nb201`: an official NAS-Bench-201 / NATS-Bench file to the compact table."""

from __future__ import annotations

from pathlib import Path

import click

from nasbench_harness.cli.data import data, data_dir_option
from nasbench_harness.datadir import resolve_data_dir
from nasbench_harness.fileio import file_digest
from nasbench_harness.groundtruth import convert_nb201


@data.command("convert-nb201")
@click.argument("src", type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Table to write (.csv.gz, .csv or .parquet); default <data-dir>/nb201/nb201_ground_truth.csv.gz.",
)
@data_dir_option
@click.option("--force", is_flag=True, help="Replace the output if it exists.")
def convert_nb201_command(src: Path, output: Path | None, data_dir: str | None, force: bool) -> None:
    """Convert SRC (a NATS-tss-* directory or .pickle.pbz2, or a NAS-Bench-201 .pth) to the compact table."""
    out = output or resolve_data_dir(data_dir) / "nb201" / "nb201_ground_truth.csv.gz"
    frame = convert_nb201(src, out, overwrite=force)
    click.echo(f"wrote {out} ({len(frame)} cells, sha256 {file_digest(out)[:12]})")
    for column in frame.columns[2:]:
        missing = int(frame[column].isna().sum())
        if missing:
            click.echo(f"  {column}: {missing} cells without a figure in {src.name} (left empty)")
