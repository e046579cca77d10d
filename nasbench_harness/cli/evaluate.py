"""`nasbench evaluate RUN_DIR|GENOTYPE...`: retrain derived genotypes with the published protocol."""

from __future__ import annotations

import click

from nasbench_harness.cli.app import main


@main.command()
@click.argument("targets", nargs=-1, required=True)
@click.option("--dataset", help="Dataset to retrain on (default: the search's, or cifar10 for a genotype).")
@click.option("--space", help="Space of a DARTS-family genotype string (s1..s4, darts; default darts).")
@click.option("--seeds", default="0", show_default=True, help="Retraining seeds, comma-separated.")
@click.option("--epochs", type=click.IntRange(min=1), help="Override the protocol's epochs (tiny runs).")
@click.option("--layers", type=click.IntRange(min=1), help="Override the number of cells (DARTS family).")
@click.option("--channels", type=click.IntRange(min=1), help="Override the initial channels.")
@click.option("--batch-size", type=click.IntRange(min=1), help="Override the batch size.")
@click.option("--limit-train", type=click.IntRange(min=1), help="Use only the first N training images.")
@click.option("--limit-test", type=click.IntRange(min=1), help="Use only the first N test images.")
@click.option("--params-only", is_flag=True, help="Print parameters and FLOPs of the evaluation network; no training.")
@click.option(
    "--select",
    "select_epochs",
    type=click.IntRange(min=1),
    help="RobustDARTS selection: retrain each TARGET this many epochs on half the training set, then fully "
    "retrain the one with the lowest held-out error (DARTS: 100).",
)
@click.option(
    "--rerun-stale",
    is_flag=True,
    help="Rerun finished evaluations of another harness version or commit (their old record moves to "
    "previous/ in the run directory); without it they are kept and reported as stale.",
)
@click.option("--results-dir", default="results", show_default=True, help="Where evaluation directories go.")
@click.option("--data-dir", help="Dataset directory (default: $NASBENCH_DATA, the user cache).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
def evaluate(
    targets: tuple[str, ...],
    dataset: str | None,
    space: str | None,
    seeds: str,
    epochs: int | None,
    layers: int | None,
    channels: int | None,
    batch_size: int | None,
    limit_train: int | None,
    limit_test: int | None,
    params_only: bool,
    select_epochs: int | None,
    rerun_stale: bool,
    results_dir: str,
    data_dir: str | None,
    device: str,
) -> None:
    """Retrain each TARGET (a finished search's run directory, or a printed genotype) from scratch.

    Defaults are the published protocols: DARTS/S1–S4 600 epochs (CIFAR-10: 20 cells, C 36; CIFAR-100,
    SVHN: 8 cells, C 16); NAS-Bench-201 its 200-epoch recipe. Exit code 1 if any retrain failed.
    """
    from pathlib import Path

    from nasbench_harness.errors import ConfigError
    from nasbench_harness.evaluation.jobs import eval_configs, select_then_evaluate

    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--seeds must be comma-separated integers, got {seeds!r}") from None
    overrides: dict = {"train": {}, "data": {}, "network": {}}
    for section, key, value in (
        ("train", "epochs", epochs),
        ("train", "batch_size", batch_size),
        ("network", "layers", layers),
        ("network", "channels", channels),
        ("data", "limit_train", limit_train),
        ("data", "limit_test", limit_test),
    ):
        if value is not None:
            overrides[section][key] = value
    if params_only:
        _print_params(targets, dataset, space, overrides)
        return

    from nasbench_harness.datadir import resolve_data_dir
    from nasbench_harness.engine.runner import resolve_device
    from nasbench_harness.evaluation.run import execute_evaluation

    data, torch_device, results = resolve_data_dir(data_dir), resolve_device(device), Path(results_dir)

    def run(configs: list) -> list:
        outcomes = []
        for i, config in enumerate(configs, start=1):
            where = f"{config.method} on {config.space}/{config.dataset} seed {config.seed}"
            label = f"[{i}/{len(configs)}] {config.stage} retrain of {where}"
            click.echo(f"{label} ({config.relative_dir()})", err=True)
            outcome = execute_evaluation(
                config,
                results,
                data,
                torch_device,
                report=lambda m: click.echo(f"  {m}", err=True),
                rerun_stale=rerun_stale,
            )
            click.echo(f"{label}: {outcome.status}{' - ' + outcome.reason if outcome.reason else ''}", err=True)
            outcomes.append(outcome)
        return outcomes

    if select_epochs is not None:
        short, final = select_then_evaluate(
            targets, run, dataset=dataset, seeds=seed_list, select_epochs=select_epochs, overrides=overrides
        )
        outcomes = short + final
    else:
        configs = [
            c
            for t in targets
            for c in eval_configs(t, dataset=dataset, space=space, seeds=seed_list, overrides=overrides)
        ]
        outcomes = run(configs)
    import json

    for o in outcomes:
        if o.status in ("finished", "skipped", "stale"):
            r = json.loads((o.directory / "result.json").read_text())
            click.echo(
                f"{o.status:<9} {o.config.stage:<6} seed {o.config.seed}  "
                f"test error {r['test_error']:.2f}%  {o.directory}"
            )
        else:
            click.echo(f"{o.status:<9} {o.config.stage:<6} seed {o.config.seed}  {o.reason}")
    if any(o.status == "failed" for o in outcomes):
        raise SystemExit(1)


def _print_params(targets: tuple[str, ...], dataset: str | None, space: str | None, overrides: dict) -> None:
    from nasbench_harness.data import get_spec
    from nasbench_harness.evaluation.jobs import eval_configs
    from nasbench_harness.evaluation.network import build_eval_network, count_flops, count_parameters_mb

    for target in targets:
        config = eval_configs(target, dataset=dataset, space=space, seeds=[0], overrides=overrides)[0]
        net = build_eval_network(config.space, config.genotype, get_spec(config.dataset).num_classes, config.network)
        shape = ", ".join(f"{k} {v}" for k, v in config.network.items())
        click.echo(
            f"{config.space}/{config.dataset} ({shape}): {count_parameters_mb(net):.6f} M parameters "
            f"(auxiliary head excluded), {count_flops(net):.2f} M FLOPs (multiply-adds, one 32x32 image)"
        )
