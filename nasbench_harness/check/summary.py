"""What the check compares, per finished run: the collapse signature of its search."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nasbench_harness.errors import HarnessError
from nasbench_harness.results.load import find_run_dirs, read_run
from nasbench_harness.spaces.genotype import DartsGenotype, Genotype, NB201Genotype


def _parse(genotype: str) -> Genotype:
    return (DartsGenotype if genotype.startswith("Genotype(") else NB201Genotype).parse(genotype)


def genotype_edges(genotype: str) -> list[str]:
    """The edges of a genotype string in order: `op~j` for NB201 cells, `op@j` for DARTS-family cells
    (normal then reduce), so two genotypes of one space can be compared position by position."""
    parsed = _parse(genotype)
    sep = "~" if isinstance(parsed, NB201Genotype) else "@"
    return [f"{op}{sep}{j}" for gene in parsed.cells().values() for op, j in gene]


def genotype_op_counts(genotype: str) -> dict[str, int]:
    """Edges per op and cell type (`normal:skip_connect`): what survives near-ties in input choice."""
    cells = _parse(genotype).cells()
    return dict(sorted(Counter(f"{cell}:{op}" for cell, gene in cells.items() for op, _ in gene).items()))


@dataclass(frozen=True)
class RunSummary:
    key: str  # space/dataset/method/seed[/method args]: stable across config-hash changes
    config_hash: str
    values: dict[str, Any]


def summarise_run(directory: Path, results_dir: Path) -> RunSummary:
    """The collapse signature of a finished run, read from its current trajectory (epochs that a
    rollback abandoned or a later segment redid do not count)."""
    record, rows, config = read_run(directory, results_dir)
    live = [row for row in rows if row["current"]]
    cell = "cell" if config["space"] == "nb201" else "normal"
    values: dict[str, Any] = {
        "genotype": record["genotype"],
        "genotype_ops": genotype_op_counts(record["genotype"]),
        "epochs_run": record["epochs_run"],
        "final_skip": record.get(f"skip_{cell}"),
        "final_param_free": record.get(f"param_free_{cell}"),
        "skip_per_epoch": [row.get(f"skip_{cell}") for row in live],
        "final_valid_acc": live[-1].get("eval_valid_acc") if live else None,
    }
    eig = [(row["epoch"], row["eigenvalue"]) for row in live if row.get("eigenvalue") is not None]
    if eig:
        values["eigenvalue_final"] = eig[-1][1]
        values["eigenvalue_mean"] = float(np.mean([value for _, value in eig]))
        values["eigenvalue_slope"] = float(np.polyfit(*zip(*eig), 1)[0]) if len(eig) > 1 else 0.0
    if record.get("stage_genotypes"):  # staged runs: every stage's genotype is checked, the last as `genotype`
        for name, genotype in json.loads(record["stage_genotypes"]).items():
            values[f"genotype_stage_{name}"] = genotype
    for key in ("gt_cifar10-valid_valid", "gt_cifar10_test", "nb301_valid_acc_approx"):
        if record.get(key) is not None:
            values[key] = record[key]
    key = f"{config['space']}/{config['dataset']}/{config['method']}/{config['seed']}"
    if config.get("method_args"):  # sweeps (R-DARTS strengths) run one method several times per seed
        key += "/" + ",".join(f"{name}={value}" for name, value in sorted(config["method_args"].items()))
    return RunSummary(key, record["config_hash"], values)


def summarise_runs(results_dir: Path) -> dict[str, RunSummary]:
    """Summaries of every finished run under `results_dir`; unfinished or failed runs are errors here,
    since a regression check on partial results would pass or fail for the wrong reason."""
    results_dir = Path(results_dir)
    summaries: dict[str, RunSummary] = {}
    problems = []
    for directory in find_run_dirs(results_dir):
        if not (directory / "result.json").exists():
            state = "failed" if (directory / "failed.json").exists() else "unfinished"
            problems.append(f"{directory} is {state}")
            continue
        summary = summarise_run(directory, results_dir)
        if summary.key in summaries:
            other = summaries[summary.key].config_hash
            problems.append(f"two runs for {summary.key}: {other} and {summary.config_hash}")
        summaries[summary.key] = summary
    if problems:
        raise HarnessError("cannot check these results: " + "; ".join(problems))
    if not summaries:
        raise HarnessError(f"no finished runs under {results_dir}/runs: run the CI suite first")
    return summaries
