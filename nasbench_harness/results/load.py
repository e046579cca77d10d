"""Read a results tree into two pandas tables: one row per run, one row per logged epoch.

Only run directories are read (`runs/<space>/<dataset>/<method>/<seed>-<hash>/`), never the engine,
so results aggregate on a machine without the data. Which methods sweep a hyperparameter, and how a
sweep's run is chosen, the method classes declare (`Method.sweep_param`, `Method.select`), so reading
a tree imports the method registry (and torch). Every run gets a `status`
(finished / failed / unfinished) and tables count the three separately: a run that did not finish
is never averaged in silently. Two flags qualify a status: `stale` (finished, but some epoch was trained by
another harness version or commit than the one reading, as `nasbench run` reports it) and `running` (not
finished, and a process holds the run's lock now). Rows are collected as plain dicts and turned into frames once, so
10,000 runs load in a few seconds (`benchmarks/bench_aggregate.py`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nasbench_harness.config import canonical_hash
from nasbench_harness.engine.record import lock_holder
from nasbench_harness.errors import HarnessError
from nasbench_harness.results.verdict import verdict
from nasbench_harness.spaces import get_space, list_spaces

try:
    import orjson

    _loads: Callable[[bytes], Any] = orjson.loads
except ImportError:  # pragma: no cover - orjson is optional
    _loads = json.loads

STATUSES = ("finished", "failed", "unfinished")
#: A run directory is recognised by either file: a run that failed while building has no metadata.
RUN_MARKERS = ("metadata.json", "failed.json")

#: Last-epoch figures copied from `result.final` as `final_<key>`.
FINAL_KEYS = ("epoch", "segment", "train_loss", "train_acc", "valid_loss", "valid_acc", "eval_valid_acc")
#: Run-level columns repeated on every epoch row, so the long table can be grouped on its own.
EPOCH_ID_COLUMNS = ("run_dir", "method", "space", "dataset", "seed", "config_hash", "setting", "status", "selected")


@dataclass(frozen=True)
class Results:
    """The two tables of one results tree; `runs.selected` marks the runs that stand for a seed."""

    root: Path
    runs: pd.DataFrame
    epochs: pd.DataFrame

    def selected_runs(self) -> pd.DataFrame:
        return self.runs[self.runs["selected"]]

    def current_epochs(self) -> pd.DataFrame:
        """Epoch rows that are not superseded by a later segment (a rollback), of selected runs."""
        e = self.epochs
        return e[e["current"] & e["selected"]]


def find_run_dirs(root: Path) -> list[Path]:
    """Run directories under `root/runs` (metadata.json or failed.json one level deep per part)."""
    found: set[Path] = set()
    for marker in RUN_MARKERS:
        found.update(p.parent for p in root.glob(f"runs/*/*/*/*/{marker}"))
    return sorted(found, key=str)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return _loads(data)


def _read_metrics(path: Path) -> list[dict[str, Any]]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    rows = []
    for line in data.splitlines():
        if line.strip():
            try:
                rows.append(_loads(line))
            except ValueError:  # a line cut short by a killed writer: the run resumes before it
                break
    return rows


@functools.cache
def sweep_class(method: str) -> Any:
    """The registered class of `method` if it declares a sweep (`Method.sweep_param`), else None (a
    method no longer registered counts as no sweep)."""
    from nasbench_harness.methods import get_method_class, list_methods

    if method not in list_methods():
        return None
    cls = get_method_class(method)
    return cls if cls.sweep_param is not None else None


def setting_key(config: Mapping[str, Any]) -> str:
    """Hash of the config without seed and swept hyperparameter: the runs a table row averages over."""
    reduced = {k: v for k, v in config.items() if k != "seed"}
    sweep = sweep_class(str(config.get("method")))
    if sweep is not None:
        args = config.get("method_args") or {}
        reduced["method_args"] = {k: v for k, v in args.items() if k != sweep.sweep_param}
    return canonical_hash(reduced)


def _bn_setting(network: Mapping[str, Any]) -> str:
    """The search network's BN choice as one string (it changes published NB201 numbers)."""
    if "search_bn" in network:
        return str(network["search_bn"])
    parts = [f"{k.removeprefix('search_bn_')}={v}" for k, v in sorted(network.items()) if k.startswith("search_bn_")]
    return ", ".join(parts)


