"""What the check compares, per finished run: the collapse signature of its search."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nasbench_harness.errors import HarnessError

_DARTS_EDGE = re.compile(r"\('(\w+)',\s*(\d+)\)")


def genotype_edges(genotype: str) -> list[str]:
    """The edges of a genotype string in order: `op~j` for NB201 cells, `op@j` for DARTS-family cells
    (normal then reduce), so two genotypes of one space can be compared position by position."""
    if genotype.startswith("Genotype("):
        return [f"{op}@{j}" for op, j in _DARTS_EDGE.findall(genotype)]
    return [token for token in genotype.split("|") if "~" in token]


def genotype_op_counts(genotype: str) -> dict[str, int]:
    """Edges per op and cell type (`normal:skip_connect`): what survives near-ties in input choice."""
    edges = genotype_edges(genotype)
    darts = genotype.startswith("Genotype(")
    counts: Counter[str] = Counter()
    for i, edge in enumerate(edges):
        cell = ("normal" if i < len(edges) // 2 else "reduce") if darts else "cell"
        counts[f"{cell}:{re.split('[@~]', edge)[0]}"] += 1
    return dict(sorted(counts.items()))


@dataclass(frozen=True)
class RunSummary:
    key: str  # space/dataset/method/seed[/method args]: stable across config-hash changes
    config_hash: str
    values: dict[str, Any]


def _latest_segment_rows(metrics_path: Path) -> list[dict[str, Any]]:
    """One row per epoch; after a rollback the later segment supersedes the abandoned epochs."""
    by_epoch: dict[int, dict[str, Any]] = {}
    for line in metrics_path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            current = by_epoch.get(row["epoch"])
            if current is None or row.get("segment", 0) >= current.get("segment", 0):
                by_epoch[row["epoch"]] = row
    return [by_epoch[e] for e in sorted(by_epoch)]


def summarise_run(directory: Path) -> RunSummary:
    metadata = json.loads((directory / "metadata.json").read_text())
    result = json.loads((directory / "result.json").read_text())
    config = metadata["config"]
    rows = _latest_segment_rows(directory / "metrics.jsonl")
    cell = "cell" if config["space"] == "nb201" else "normal"
    final = result.get("final_genotype_metrics", {})
    values: dict[str, Any] = {
        "genotype": result["genotype"],
        "genotype_ops": genotype_op_counts(result["genotype"]),
        "epochs_run": result["epochs_run"],
        "final_skip": final.get(f"skip_{cell}"),
        "final_param_free": final.get(f"param_free_{cell}"),
        "skip_per_epoch": [row.get(f"skip_{cell}") for row in rows],
        "final_valid_acc": rows[-1].get("eval_valid_acc") if rows else None,
    }
    eig = [(row["epoch"], row["eigenvalue"]) for row in rows if row.get("eigenvalue") is not None]
    if eig:
        values["eigenvalue_final"] = eig[-1][1]
        values["eigenvalue_mean"] = float(np.mean([value for _, value in eig]))
        values["eigenvalue_slope"] = float(np.polyfit(*zip(*eig), 1)[0]) if len(eig) > 1 else 0.0
    for key in ("gt_cifar10-valid_valid", "gt_cifar10_test", "nb301_valid_acc_approx"):
        if final.get(key) is not None:
            values[key] = final[key]
    key = f"{config['space']}/{config['dataset']}/{config['method']}/{config['seed']}"
    if config.get("method_args"):  # sweeps (R-DARTS strengths) run one method several times per seed
        key += "/" + ",".join(f"{name}={value}" for name, value in sorted(config["method_args"].items()))
    return RunSummary(key, metadata["config_hash"], values)


def summarise_runs(results_dir: Path) -> dict[str, RunSummary]:
    """Summaries of every finished run under `results_dir`; unfinished or failed runs are errors here,
    since a regression check on partial results would pass or fail for the wrong reason."""
    summaries: dict[str, RunSummary] = {}
    problems = []
    for metadata in sorted(Path(results_dir).glob("runs/*/*/*/*/metadata.json")):
        directory = metadata.parent
        if not (directory / "result.json").exists():
            state = "failed" if (directory / "failed.json").exists() else "unfinished"
            problems.append(f"{directory} is {state}")
            continue
        summary = summarise_run(directory)
        if summary.key in summaries:
            other = summaries[summary.key].config_hash
            problems.append(f"two runs for {summary.key}: {other} and {summary.config_hash}")
        summaries[summary.key] = summary
    if problems:
        raise HarnessError("cannot check these results: " + "; ".join(problems))
    if not summaries:
        raise HarnessError(f"no finished runs under {results_dir}/runs: run the CI suite first")
    return summaries
