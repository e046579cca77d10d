"""`nasbench data ...`: where the datasets are, and fetching them."""

from __future__ import annotations

import click

from nasbench_harness.cli.app import main
from nasbench_harness.data import DatasetStatus, dataset_status, download_dataset, get_spec, list_datasets
from nasbench_harness.datadir import resolve_data_dir

DATA_DIR_HELP = "Data directory (default: $NASBENCH_DATA, else the per-user cache)."
data_dir_option = click.option("--data-dir", type=click.Path(file_okay=False), default=None, help=DATA_DIR_HELP)


@main.group()
def data() -> None:
    """Datasets: check what is present, download the official archives."""


@data.command()
@data_dir_option
def status(data_dir: str | None) -> None:
    """Show, per dataset, whether it is present, where it was looked for and its image counts."""
    root = resolve_data_dir(data_dir)
    statuses = dataset_status(root)
    rows = [("dataset", "state", "path", "images")]
    rows += [(st.name, _state(st), str(st.path), _counts(st)) for st in statuses]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    click.echo(f"data directory: {root}")
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    for st in statuses:
        if st.error:
            click.echo(f"\n{st.name}: {st.error}")
        if st.missing:
            more = f" and {len(st.missing) - 3} more" if len(st.missing) > 3 else ""
            hint = get_spec(st.name).how_to_obtain()
            click.echo(f"\n{st.name}: missing {', '.join(st.missing[:3])}{more}. To get it: {hint}")


def _state(st: DatasetStatus) -> str:
    return "present" if st.present else ("corrupt" if st.error else "missing")


def _counts(st: DatasetStatus) -> str:
    return ", ".join(f"{split} {'-' if n is None else f'{n:,}'}" for split, n in st.counts.items())


@data.command()
@click.argument("name", type=click.Choice(list_datasets()))
@data_dir_option
@click.option("--extra", is_flag=True, help="SVHN: also fetch extra_32x32.mat (531k images, 1.3 GB).")
@click.option("--force", is_flag=True, help="Download again even if the files are already there.")
def download(name: str, data_dir: str | None, extra: bool, force: bool) -> None:
    """Fetch dataset NAME's official files (checksummed, resumable) into the data directory."""
    root = resolve_data_dir(data_dir)
    options = {"extra": True} if extra else {}
    download_dataset(name, root, force=force, **options)
    click.echo(f"{name}: ready in {root / get_spec(name).folder}")