def _scalar(value: Any) -> Any:
    """Cell value for a config field: scalars stay, anything nested becomes canonical JSON."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value, sort_keys=True)


def _current_flags(rows: list[dict[str, Any]]) -> list[bool]:
    """True for rows on the run's current trajectory.

    The log is ordered by (segment, epoch); a rollback starts a new segment at an earlier epoch, so
    walking back from the end, a row counts only if its epoch precedes every row already kept:
    epochs a later segment redid, and epochs abandoned after a rollback, are superseded.
    """
    flags = [False] * len(rows)
    floor = float("inf")
    for i in range(len(rows) - 1, -1, -1):
        epoch = rows[i].get("epoch")
        if epoch is not None and epoch < floor:
            flags[i], floor = True, epoch
    return flags


def code_state(metadata: Mapping[str, Any]) -> tuple[str, bool]:
    """The versions that trained a run, in order (" then "-joined), and whether they differ from this
    harness's: the runner's stale test (engine/versions.py)."""
    from nasbench_harness.engine.versions import current_code, describe_versions, recorded_versions

    if not metadata:  # failed before writing metadata: no epoch was trained
        return "", False
    versions = recorded_versions(metadata)
    return describe_versions(versions, " then "), versions != [current_code()]


def this_code() -> str:
    """The harness version and commit reading the results, as the stale messages name it."""
    from nasbench_harness.engine.versions import current_code, describe_version

    return describe_version(*current_code().values())


def read_run(directory: Path, root: Path) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """One run's flat record, its epoch rows (α and other architecture state dropped: heat maps read the
    file) and its config."""
    metadata = _read_json(directory / "metadata.json") or {}
    result = _read_json(directory / "result.json")
    failed = None if result is not None else _read_json(directory / "failed.json")
    config = metadata.get("config") or (failed or {}).get("config") or {}
    rows = _read_metrics(directory / "metrics.jsonl")
    for row in rows:
        row.pop("alphas", None)
        row.pop("arch_state", None)
        if "stage_choice" in row:  # a staged run's per-edge decision: one JSON cell, not a nested column
            row["stage_choice"] = json.dumps(row["stage_choice"], sort_keys=True)
    current = _current_flags(rows)

    if result is not None:
        status = str(result.get("status", "finished"))
    else:
        status = "failed" if failed is not None else "unfinished"
    seed_part, _, hash_part = directory.name.partition("-")
    train, metrics_cfg = config.get("train") or {}, config.get("metrics") or {}
    gt = (metadata.get("provenance") or {}).get("ground_truth") or {}
    versions, other_code = code_state(metadata)
    record: dict[str, Any] = {
        "run_dir": directory.relative_to(root).as_posix(),
        "method": config.get("method", directory.parent.name),
        "space": config.get("space", directory.parent.parent.parent.name),
        "dataset": config.get("dataset", directory.parent.parent.name),
        "seed": config.get("seed", int(seed_part) if seed_part.lstrip("-").isdigit() else None),
        "config_hash": metadata.get("config_hash") or (failed or {}).get("config_hash") or hash_part,
        "setting": setting_key(config),
        "profile": config.get("profile"),
        "status": status,
        "reason": (failed or {}).get("reason", ""),
        "stale": status == "finished" and other_code,
        "running": status == "unfinished" and lock_holder(directory) is not None,
        "code_versions": versions,
        "epochs": train.get("epochs"),
        "batch_size": train.get("batch_size"),
        "lr": train.get("lr"),
        "weight_decay": train.get("weight_decay"),
        "arch_lr": train.get("arch_lr"),
        "arch_weight_decay": train.get("arch_weight_decay"),
        "eigenvalue_mode": metrics_cfg.get("eigenvalue"),
        "method_args": json.dumps(config.get("method_args") or {}, sort_keys=True),
        "harness_version": metadata.get("harness_version"),
        "git_commit": metadata.get("git_commit"),
        "torch_version": metadata.get("torch_version"),
        "device": metadata.get("device"),
        "device_name": metadata.get("device_name"),
        "bn": _bn_setting(metadata.get("network") or {}),
        "gt_backend": gt.get("backend") or gt.get("oracle"),
        "gt_file": gt.get("file") or (Path(gt["path"]).name if gt.get("path") else None),
        "gt_sha256": gt.get("sha256") or gt.get("model_sha256"),
        "gt_label": gt.get("label") or ("" if gt.get("available", True) else f"unavailable: {gt.get('why', '')}"),
    }
    for key, value in (config.get("method_args") or {}).items():
        record[f"arg_{key}"] = _scalar(value)
    for key, value in (config.get("network") or {}).items():
        record[f"net_{key}"] = _scalar(value)

    live = [r for r, keep in zip(rows, current) if keep]
    eigen = [r["eigenvalue"] for r in live if r.get("eigenvalue") is not None]
    record["epochs_logged"] = len(live)
    record["final_eigenvalue"] = eigen[-1] if eigen else None
    if result is not None:
        final = result.get("final") or {}
        record.update({f"final_{k}": final.get(k) for k in FINAL_KEYS})
        record.update(
            genotype=result.get("genotype"),
            stopped_early=bool(result.get("stopped_early", False)),
            stop_reason=result.get("stop_reason", ""),
            epochs_run=result.get("epochs_run"),
            search_seconds=result.get("search_seconds"),
            wall_seconds=result.get("wall_seconds_this_session"),
        )
        record.update(result.get("final_genotype_metrics") or {})
        if result.get("stages"):  # a staged run: `genotype` is the last stage's, each stage's kept here
            record["stages"] = len(result["stages"])
            record["stage_genotypes"] = json.dumps({s["name"]: s["genotype"] for s in result["stages"]})
    else:
        record["genotype"] = live[-1].get("genotype") if live else None
        record["search_seconds"] = sum(r.get("epoch_seconds") or 0.0 for r in rows)
    record.update(_verdict_columns(live, record))
    for row, keep in zip(rows, current):
        row["current"] = keep
    return record, rows, config


def _verdict_columns(live: list[dict[str, Any]], record: Mapping[str, Any]) -> dict[str, Any]:
    """The run's collapse verdict (results/verdict.py) as `collapse_*` columns; none for a space no longer
    registered or without a measure."""
    space = str(record["space"])
    measure = get_space(space).collapse if space in list_spaces() else None
    found = verdict(live, measure, str(record["dataset"]), record.get("genotype")) if measure else None
    return found.columns() if found else {}


def _frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame.from_records(records) if records else pd.DataFrame()


def select_sweeps(runs: pd.DataFrame, configs: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Adds `sweep_group`, `selected`, `sweep_size`, `sweep_finished`; `configs[i]` is row i's config.

    A run outside a sweep stands for itself. In a sweep group (`Method.sweep_group`: equal configs but
    the swept hyperparameter) the run the method's `select` picks stands for the seed, from the final
    figures of finished runs (R-DARTS: the best final `eval_valid_acc`). A group with no selected run
    is still counted, under the status of one member (unfinished before failed), so a failed sweep
    never vanishes from a table.
    """
    if runs.empty:
        return runs.assign(sweep_group="", selected=pd.Series(dtype=bool), sweep_size=0, sweep_finished=0)
    groups = runs["config_hash"].astype(object).to_numpy(copy=True)
    selected = np.ones(len(runs), dtype=bool)
    methods = runs["method"].to_numpy()
    classes = {method: sweep_class(str(method)) for method in set(methods)}
    members = np.flatnonzero([classes[m] is not None for m in methods])
    status = runs["status"].to_numpy()
    final_columns = {key: f"final_{key}" for key in FINAL_KEYS if f"final_{key}" in runs}
    finals = {key: runs[column].to_numpy() for key, column in final_columns.items()}
    best: set[int] = set()
    for method, cls in classes.items():
        if cls is None:
            continue
        entries = []
        for i in members[methods[members] == method]:
            groups[i] = cls.sweep_group(configs[i])
            final = {key: None if pd.isna(v[i]) else v[i] for key, v in finals.items()}
            entries.append({"config": configs[i], "final": final if status[i] == "finished" else None, "i": i})
        best |= {entry["i"] for entry in cls.select(entries)}
    selected[members] = False
    selected[list(best)] = True
    covered = {groups[i] for i in best}
    rank = {"unfinished": 0, "failed": 1}
    for i in sorted(members, key=lambda i: (rank.get(status[i], 2), i)):
        if groups[i] not in covered:
            selected[i], covered = True, covered | {groups[i]}
    frame = runs.assign(sweep_group=groups, selected=selected)
    finished = frame["status"].eq("finished").groupby(frame["sweep_group"])
    return frame.assign(sweep_size=finished.transform("size"), sweep_finished=finished.transform("sum"))


