"""`nasbench bench`: how fast our methods' search steps are on this device, against xautodl's."""

from __future__ import annotations

import json
import typing
from pathlib import Path

import click

from nasbench_harness.cli.app import main
from nasbench_harness.config import PROFILES, PackMode

PACK_MODES = typing.get_args(PackMode)


@main.command()
@click.option("--method", "methods", multiple=True, default=["darts"], show_default=True, help="Repeatable.")
@click.option("--space", "spaces", multiple=True, default=["nb201", "darts"], show_default=True, help="Repeatable.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--json", "json_file", type=click.Path(dir_okay=False), help="Also write the figures here.")
@click.option(
    "--steps", type=click.IntRange(min=1), default=5, show_default=True, help="Timed rounds (one step per variant)."
)
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True, help="CPU threads.")
@click.option(
    "--profile", type=click.Choice(sorted(PROFILES)), help="Shrunk networks (checks the tool; not a comparison)."
)
@click.option("--no-memory", is_flag=True, help="Skip the peak-memory subprocesses.")
@click.option(
    "--pack-seeds",
    type=click.IntRange(min=1),
    help="Also time one round of a seed pack of this many runs (different seeds) per pair, through the pack driver.",
)
@click.option(
    "--pack-mode",
    "pack_modes",
    multiple=True,
    type=click.Choice(list(PACK_MODES)),
    help="The packs' mode (repeatable: a pack per mode; default interleaved). Needs --pack-seeds.",
)
def bench(
    methods: tuple[str, ...],
    spaces: tuple[str, ...],
    device: str,
    json_file: str | None,
    steps: int,
    threads: int,
    profile: str | None,
    no_memory: bool,
    pack_seeds: int | None,
    pack_modes: tuple[str, ...],
) -> None:
    """Step time, epoch time (extrapolated: step time x steps per epoch of the run's protocol on full CIFAR-10)
    and peak memory of each method's own `step` per space, interleaved with xautodl's reference step where
    one exists (darts on nb201 and the DARTS space, gdas on nb201). With --pack-seeds N, also one round of
    a seed pack of N runs per pair and mode (the real pack driver), its time per run-step and the run alone's
    step time over it (> 1: packing pays). Reports figures; asserts nothing."""
    from nasbench_harness.bench import bench as run_bench
    from nasbench_harness.bench import table
    from nasbench_harness.engine.runner import resolve_device
    from nasbench_harness.methods import get_method_class
    from nasbench_harness.spaces import get_space

    if pack_modes and pack_seeds is None:
        raise click.UsageError("--pack-mode sets the mode of the packs --pack-seeds N asks for; give --pack-seeds too")
    for name in methods:
        get_method_class(name)
    for name in spaces:
        get_space(name)
    report = run_bench(
        list(methods),
        list(spaces),
        resolve_device(device),
        rounds=steps,
        profile=profile,
        threads=threads,
        memory=not no_memory,
        pack=pack_seeds or 0,
        pack_modes=tuple(dict.fromkeys(pack_modes)) or ("interleaved",),
    )
    click.echo(table(report))
    if json_file:
        Path(json_file).parent.mkdir(parents=True, exist_ok=True)
        Path(json_file).write_text(json.dumps(report, indent=2) + "\n")
        click.echo(f"figures written to {json_file}")
