"""`nasbench query`: how good a cell really is, from the tabular ground truth or the surrogate."""

from __future__ import annotations

import click

from nasbench_harness.cli.app import main
from nasbench_harness.groundtruth import (
    DATASETS,
    NO_VALID_SPLIT,
    SURROGATE_LABEL,
    NB201GroundTruth,
    NB201Result,
    NB201Selection,
    open_nb201,
    open_nb301,
)
from nasbench_harness.spaces.genotype import DartsGenotype

DATA_DIR_HELP = "Data directory holding nb201/ and nb301-surrogate/ (default: $NASBENCH_DATA, else the per-user cache)."


@main.command()
@click.argument("arch", required=False)
@click.option("--best", is_flag=True, help="Show the cell selected on validation accuracy (and the test oracle).")
@click.option(
    "--dataset",
    type=click.Choice(DATASETS, case_sensitive=False),
    default=None,
    help="Only this dataset (default: all four).",
)
@click.option("--epochs", type=click.Choice(["12", "200"]), default="200", show_default=True, help="Training budget.")
@click.option("--data-dir", type=click.Path(), default=None, help=DATA_DIR_HELP)
@click.option(
    "--benchmark",
    type=click.Path(exists=True),
    default=None,
    help="An explicit NAS-Bench-201 source: compact table, NATS-Bench tss file/directory or NAS-Bench-201 .pth.",
)
@click.option(
    "--surrogate-epoch",
    type=click.IntRange(1, 98),
    default=98,
    show_default=True,
    help="Training epoch the NAS-Bench-301 surrogate predicts for (DARTS genotypes only).",
)
def query(
    arch: str | None,
    best: bool,
    dataset: str | None,
    epochs: str,
    data_dir: str | None,
    benchmark: str | None,
    surrogate_epoch: int,
) -> None:
    """Ground truth for ARCH: a NAS-Bench-201 cell string, index or 6 comma-separated ops, or a DARTS
    `Genotype(...)` (approximate, from the NAS-Bench-301 surrogate).

    Validation accuracy is the selection metric, test accuracy the report metric; both are printed
    and labelled.
    """
    if best == (arch is not None):
        raise click.UsageError("give either ARCH or --best")
    if arch is not None and arch.lstrip().startswith("Genotype("):
        if dataset not in (None, "cifar10"):
            raise click.UsageError("the NAS-Bench-301 surrogate predicts CIFAR-10 only")
        _surrogate(arch, data_dir, surrogate_epoch)
        return
    service = open_nb201(data_dir=data_dir, path=benchmark)
    budget = int(epochs)
    datasets = [dataset] if dataset else list(DATASETS)
    if best:
        picks = [(service.best(name, budget), service.oracle(name, budget)) for name in datasets]
        click.echo(f"NAS-Bench-201 ground truth, {budget} training epochs ({_source(service)})")
        for selection, oracle in picks:
            _print_best(selection, oracle)
        return
    results = [service.query(arch, name, budget) for name in datasets]
    click.echo(f"NAS-Bench-201 ground truth, {budget} training epochs ({_source(service)})")
    click.echo(f"cell {results[0].index}: {results[0].arch}")
    rows = [("dataset", "valid acc % (select)", "test acc % (report)")]
    rows += [(r.dataset, _acc(r.valid_acc, r, "valid"), _acc(r.test_acc, r, "test")) for r in results]
    for name, valid, test in rows:
        click.echo(f"  {name:<16}{valid:>22}{test:>21}")
    if any(r.note for r in results):
        click.echo(f"n/a: {NO_VALID_SPLIT}")
    if any("missing" in row[1:] for row in rows):
        click.echo("missing: this benchmark file holds no such figure")


def _print_best(selection: NB201Selection, oracle: NB201Result) -> None:
    result, dataset = selection.result, selection.result.dataset
    click.echo(f"\n{dataset}: {selection.rule}")
    click.echo(f"  selected cell {result.index}: {result.arch}")
    click.echo(f"  {selection.selected_on} acc % (selection): {selection.selection_acc:.2f}")
    click.echo(f"  {dataset} test acc % (report): {_acc(result.test_acc, result, 'test')}")
    click.echo(
        f"  oracle (highest {dataset} test acc, a reference bound, not a selection): "
        f"cell {oracle.index}, test {_acc(oracle.test_acc, oracle, 'test')}"
    )


def _surrogate(text: str, data_dir: str | None, epoch: int) -> None:
    surrogate = open_nb301(data_dir)
    genotype = DartsGenotype.parse(text)
    value = float(surrogate.predict([genotype], epoch=epoch)[0])
    click.echo(f"NAS-Bench-301 surrogate, {SURROGATE_LABEL}: not ground truth (model sha256 {surrogate.sha256[:12]})")
    click.echo(f"  CIFAR-10 valid acc % at epoch {epoch}, {SURROGATE_LABEL}: {value:.2f}")


def _source(service: NB201GroundTruth) -> str:
    prov = service.provenance()
    return f"backend {prov['backend']}: {prov['file']}, sha256 {str(prov['sha256'])[:12]}"


def _acc(value: float | None, result: NB201Result, split: str) -> str:
    if value is not None:
        return f"{value:.2f}"
    return "n/a" if split == "valid" and result.note else "missing"
