"""Retrained test errors: load `evaluations/` run directories and lay them out as the S1–S4 papers do.

Rows are spaces, columns dataset × method, cells mean ± std of the test error (%) over retraining seeds
of the final stage, beside the published figure where reference.md §5 confirms one. A cell whose runs
did not follow the full published protocol (fewer epochs, a smaller network, a data limit) is marked †,
so a tiny CPU check is never read as a reproduction. A cell holding stale retrains (finished by another
harness version or commit than the one reading, results/load.py `code_state`) is marked ‡.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from nasbench_harness.engine.record import lock_holder
from nasbench_harness.results import published
from nasbench_harness.results.labels import official, run_label
from nasbench_harness.results.load import code_state, setting_key, this_code
from nasbench_harness.results.tables import MISSING, Section

EVALUATIONS = "evaluations"
#: Columns of the per-evaluation table, in order.
COLUMNS = (
    "eval_dir", "space", "dataset", "method", "setting", "seed", "stage", "status", "stale", "running",
    "test_error", "valid_error", "params_mb", "flops_m", "epochs", "full_protocol", "genotype", "search_run",
    "config_hash", "reason",
)  # fmt: skip
#: The leaderboard's retraining columns (joined on method, space, dataset, setting).
LEADERBOARD_EXTRA = (
    "retrain_n_seeds",
    "retrain_test_error_mean",
    "retrain_test_error_std",
    "retrain_params_mb",
    "retrain_full_protocol",
)
_KEYS = ["space", "dataset", "method", "setting"]
_SPACE_ORDER = ("s1", "s2", "s3", "s4", "darts", "darts_nonone", "nb201")
_DATASET_ORDER = ("cifar10", "cifar100", "svhn", "ImageNet16-120")


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _full_protocol(config: dict[str, Any]) -> bool:
    """Whether the run used the published protocol for its space and dataset (seeds aside)."""
    from nasbench_harness.evaluation.protocols import EvalConfig, default_eval_config

    try:
        ran = EvalConfig.model_validate(config)
        expected = default_eval_config(ran.genotype, ran.space, ran.dataset, ran.seed)
    except Exception:  # noqa: BLE001 - a config this harness cannot read is not the protocol
        return False
    keep = ("train", "network")
    data = ran.data.model_dump()
    return all(getattr(ran, k) == getattr(expected, k) for k in keep) and (
        data["limit_train"] is None
        and data["limit_test"] is None
        and data["cutout_length"] == expected.data.cutout_length
    )


def load_evaluations(root: str | Path) -> pd.DataFrame:
    """One row per evaluation directory under `root/evaluations` (finished, failed or unfinished)."""
    root = Path(root)
    rows = []
    dirs = {
        p.parent for marker in ("metadata.json", "failed.json") for p in root.glob(f"{EVALUATIONS}/*/*/*/*/{marker}")
    }
    for directory in sorted(dirs, key=str):
        metadata = _read(directory / "metadata.json") or {}
        result = _read(directory / "result.json")
        failed = None if result is not None else _read(directory / "failed.json")
        config = metadata.get("config") or (failed or {}).get("config") or {}
        search_config = {}
        if config.get("search_run"):
            search_config = (_read(root / config["search_run"] / "metadata.json") or {}).get("config") or {}
        status = "finished" if result is not None else ("failed" if failed is not None else "unfinished")
        stale = status == "finished" and code_state(metadata)[1]
        rows.append(
            {
                "eval_dir": directory.relative_to(root).as_posix(),
                "space": config.get("space"),
                "dataset": config.get("dataset"),
                "method": config.get("method"),
                "setting": setting_key(search_config) if search_config else "",
                "seed": config.get("seed"),
                "stage": config.get("stage", "final"),
                "status": status,
                "stale": stale,
                "running": status == "unfinished" and lock_holder(directory) is not None,
                "test_error": (result or {}).get("test_error"),
                "valid_error": (result or {}).get("valid_error"),
                "params_mb": (result or {}).get("params_mb") or (metadata.get("network") or {}).get("params_mb"),
                "flops_m": (result or {}).get("flops_m") or (metadata.get("network") or {}).get("flops_m"),
                "epochs": (config.get("train") or {}).get("epochs"),
                "full_protocol": _full_protocol(config) if config else False,
                "genotype": config.get("genotype"),
                "search_run": config.get("search_run"),
                "config_hash": metadata.get("config_hash") or (failed or {}).get("config_hash"),
                "reason": (failed or {}).get("reason", ""),
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def evaluation_summary(evals: pd.DataFrame) -> pd.DataFrame:
    """Per (space, dataset, method, setting): finished final-stage seeds, test error mean / std, params,
    whether every run followed the full protocol, and the published figure."""
    columns = [*_KEYS, *LEADERBOARD_EXTRA, "retrain_n_stale", "published_test_error"]
    final = evals[(evals["stage"] == "final") & (evals["status"] == "finished")] if not evals.empty else evals
    if final.empty:
        return pd.DataFrame(columns=columns)
    grouped = final.assign(test_error=pd.to_numeric(final["test_error"])).groupby(_KEYS)
    table = pd.DataFrame(
        {
            "retrain_n_seeds": grouped["seed"].nunique(),
            "retrain_test_error_mean": grouped["test_error"].mean(),
            "retrain_test_error_std": grouped["test_error"].std(),
            "retrain_params_mb": grouped["params_mb"].mean(),
            "retrain_full_protocol": grouped["full_protocol"].all(),
            "retrain_n_stale": grouped["stale"].sum(),
        }
    ).reset_index()
    table["published_test_error"] = [
        published.s_space_test_error(m, s, d) for m, s, d in zip(table["method"], table["space"], table["dataset"])
    ]
    return table[columns]


def _order(values: pd.Series, order: tuple[str, ...]) -> list[str]:
    seen = list(dict.fromkeys(values))
    return sorted(seen, key=lambda v: (order.index(v) if v in order else len(order), v))


def evaluation_section(evals: pd.DataFrame) -> Section | None:
    """The S1–S4 layout: rows spaces, columns dataset × method (test error %), published beside."""
    summary = evaluation_summary(evals)
    if summary.empty:
        return None
    # a method searched with several settings gets one column per setting, labelled by its hash
    settings = summary.groupby("method")["setting"].nunique()
    names = {m: m if official(m) else f"{m} (unofficial)" for m in settings.index}
    summary = summary.assign(
        label=[
            names[m] if settings[m] == 1 else f"{names[m]} [{s or 'genotype'}]"
            for m, s in zip(summary["method"], summary["setting"])
        ]
    )
    columns: list[tuple[str, str]] = []
    for dataset in _order(summary["dataset"], _DATASET_ORDER):
        labels = summary.loc[summary["dataset"] == dataset, "label"]
        columns += [(dataset, label) for label in sorted(set(labels))]
    rows = []
    reduced = stale = False
    for space in _order(summary["space"], _SPACE_ORDER):
        row: dict[str, str] = {"space": space}
        for dataset, label in columns:
            hit = summary[(summary["space"] == space) & (summary["dataset"] == dataset) & (summary["label"] == label)]
            ours = f"{dataset} {label}"
            if hit.empty:
                row[ours] = MISSING
                continue
            h = hit.iloc[0]
            std = "" if pd.isna(h["retrain_test_error_std"]) else f" ± {h['retrain_test_error_std']:.2f}"
            mark = ("" if h["retrain_full_protocol"] else " †") + (" ‡" if h["retrain_n_stale"] else "")
            reduced |= not h["retrain_full_protocol"]
            stale |= bool(h["retrain_n_stale"])
            row[ours] = f"{h['retrain_test_error_mean']:.2f}{std} (n={h['retrain_n_seeds']}){mark}"
            if pd.notna(h["published_test_error"]):
                row[f"{ours} (published)"] = f"{h['published_test_error']:.2f}"
        rows.append(row)
    frame = pd.DataFrame(rows).fillna(MISSING)
    notes = [
        "Test error (%) of the retrained derived genotype, mean ± std over retraining seeds (final stage only); "
        "published: RobustDARTS' DARTS row (best of 4 searches, retrained), reference.md §5.",
        "Protocols (docs/evaluation.md): DARTS/S1–S4 600 epochs, CIFAR-10 20 cells C 36, CIFAR-100/SVHN 8 cells "
        "C 16; NAS-Bench-201 its 200-epoch recipe (compare with the table's test accuracy).",
    ]
    for (method, space), _ in summary.groupby(["method", "space"]):
        qualifiers = run_label(method, space).qualifiers
        if qualifiers and qualifiers != ("unofficial",):  # that one is in the column's name
            notes.append(f"{method} on {space}: {'; '.join(qualifiers)} (see the comparison tables' notes).")
    if reduced:
        notes.append(
            "† not the full published protocol (fewer epochs, a smaller network or a data limit): not a reproduction."
        )
    if stale:
        notes.append(
            f"‡ holds stale retrains, finished by another harness version or commit than this one, {this_code()}; "
            "they are in the mean (`nasbench evaluate --rerun-stale` reruns them; the run list marks them)."
        )
    return Section("Retrained test error (S1–S4 layout)", frame, notes)


def evaluation_runs_section(evals: pd.DataFrame) -> Section | None:
    """Every evaluation run, selection retrains included, with parameters and FLOPs."""
    if evals.empty:
        return None
    columns = [
        "space",
        "dataset",
        "method",
        "seed",
        "stage",
        "status",
        "test_error",
        "valid_error",
        "params_mb",
        "flops_m",
        "epochs",
        "reason",
    ]
    frame = evals.reindex(columns=columns).sort_values(["space", "dataset", "method", "stage", "seed"])
    frame = frame.astype(object).where(frame.notna(), "").astype(str)
    for flag in ("running", "stale"):
        frame.loc[evals[flag].astype(bool).reindex(frame.index), "status"] += f" ({flag})"
    return Section(
        "Evaluation runs", frame.reset_index(drop=True), ["params_mb: auxiliary head excluded (DARTS' count)."]
    )


def report_sections(root: str | Path) -> list[Section]:
    """What the report appends: the S1–S4 table and the list of evaluation runs (nothing without any)."""
    evals = load_evaluations(root)
    return [s for s in (evaluation_section(evals), evaluation_runs_section(evals)) if s is not None]


def join_leaderboard(board: pd.DataFrame, root: str | Path) -> pd.DataFrame:
    """The leaderboard with its retraining columns filled from `root/evaluations` (empty where none)."""
    summary = evaluation_summary(load_evaluations(root))
    extra = list(LEADERBOARD_EXTRA)
    if summary.empty or board.empty:
        return board.assign(**{c: pd.NA for c in extra})
    merged = board.drop(columns=[c for c in extra if c in board]).merge(summary[[*_KEYS, *extra]], on=_KEYS, how="left")
    return merged
