"""Evaluation jobs from what the user names: a finished search run directory or a printed genotype,
and the RobustDARTS selection protocol over several searches."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from nasbench_harness.engine.runner import RunOutcome
from nasbench_harness.errors import ConfigError
from nasbench_harness.evaluation.protocols import EvalConfig, default_eval_config

#: DARTS' selection retrain: "training from scratch for a short period (100 epochs on CIFAR-10)"
#: (DARTS paper §3.3; the released code has no selection script, so the length is the paper's).
SELECT_EPOCHS = 100


def search_target(target: str) -> dict[str, Any]:
    """(genotype, space, dataset, method, search seed, search_run) of a finished search run directory."""
    directory = Path(target)
    if not directory.is_dir():
        raise ConfigError(f"{target_help()}: {target!r} is no directory and no genotype string")
    result_path, meta_path = directory / "result.json", directory / "metadata.json"
    if not result_path.is_file():
        raise ConfigError(
            f"{directory}: no result.json, so no finished search to evaluate (finish it with nasbench run, "
            "or pass a genotype string)"
        )
    try:
        result, config = json.loads(result_path.read_text()), json.loads(meta_path.read_text())["config"]
    except (OSError, ValueError, KeyError) as err:
        raise ConfigError(f"{directory}: cannot read its result.json / metadata.json config: {err}") from None
    parts = directory.resolve().parts
    relative = "/".join(parts[parts.index("runs") :]) if "runs" in parts else str(directory)
    return {
        "genotype": result["genotype"],
        "space": config["space"],
        "dataset": config["dataset"],
        "method": config["method"],
        "search_seed": config["seed"],
        "search_run": relative,
    }


def genotype_space(genotype: str, space: str | None) -> str:
    """The space a printed genotype belongs to: NB201 strings are recognised; DARTS ones need --space
    only to be labelled S1–S4 (default "darts")."""
    text = genotype.strip()
    if text.startswith("|"):
        if space not in (None, "nb201"):
            raise ConfigError(f"{genotype!r} is a NAS-Bench-201 cell, but --space {space} was given")
        return "nb201"
    if text.startswith("Genotype("):
        if space == "nb201":
            raise ConfigError(f"{genotype!r} is a DARTS-family genotype, not a NAS-Bench-201 cell")
        return space or "darts"
    raise ConfigError(f"{target_help()}: got {genotype!r}, which is neither a run directory nor a genotype string")


def target_help() -> str:
    return "TARGET must be a finished search's run directory, a 'Genotype(normal=[...], ...)' or a '|op~0|+...' cell"


def eval_configs(
    target: str,
    *,
    dataset: str | None,
    space: str | None,
    seeds: Sequence[int],
    overrides: dict[str, Any] | None = None,
    **fields: Any,
) -> list[EvalConfig]:
    """One EvalConfig per seed for `target` (a run directory or a genotype)."""
    if not target.lstrip().startswith(("|", "Genotype(")):
        source = search_target(target)
        info = {"method": source["method"], "search_run": source["search_run"]}
        genotype, space_name, data = source["genotype"], source["space"], dataset or source["dataset"]
    else:
        genotype, space_name, data, info = target, genotype_space(target, space), dataset or "cifar10", {}
    return [default_eval_config(genotype, space_name, data, seed, overrides, **{**info, **fields}) for seed in seeds]


Runner = Callable[[list[EvalConfig]], list[RunOutcome]]


def select_then_evaluate(
    targets: Sequence[str],
    run: Runner,
    *,
    dataset: str | None,
    seeds: Sequence[int],
    select_epochs: int = SELECT_EPOCHS,
    overrides: dict[str, Any] | None = None,
) -> tuple[list[RunOutcome], list[RunOutcome]]:
    """RobustDARTS / DARTS selection: a short retrain (on half the training set) of each search's
    genotype, the one with the lowest held-out error wins, then the full retrain of the winner.

    Selection never sees the test set: its retrains hold out the second half of the training set."""
    select_overrides = {**(overrides or {})}
    select_overrides["train"] = {**select_overrides.get("train", {}), "epochs": select_epochs}
    select_overrides["data"] = {**select_overrides.get("data", {}), "train_on": "half"}
    candidates = [
        eval_configs(t, dataset=dataset, space=None, seeds=[seeds[0]], overrides=select_overrides, stage="select")[0]
        for t in targets
    ]
    short = run(candidates)
    scored = []
    for config, outcome in zip(candidates, short):
        if outcome.status in ("finished", "skipped", "stale"):  # a kept stale retrain still has its figure
            result = json.loads((outcome.directory / "result.json").read_text())
            scored.append((result["valid_error"], config))
    if not scored:
        return short, []
    _, winner = min(scored, key=lambda pair: pair[0])
    finals = [
        default_eval_config(
            winner.genotype,
            winner.space,
            winner.dataset,
            seed,
            overrides,
            method=winner.method,
            search_run=winner.search_run,
        )
        for seed in seeds
    ]
    return short, run(finals)


def suite_evaluations(
    section: Any, outcomes: Sequence[RunOutcome], run: Runner, report: Callable[[str], None]
) -> list[RunOutcome]:
    """The suite's `evaluate:` stage: retrain the genotype of every search that finished (or was finished
    earlier); with `select_epochs`, the selection protocol per (method, space, dataset) over its seeds."""
    done = [
        o for o in outcomes if o.status in ("finished", "skipped", "stale") and not isinstance(o.config, EvalConfig)
    ]
    overrides = {"train": dict(section.train), "data": dict(section.data), "network": dict(section.network)}
    if not done:
        return []
    report(f"evaluate: retraining the genotypes of {len(done)} finished searches")
    if section.select_epochs is None:
        jobs = [
            c
            for o in done
            for c in eval_configs(str(o.directory), dataset=None, space=None, seeds=section.seeds, overrides=overrides)
        ]
        return run(jobs)
    groups: dict[tuple[str, str, str], list[str]] = {}
    for o in done:
        groups.setdefault((o.config.method, o.config.space, o.config.dataset), []).append(str(o.directory))
    results: list[RunOutcome] = []
    for targets in groups.values():
        short, final = select_then_evaluate(
            targets, run, dataset=None, seeds=section.seeds, select_epochs=section.select_epochs, overrides=overrides
        )
        results += short + final
    return results
