"""The leaderboard CSV: one row per (method, space, dataset, setting), in a fixed column schema.

The column list is a constant (and pinned by a test), so CSVs written on different machines
concatenate with `pandas.concat` or `tail -n +2`. A column that does not apply (NB201 accuracies on
the DARTS space) is empty, never dropped. Changing the list means bumping SCHEMA_VERSION.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from nasbench_harness.results.tables import comparison

SCHEMA_VERSION = 3

#: Leaderboard column → comparison-table column (None: computed here).
_SOURCES: dict[str, str | None] = {
    "schema_version": None,
    "harness_version": "harness_version",
    "git_commit": "git_commit",
    "torch_version": "torch_version",
    "method": "method",
    "space": "space",
    "dataset": "dataset",
    "setting": "setting",
    "profile": "profile",
    "epochs": "epochs",
    "method_args": "method_args",
    "device": "device",
    "device_name": "device_name",
    "search_bn": "bn",
    "eigenvalue_mode": "eigenvalue_mode",
    "gt_backend": "gt_backend",
    "gt_file": "gt_file",
    "gt_sha256": "gt_sha256",
    "n_runs": "n_runs",
    "n_seeds": "n_seeds",
    "n_finished": "n_finished",
    "n_failed": "n_failed",
    "n_unfinished": "n_unfinished",
    "seeds": "seeds",
    "seeds_finished": "seeds_finished",
    "eval_valid_acc_mean": "final_eval_valid_acc_mean",
    "eval_valid_acc_std": "final_eval_valid_acc_std",
    "c10_valid_mean": "gt_cifar10-valid_valid_mean",
    "c10_valid_std": "gt_cifar10-valid_valid_std",
    "c10_test_mean": "gt_cifar10_test_mean",
    "c10_test_std": "gt_cifar10_test_std",
    "c100_valid_mean": "gt_cifar100_valid_mean",
    "c100_valid_std": "gt_cifar100_valid_std",
    "c100_test_mean": "gt_cifar100_test_mean",
    "c100_test_std": "gt_cifar100_test_std",
    "in16_valid_mean": "gt_ImageNet16-120_valid_mean",
    "in16_valid_std": "gt_ImageNet16-120_valid_std",
    "in16_test_mean": "gt_ImageNet16-120_test_mean",
    "in16_test_std": "gt_ImageNet16-120_test_std",
    "nb301_approx_mean": "nb301_valid_acc_approx_mean",
    "nb301_approx_std": "nb301_valid_acc_approx_std",
    "best_seed": "best_seed",
    "best_eval_valid_acc": "best_final_eval_valid_acc",
    "best_c10_test": "best_gt_cifar10_test",
    "best_nb301_approx": "best_nb301_valid_acc_approx",
    "eigenvalue_mean": "final_eigenvalue_mean",
    "eigenvalue_std": "final_eigenvalue_std",
    "skip_normal_mean": None,
    "skip_normal_std": None,
    "skip_reduce_mean": "skip_reduce_mean",
    "skip_reduce_std": "skip_reduce_std",
    # schema 3: the collapse verdict across the finished seeds (results/verdict.py, docs/collapse.md)
    "n_collapsed": "n_collapsed",
    "n_judged": "n_judged",
    "collapse_epochs": "collapse_epochs",
    "collapse_verdict": "collapse",
    "cost_unit": "cost_unit",
    "search_hours_mean": "search_hours_mean",
    "search_hours_total": None,
    "wall_hours_mean": "wall_hours_mean",
    "published_label": "pub_label",
    "published_c10_test": "pub_gt_cifar10_test",
    "published_c100_test": "pub_gt_cifar100_test",
    "published_in16_test": "pub_gt_ImageNet16-120_test",
    "published_s_test_error": "pub_s_test_error",
    # schema 2: retrained test error of the group's genotypes (results/evaluation_table.py)
    "retrain_n_seeds": None,
    "retrain_test_error_mean": None,
    "retrain_test_error_std": None,
    "retrain_params_mb": None,
    "retrain_full_protocol": None,
}

#: The schema, in order. Accuracies in %, hours per run unless `_total`; c10/c100/in16 = NB201 ground
#: truth of the final cells (c10_valid = cifar10-valid x-valid); nb301_approx = surrogate, approximate;
#: skip_normal = skips in the normal cell (NB201: its only cell); `published_*` = reference.md §5.
LEADERBOARD_COLUMNS: tuple[str, ...] = tuple(_SOURCES)


def leaderboard(runs: pd.DataFrame, evaluations_root: str | Path | None = None) -> pd.DataFrame:
    """The leaderboard of a runs table (from `load_results`), columns exactly LEADERBOARD_COLUMNS; the
    retrain_* columns come from `evaluations_root`/evaluations when given (empty otherwise)."""
    table = comparison(runs)
    out = pd.DataFrame({name: table.get(src) for name, src in _SOURCES.items() if src is not None}, index=table.index)
    out["schema_version"] = SCHEMA_VERSION
    is_nb201 = table["space"] == "nb201"
    for stat in ("mean", "std"):
        cell, normal = table.get(f"skip_cell_{stat}"), table.get(f"skip_normal_{stat}")
        out[f"skip_normal_{stat}"] = cell.where(is_nb201, normal) if cell is not None else normal
    if "search_hours_mean" in table:
        out["search_hours_total"] = table["search_hours_mean"] * table["search_hours_n"]
    if evaluations_root is not None:
        from nasbench_harness.results.evaluation_table import join_leaderboard

        out = join_leaderboard(out, evaluations_root)
    return out.reindex(columns=list(LEADERBOARD_COLUMNS))


#: Leaderboard columns `nasbench leaderboard` prints: heading, mean column, std column (or None), format.
_DISPLAY: tuple[tuple[str, str, str | None, str], ...] = (
    ("valid acc %", "eval_valid_acc_mean", "eval_valid_acc_std", ".2f"),
    ("NB201 C10 test %", "c10_test_mean", "c10_test_std", ".2f"),
    ("NB301 approx %", "nb301_approx_mean", "nb301_approx_std", ".2f"),
    ("skip (normal)", "skip_normal_mean", "skip_normal_std", ".1f"),
    ("search h/run", "search_hours_mean", None, ".3g"),
)


def leaderboard_display(frame: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard's headline figures as display strings (mean ± std; "-" where a figure does not apply)."""

    def figure(row: pd.Series, mean: str, std: str | None, spec: str) -> str:
        value = row[mean]
        if pd.isna(value):
            return "-"
        spread = row[std] if std is not None else float("nan")
        return f"{value:{spec}}" if pd.isna(spread) else f"{value:{spec}} ± {spread:{spec}}"

    rows = []
    for _, row in frame.iterrows():
        shown = {
            "method": row["method"],
            "space": row["space"],
            "dataset": row["dataset"],
            "setting": row["setting"],
            "seeds (fin/all)": f"{row['n_finished']}/{row['n_seeds']}",
        }
        for heading, mean, std, spec in _DISPLAY:
            shown[heading] = figure(row, mean, std, spec)
        shown["collapse"] = row["collapse_verdict"] if isinstance(row["collapse_verdict"], str) else "-"
        shown["cost"] = row["cost_unit"] if isinstance(row["cost_unit"], str) else "-"
        rows.append(shown)
    columns = [
        "method",
        "space",
        "dataset",
        "setting",
        "seeds (fin/all)",
        *(d[0] for d in _DISPLAY),
        "collapse",
        "cost",
    ]
    return pd.DataFrame(rows, columns=columns)


def write_leaderboard(runs: pd.DataFrame, path: str | Path, evaluations_root: str | Path | None = None) -> pd.DataFrame:
    """Write the leaderboard CSV (header always present, even with no runs) and return it."""
    frame = leaderboard(runs, evaluations_root)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return frame
