"""`nasbench derive --space S --alphas FILE`: the architecture a search's α encode, with collapse counts."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import click
import numpy as np

from nasbench_harness.cli.app import main
from nasbench_harness.errors import ConfigError, SpaceError

FORMATS = ".npz (one array per cell type), .npy (one array), .json"


def read_alphas(path: Path, cell_types: tuple[str, ...]) -> dict[str, Any]:
    """α arrays (or nested lists) keyed by cell type from an .npz, .npy or JSON file; the space checks them.

    A single array (.npy, a bare JSON list) is accepted only where the space has one cell type.
    """
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".npy", ".json"):
        raise ConfigError(f"cannot read α from {path}: unsupported file type {suffix!r}; use {FORMATS}")
    try:
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                raw: object = {key: archive[key] for key in archive.files}
        elif suffix == ".npy":
            raw = np.load(path, allow_pickle=False)
        else:
            raw = json.loads(path.read_text())
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err).splitlines()[0]
        raise ConfigError(f"cannot read α from {path}: {reason}") from None
    if not isinstance(raw, dict):
        if len(cell_types) != 1:
            raise SpaceError(
                f"{path} holds one array, but this space has cell types {', '.join(cell_types)}: "
                "give an .npz or a JSON object with one array per cell type"
            )
        raw = {cell_types[0]: raw}
    return {str(cell_type): value for cell_type, value in raw.items()}


@main.command()
@click.option("--space", "space_name", required=True, help="Search space (see `nasbench list spaces`).")
@click.option(
    "--alphas",
    "alphas_path",
    required=True,
    type=click.Path(path_type=Path),
    help=f"Architecture logits: {FORMATS}.",
)
def derive(space_name: str, alphas_path: Path) -> None:
    """Print the genotype of ALPHAS (the original rule per space) and its skip / parameter-free counts."""
    from nasbench_harness.spaces import get_space, op_counts

    space = get_space(space_name)
    genotype = space.derive(read_alphas(alphas_path, space.cell_types), source=str(alphas_path))
    click.echo(str(genotype))
    counts = op_counts(genotype)
    for cell_type in space.cell_types:
        ops = len(genotype.ops(cell_type))
        click.echo(
            f"{cell_type}: {counts[f'skip_{cell_type}']} skip_connect, "
            f"{counts[f'param_free_{cell_type}']} parameter-free of {ops} ops"
        )