def load_results(root: str | Path) -> Results:
    """Load every run directory under `root` (a results dir holding `runs/`)."""
    root = Path(root)
    records: list[dict[str, Any]] = []
    epoch_rows: list[dict[str, Any]] = []
    configs: list[dict[str, Any]] = []
    owners: list[int] = []
    for i, directory in enumerate(find_run_dirs(root)):
        record, rows, config = read_run(directory, root)
        records.append(record)
        configs.append(config)
        epoch_rows.extend(rows)
        owners.extend([i] * len(rows))
    runs = select_sweeps(_frame(records), configs)
    # with no epoch logged anywhere, keep the columns readers select on
    epochs = _frame(epoch_rows) if epoch_rows else pd.DataFrame(columns=["epoch", "segment", "current"])
    if not runs.empty:
        ident = runs[list(EPOCH_ID_COLUMNS)].iloc[owners].reset_index(drop=True)
        epochs = pd.concat([ident, epochs.reset_index(drop=True)], axis=1)
    return Results(root, runs, epochs)


def storable(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns mixing types (method args differ by method) become strings, for Parquet."""
    fixes = {}
    for column in [c for c in frame.columns if pd.api.types.is_object_dtype(frame[c])]:
        kinds = {type(v) for v in frame[column] if v is not None and v == v}
        if len(kinds) > 1:
            fixes[column] = frame[column].map(lambda v: None if v is None or v != v else str(v))
    return frame.assign(**fixes) if fixes else frame


def write_tables(results: Results, out: str | Path) -> list[Path]:
    """Runs table to `out` (.parquet or .csv), epoch table next to it as `<stem>_epochs<suffix>`."""
    out = Path(out)
    if out.suffix not in (".parquet", ".csv"):
        raise HarnessError(f"--out must end in .parquet or .csv, got {out.name!r}")
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = [out, out.with_name(f"{out.stem}_epochs{out.suffix}")]
    for frame, path in zip((results.runs, results.epochs), paths):
        if out.suffix == ".parquet":
            storable(frame).to_parquet(path, index=False)
        else:
            frame.to_csv(path, index=False)
    return paths


def status_counts(runs: pd.DataFrame, by: Iterable[str]) -> pd.DataFrame:
    """Number of runs per status and group (all three status columns always present)."""
    keys = list(by)
    if runs.empty:
        return pd.DataFrame(columns=[*keys, *STATUSES])
    counts = pd.crosstab([runs[k] for k in keys], runs["status"])
    return counts.reindex(columns=list(STATUSES), fill_value=0).reset_index().rename_axis(columns=None)
