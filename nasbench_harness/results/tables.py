"""Comparison tables across seeds: one row per (space, dataset, method, setting).

Statistics use finished runs only (sample std, ddof 1; standard error = std / √n); failed and
unfinished runs are counted in their own columns and named in each section's notes. A sweep
(R-DARTS strengths) enters as its selected run per seed. Published numbers sit beside ours and are
always labelled "published". Sections render to Markdown, plain text and HTML with one code path,
every cell escaped.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from nasbench_harness.results import published
from nasbench_harness.results.load import STATUSES, status_counts, this_code
from nasbench_harness.results.verdict import group_verdict
from nasbench_harness.spaces import get_space, list_spaces

#: What a comparison row stands for: runs that differ only in seed (and swept strength).
GROUP = ["space", "dataset", "method", "setting"]
S_SPACES = ("s1", "s2", "s3", "s4")
DARTS_FAMILY = ("darts", *S_SPACES)

#: Figures averaged across seeds: runs-table column → label.
FIGURES: dict[str, str] = {
    "final_eval_valid_acc": "supernet valid acc",
    "gt_cifar10-valid_valid": "C10 valid",
    "gt_cifar10_test": "C10 test",
    "gt_cifar100_valid": "C100 valid",
    "gt_cifar100_test": "C100 test",
    "gt_ImageNet16-120_valid": "IN16-120 valid",
    "gt_ImageNet16-120_test": "IN16-120 test",
    "nb301_valid_acc_approx": "NB301 valid acc (approx., surrogate)",
    "final_eigenvalue": "final eigenvalue",
    "skip_cell": "skip",
    "skip_normal": "skip normal",
    "skip_reduce": "skip reduce",
    "search_hours": "search hours",
    "wall_hours": "wall-clock hours",
}
#: Provenance columns reported per group as the sorted distinct values (";"-joined).
#: What produced the numbers: versions, devices, result-changing choices and ground-truth files.
PROVENANCE = (
    "harness_version",
    "git_commit",
    "torch_version",
    "device",
    "device_name",
    "bn",
    "eigenvalue_mode",
    "gt_backend",
    "gt_file",
    "gt_sha256",
    "gt_label",
)
INFO = ("profile", "epochs", "method_args", "order", *PROVENANCE)
#: Methods that take the DARTS order as `method_args.order` (default second, as RobustDARTS ran them);
#: their runs from before that argument existed have no `order` and ran first order.
ORDER_ARG_METHODS = ("darts_es", "darts_ada", "rdarts_l2", "rdarts_dp")
#: Methods whose name fixes the order.
FIXED_ORDER = {"darts": "first", "darts_2nd": "second"}
NB201_ACCURACY = [
    "gt_cifar10-valid_valid",
    "gt_cifar10_test",
    "gt_cifar100_valid",
    "gt_cifar100_test",
    "gt_ImageNet16-120_valid",
    "gt_ImageNet16-120_test",
]
#: Our NB201 column → the published record's field.
_PUBLISHED_FIELDS = {
    "gt_cifar10-valid_valid": "cifar10_valid",
    "gt_cifar10_test": "cifar10_test",
    "gt_cifar100_valid": "cifar100_valid",
    "gt_cifar100_test": "cifar100_test",
    "gt_ImageNet16-120_valid": "imagenet16_valid",
    "gt_ImageNet16-120_test": "imagenet16_test",
}
MISSING = "–"
#: Run flags of load.py counted per group as `n_<flag>`: unfinished runs locked now, finished runs of other code.
FLAGS = ("running", "stale")
HOURS = ".3g"


def distinct(values: pd.Series) -> str:
    """Sorted distinct non-empty values, ";"-joined (how a group reports its provenance)."""
    return ";".join(sorted({str(v) for v in values if v is not None and v == v and v != ""}))


def _seed_list(seeds: pd.Series) -> str:
    return ";".join(str(v) for v in sorted(seeds))


def _cost_unit(devices: pd.Series) -> str:
    kinds = {"GPU-h" if str(d).startswith("cuda") else "CPU-h" for d in devices if isinstance(d, str)}
    return kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else "")


def with_hours(runs: pd.DataFrame) -> pd.DataFrame:
    """Adds search/wall hours (search = the summed epoch times; wall = the last session's wall clock)."""
    return runs.assign(
        search_hours=pd.to_numeric(runs.get("search_seconds"), errors="coerce") / 3600,
        wall_hours=pd.to_numeric(runs.get("wall_seconds"), errors="coerce") / 3600,
    )


def darts_order(runs: pd.DataFrame) -> pd.Series:
    """First- or second-order DARTS per run ("" for methods that are neither)."""
    args = runs["arg_order"] if "arg_order" in runs else pd.Series(None, index=runs.index, dtype=object)
    order = [
        str(arg)
        if isinstance(arg, str) and arg
        else ("first" if method in ORDER_ARG_METHODS else FIXED_ORDER.get(method, ""))
        for method, arg in zip(runs["method"], args)
    ]
    return pd.Series(order, index=runs.index, dtype=object)


def method_label(method: str, order: object) -> str:
    """The method as a table shows it: with its order where that is an argument, so the first- and
    second-order rows of one method (separate groups: their settings differ) are told apart."""
    return f"{method} ({order} order)" if method in ORDER_ARG_METHODS and isinstance(order, str) and order else method


def comparison(runs: pd.DataFrame) -> pd.DataFrame:
    """The numbers behind every table and the leaderboard, one row per group (see module doc).

    Columns: GROUP, n_runs (sweep members included), n_seeds (seeds of any status),
    n_finished / n_failed / n_unfinished, n_stale (finished runs of other code, in the statistics) and
    n_running (unfinished runs locked now) with stale_versions (the code of the stale ones),
    seeds / seeds_finished (";"-joined),
    `<figure>_mean/_std/_sem/_n` per figure present, best-of-N by validation (`best_seed`,
    `best_<figure>`), cost_unit, INFO columns (`order`: first/second-order DARTS, see `darts_order`),
    published columns (`pub_*`).
    """
    if runs.empty:
        return pd.DataFrame(columns=[*GROUP, "n_runs", "n_seeds", *(f"n_{s}" for s in (*STATUSES, *FLAGS))])
    runs = with_hours(runs).assign(order=darts_order)
    selected = runs[runs["selected"]]
    table = status_counts(selected, GROUP).rename(columns={s: f"n_{s}" for s in STATUSES})
    table["n_seeds"] = table[[f"n_{s}" for s in STATUSES]].sum(axis=1)
    table = table.merge(runs.groupby(GROUP).size().rename("n_runs").reset_index(), on=GROUP)
    grouped = selected.groupby(GROUP)
    info = grouped[[c for c in INFO if c in selected]].agg(distinct)
    info["cost_unit"] = grouped["device"].agg(_cost_unit) if "device" in selected else ""
    table = table.merge(info.reset_index(), on=GROUP, how="left")
    stale, running = _flag(selected, "stale"), _flag(selected, "running")
    versions = selected["code_versions"] if "code_versions" in selected else pd.Series("", index=selected.index)
    marks = selected[GROUP].assign(n_stale=stale, n_running=running, versions=versions.where(stale, ""))
    marks = marks.groupby(GROUP).agg(
        n_stale=("n_stale", "sum"), n_running=("n_running", "sum"), stale_versions=("versions", distinct)
    )
    table = table.merge(marks.reset_index(), on=GROUP, how="left")

    finished = selected[selected["status"] == "finished"]
    figures = [f for f in FIGURES if f in finished and finished[f].notna().any()]
    if figures:  # finished runs that logged no figure at all keep their counts and best seed, no statistics
        numbers = finished[GROUP + figures].copy()
        numbers[figures] = numbers[figures].apply(pd.to_numeric, errors="coerce")
        stats = numbers.groupby(GROUP)[figures].agg(["mean", "std", "count"])
        flat = pd.DataFrame(index=stats.index)
        for fig in figures:
            n = stats[(fig, "count")]
            flat[f"{fig}_mean"] = stats[(fig, "mean")]
            flat[f"{fig}_std"] = stats[(fig, "std")]
            flat[f"{fig}_sem"] = stats[(fig, "std")] / np.sqrt(n.where(n > 0))
            flat[f"{fig}_n"] = n
        table = table.merge(flat.reset_index(), on=GROUP, how="left")
    if not finished.empty:
        score = finished.get("final_eval_valid_acc", np.nan)
        best = (
            finished.assign(_score=pd.to_numeric(score, errors="coerce"))
            .sort_values(["_score", "seed"], ascending=[False, True], na_position="last")
            .drop_duplicates(GROUP)
        )
        best = best[GROUP + ["seed", "run_dir", "genotype", *figures]].rename(
            columns={"seed": "best_seed", "run_dir": "best_run_dir", "genotype": "best_genotype"}
            | {f: f"best_{f}" for f in figures}
        )
        table = table.merge(best, on=GROUP, how="left")
    table = table.merge(_group_verdicts(finished), on=GROUP, how="left")
    seeds = selected.groupby(GROUP)["seed"].agg(_seed_list).rename("seeds")
    done = finished.groupby(GROUP)["seed"].agg(_seed_list).rename("seeds_finished")
    table = table.merge(seeds.reset_index(), on=GROUP, how="left").merge(done.reset_index(), on=GROUP, how="left")
    table["seeds_finished"] = table["seeds_finished"].astype(object).fillna("")
    return _add_published(table).sort_values(GROUP, ignore_index=True)


def _group_verdicts(finished: pd.DataFrame) -> pd.DataFrame:
    """Per group, the collapse verdict across its finished runs: `n_collapsed` of `n_judged`, the collapse
    epochs (";"-joined) and the one-line `collapse` summary (results/verdict.py)."""
    columns = [*GROUP, "n_collapsed", "n_judged", "collapse_epochs", "collapse"]
    if finished.empty or "collapsed" not in finished:
        return pd.DataFrame(columns=columns)
    rows = []
    for key, runs in finished.groupby(GROUP):
        found = group_verdict(list(runs["collapsed"]), list(runs["collapse_epoch"]))
        epochs = ";".join(str(e) for e in sorted(found.epochs))
        rows.append([*key, found.collapsed, found.judged, epochs, found.summary()])
    return pd.DataFrame(rows, columns=columns)


def _flag(runs: pd.DataFrame, column: str) -> pd.Series:
    """A boolean run flag of load.py (`stale`, `running`); False for a frame read without it."""
    if column not in runs:
        return pd.Series(False, index=runs.index)
    return runs[column].astype(object).fillna(False).astype(bool)


def _add_published(table: pd.DataFrame) -> pd.DataFrame:
    label, error, bn_block = [], [], []
    values: dict[str, list[float | None]] = {f"pub_{c}": [] for c in _PUBLISHED_FIELDS}
    for row in table.itertuples(index=False):
        space, dataset, method = row.space, row.dataset, row.method
        nb = published.nb201_published(method, dataset) if space == "nb201" else None
        s_error = published.s_space_test_error(method, space, dataset) if space in S_SPACES else None
        label.append(nb.label if nb else ("DARTS (RobustDARTS)" if s_error is not None else ""))
        bn_block.append(nb.bn_block if nb else "")
        for column, attr in _PUBLISHED_FIELDS.items():
            values[f"pub_{column}"].append(getattr(nb, attr) if nb else None)
        error.append(s_error)
    return table.assign(pub_label=label, pub_bn_block=bn_block, pub_s_test_error=error, **values)


# ---------------------------------------------------------------------------------------------
# Display: sections of string tables


@dataclass
class Section:
    """A titled table of display strings with the notes that qualify it."""

    title: str
    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _number(value: float | None, digits: int | str) -> str:
    """Fixed decimals (int) or a format spec such as ".3g" (hours span seconds to days)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    spec = f".{digits}f" if isinstance(digits, int) else digits
    return f"{value:{spec}}"


def stat(row: pd.Series, figure: str, digits: int | str = 2) -> str:
    """Mean ± std (se x) over finished seeds; a single seed shows its value and n=1."""
    mean = row.get(f"{figure}_mean")
    if mean is None or pd.isna(mean):
        return MISSING
    n = int(row.get(f"{figure}_n", 0))
    if n < 2:
        return f"{_number(mean, digits)} (n=1)"
    std, sem = _number(row[f"{figure}_std"], digits), _number(row[f"{figure}_sem"], digits)
    return f"{_number(mean, digits)} ± {std} (se {sem})"


def _seeds(row: pd.Series) -> str:
    """finished / failed / unfinished, with how many of those are running now or stale."""
    counts = f"{int(row['n_finished'])} / {int(row['n_failed'])} / {int(row['n_unfinished'])}"
    marks = [f"{int(row[f'n_{m}'])} {m}" for m in FLAGS if row[f"n_{m}"] > 0]
    return f"{counts} ({', '.join(marks)})" if marks else counts


def _status_note(table: pd.DataFrame) -> list[str]:
    legend = "Seeds column: finished / failed / unfinished. Means, stds (ddof 1) and standard errors use finished runs"
    legend += " only."
    if (table["n_running"] > 0).any():
        legend += " Running: unfinished runs whose lock a process holds now."
    if (table["n_stale"] > 0).any():
        legend += (
            f" Stale: finished runs trained (in part) by another harness version or commit than this one, "
            f"{this_code()}; they are in the statistics; `nasbench run --rerun-stale` reruns them."
        )
    notes = [legend]
    left_out = table[(table["n_failed"] > 0) | (table["n_unfinished"] > 0)]
    for row in left_out.itertuples(index=False):
        notes.append(
            f"{method_label(row.method, row.order)} on {row.space}/{row.dataset}: {row.n_failed} failed and "
            f"{row.n_unfinished} unfinished run(s) are not in the statistics."
        )
    for row in table[table["n_stale"] > 0].itertuples(index=False):
        notes.append(
            f"{method_label(row.method, row.order)} on {row.space}/{row.dataset}: {row.n_stale} of "
            f"{row.n_finished} finished run(s) are stale (trained by {row.stale_versions or 'unrecorded code'})."
        )
    swept = table[table["n_runs"] > table["n_seeds"]]
    for row in swept.itertuples(index=False):
        notes.append(
            f"{method_label(row.method, row.order)} on {row.space}/{row.dataset}: a sweep of {row.n_runs} runs, "
            "one per seed kept (best final supernet validation accuracy)."
        )
    return notes


def nb201_section(table: pd.DataFrame) -> Section | None:
    """Ground truth of the final cells on all three datasets, published rows beneath ours."""
    rows = table[table["space"] == "nb201"]
    if rows.empty:
        return None
    out = []
    for _, row in rows.iterrows():
        out.append(
            {
                "method": method_label(row["method"], row["order"]),
                "search dataset": row["dataset"],
                "seeds": _seeds(row),
            }
            | {FIGURES[f]: stat(row, f) for f in NB201_ACCURACY}
        )
        if row["pub_label"]:
            out.append(
                {
                    "method": f"↳ published: {row['pub_label']} ({row['pub_bn_block']})",
                    "search dataset": row["dataset"],
                    "seeds": "",
                }
                | {FIGURES[f]: _number(row[f"pub_{f}"], 2) for f in NB201_ACCURACY}
            )
    notes = [
        "Accuracy (%) of the final cell in the NAS-Bench-201 ground truth (200 epochs): C10 valid = "
        "cifar10-valid x-valid, C10 test = cifar10 ori-test, C100/IN16-120 = x-valid and x-test.",
        "Published rows: NAS-Bench-201 paper, search on CIFAR-10 (test, and valid where it gives one); "
        "its figures depend on the ground-truth file version and the search BN setting: the paper has one "
        "block per track_running_stats setting, and the block of each row is given where it is confirmed.",
        *_status_note(rows),
    ]
    return Section("NAS-Bench-201: ground truth of the final cells", pd.DataFrame(out), notes)


def darts_family_section(table: pd.DataFrame) -> Section | None:
    """Surrogate accuracy of the final genotypes on the DARTS space and S1–S4 (mean over seeds)."""
    rows = table[table["space"].isin(DARTS_FAMILY)]
    if rows.empty:
        return None
    out = [
        {
            "method": method_label(row["method"], row["order"]),
            "space": row["space"],
            "dataset": row["dataset"],
            "seeds": _seeds(row),
            FIGURES["nb301_valid_acc_approx"]: stat(row, "nb301_valid_acc_approx"),
            FIGURES["final_eval_valid_acc"]: stat(row, "final_eval_valid_acc"),
        }
        for _, row in rows.iterrows()
    ]
    notes = [
        "NB301 figures are an approximate surrogate (YAHPO nb301 ONNX model, CIFAR-10 valid accuracy at "
        "epoch 98), not the official NAS-Bench-301 ensemble and not retrained accuracy; genotypes with "
        "`noise` (S4) have none.",
        *_status_note(rows),
    ]
    return Section("DARTS space and S1–S4: final genotypes", pd.DataFrame(out), notes)


def robustdarts_section(table: pd.DataFrame) -> Section | None:
    """The S1–S4 protocol: the best of N seeds by final supernet validation accuracy."""
    rows = table[table["space"].isin(S_SPACES)]
    if rows.empty:
        return None
    out = []
    for _, row in rows.iterrows():
        has_best = "best_seed" in row and pd.notna(row["best_seed"])
        out.append(
            {
                "method": method_label(row["method"], row["order"]),
                "space": row["space"],
                "dataset": row["dataset"],
                "N (finished)": str(int(row["n_finished"])),
                "best seed": str(int(row["best_seed"])) if has_best else MISSING,
                "its supernet valid acc": _number(row.get("best_final_eval_valid_acc"), 2),
                "its NB301 valid acc (approx.)": _number(row.get("best_nb301_valid_acc_approx"), 2),
                "its skip normal": _number(row.get("best_skip_normal"), 0),
                "published DARTS test error (%, retrained)": _number(row["pub_s_test_error"], 2),
            }
        )
    notes = [
        "RobustDARTS protocol: of N searches, report the one with the best final supernet validation "
        "accuracy (`eval_valid_acc`). The paper then retrains it (600 epochs) and reports test error; "
        "here the retraining is not run, so ours is the surrogate's approximate figure.",
        "Published: DARTS row of the RobustDARTS S1–S4 table (best of 4), beside darts_2nd only: RobustDARTS "
        "searched with second-order DARTS (`--unrolled`). The R-DARTS/ES/ADA columns are unconfirmed and not shown.",
        *_status_note(rows),
    ]
    return Section("S1–S4: RobustDARTS protocol (best of N seeds by validation)", pd.DataFrame(out), notes)


def collapse_section(table: pd.DataFrame) -> Section | None:
    """Collapse signals and cost for every group: skip counts, final eigenvalue, hours."""
    if table.empty:
        return None
    out = []
    for _, row in table.iterrows():
        skip = "skip_cell" if row["space"] == "nb201" else "skip_normal"
        out.append(
            {
                "method": method_label(row["method"], row["order"]),
                "space": row["space"],
                "dataset": row["dataset"],
                "seeds": _seeds(row),
                "collapse verdict": _collapse(row),
                "skip (normal cell)": stat(row, skip, 1),
                "skip reduce": stat(row, "skip_reduce", 1) if row["space"] != "nb201" else MISSING,
                "final eigenvalue": stat(row, "final_eigenvalue", 3),
                "eigenvalue mode": row.get("eigenvalue_mode", "") or MISSING,
                "search cost per run": _cost(row, "search_hours"),
                "wall-clock per run (h)": stat(row, "wall_hours", HOURS),
            }
        )
    notes = [
        verdict_note(table["space"]),
        "Skip counts are those of the reported genotype (early stopping may report an earlier one).",
        "Search cost: summed epoch times per run (training and supernet evaluation, not the harness's "
        "per-epoch metrics) in device hours: GPU-h on CUDA, CPU-h otherwise (hours on that device, not "
        "multiplied by cores). Wall-clock: the run's last session, with setup and metrics (a lower bound "
        "for resumed runs).",
        *_status_note(table),
    ]
    return Section("Collapse signals and search cost", pd.DataFrame(out), notes)


def overview_section(table: pd.DataFrame, space: str) -> Section | None:
    """The one-screen summary of `space`: every method's final true accuracy (NB201 ground truth on the
    search dataset, NB301 surrogate elsewhere) beside its published figure, skip count and cost."""
    rows = table[table["space"] == space]
    if rows.empty:
        return None
    out = []
    several = rows.groupby(["method", "dataset"])["setting"].transform("nunique") > 1
    for (_, row), setting_shown in zip(rows.iterrows(), several):
        method = method_label(row["method"], row["order"]) + (f" [{row['setting']}]" if setting_shown else "")
        if space == "nb201":
            acc = _NB201_OVERVIEW.get(row["dataset"], "gt_cifar10_test")
            published_value = _number(row.get(f"pub_{acc}"), 2)
            if published_value != MISSING:
                published_value = f"{published_value} ({row['pub_label']})"
        else:
            acc, published_value = "nb301_valid_acc_approx", MISSING
        skip = "skip_cell" if space == "nb201" else "skip_normal"
        out.append(
            {
                "method": method,
                "dataset": row["dataset"],
                "seeds": _seeds(row),
                "final accuracy": stat(row, acc),
                "published": published_value,
                "skip": stat(row, skip, 1),
                "collapse verdict": _collapse(row),
                "search cost per run": _cost(row, "search_hours"),
            }
        )
    kind = (
        "NAS-Bench-201 ground-truth test accuracy (%) of the final cell on its search dataset; published: the "
        "NAS-Bench-201 paper's row for the method (search on CIFAR-10)."
        if space == "nb201"
        else "Approximate NB301 surrogate CIFAR-10 valid accuracy (%) of the final genotype (not retrained)."
    )
    return Section(f"Overview: {space}", pd.DataFrame(out), [kind, *_status_note(rows)[:1]])


#: NB201 search dataset → the overview's accuracy column (test accuracy on that dataset).
_NB201_OVERVIEW = {
    "cifar10": "gt_cifar10_test",
    "cifar100": "gt_cifar100_test",
    "imagenet16-120": "gt_ImageNet16-120_test",
}


def verdict_note(spaces: Iterable[str]) -> str:
    """What the collapse verdict means for the spaces shown (each space's `CollapseMeasure`)."""
    rules = [f"{space}: {get_space(space).collapse.describe()}" for space in sorted(set(spaces)) if _measured(space)]
    return (
        "Collapse verdict: a finished run collapsed when its reported cell and the cells of the two epochs before "
        f"it are filled with parameter-free ops ({'; '.join(rules) or 'no space shown has a measure'}); the epoch is "
        "the first of that stretch (the median over the collapsed runs). Definition: docs/collapse.md."
    )


def _measured(space: str) -> bool:
    return space in list_spaces() and get_space(space).collapse is not None


def _collapse(row: pd.Series) -> str:
    text = row.get("collapse")
    return text if isinstance(text, str) and text else MISSING


def verdict_section(runs: pd.DataFrame) -> Section | None:
    """Every finished run's collapse verdict in one line each (results/verdict.py)."""
    if runs.empty or "collapse_verdict" not in runs:
        return None
    done = runs[runs["selected"] & (runs["status"] == "finished") & runs["collapse_verdict"].notna()]
    if done.empty:
        return None
    done = done.assign(order=darts_order).sort_values(["space", "dataset", "method", "seed"])
    frame = pd.DataFrame(
        {
            "method": [method_label(m, o) for m, o in zip(done["method"], done["order"])],
            "space": done["space"],
            "dataset": done["dataset"],
            "seed": done["seed"].astype(str),
            "verdict": done["collapse_verdict"],
        }
    )
    return Section("Collapse verdict per run", frame.reset_index(drop=True), [verdict_note(done["space"])])


def _cost(row: pd.Series, figure: str) -> str:
    text = stat(row, figure, HOURS)
    unit = row.get("cost_unit") or ""
    return f"{text} {unit}".strip() if text != MISSING else MISSING


def published_section() -> Section:
    """Every confirmed published number, for reference even where no run of ours matches."""
    rows = [
        {
            "method (published)": p.label,
            "C10 test": _number(p.cifar10_test, 2),
            "C100 test": _number(p.cifar100_test, 2),
            "IN16-120 test": _number(p.imagenet16_test, 2),
            "BN block": p.bn_block if p is not published.NB201_OPTIMUM else "",
            "note": p.note,
        }
        for p in (*published.NB201.values(), published.NB201_OPTIMUM)
    ]
    errors = {}
    for (space, dataset), value in published.DARTS_S_TEST_ERROR.items():
        errors.setdefault(dataset, {})[space] = value
    notes = [
        "NAS-Bench-201 paper, search on CIFAR-10, test accuracy (%). DARTS test error (%) on S1–S4 "
        "(RobustDARTS): "
        + "; ".join(f"{d}: " + " / ".join(_number(v[s], 2) for s in S_SPACES) for d, v in errors.items())
        + " (S1 / S2 / S3 / S4).",
        "The NAS-Bench-201 paper gives one block of search results per BN setting of the search network "
        "(track_running_stats); compare a run with the block of its own setting (network.track_running_stats "
        "in its metadata).",
    ]
    return Section("Published reference numbers (confirmed only)", pd.DataFrame(rows), notes)


def sections(runs: pd.DataFrame) -> list[Section]:
    """All comparison sections that have data, then the published reference."""
    table = comparison(runs)
    builders: Sequence[Callable[[pd.DataFrame], Section | None]] = (
        nb201_section,
        darts_family_section,
        robustdarts_section,
        collapse_section,
    )
    found = [s for s in (b(table) for b in builders) if s is not None] if not table.empty else []
    per_run = verdict_section(runs)
    return [*found, *([per_run] if per_run else []), published_section()]


def runs_section(runs: pd.DataFrame) -> Section:
    """Every run with its status, so failed and unfinished ones are visible by name."""
    columns = ["method", "space", "dataset", "seed", "status", "selected", "epochs_logged", "genotype", "reason"]
    frame = runs.reindex(columns=columns).sort_values(["space", "dataset", "method", "seed"])
    flags = {"running": _flag(runs, "running"), "stale": _flag(runs, "stale")}
    frame = frame.astype(object).where(frame.notna(), "").astype(str)
    for flag, on in flags.items():
        frame.loc[on.reindex(frame.index), "status"] += f" ({flag})"
    notes = [
        "`selected` is False for sweep runs not kept. (running): a process holds the run's lock now; "
        f"(stale): finished by another harness version or commit than this one, {this_code()}."
    ]
    return Section("Runs", frame.reset_index(drop=True), notes)


# ---------------------------------------------------------------------------------------------
# Rendering


def markdown_table(frame: pd.DataFrame) -> str:
    """GitHub Markdown; cells HTML-escaped (a viewer renders inline HTML) and `|` escaped."""

    def cell(value: object) -> str:
        return html.escape(str(value), quote=False).replace("|", "\\|").replace("\n", " ")

    head = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def text_table(frame: pd.DataFrame) -> str:
    """Fixed-width plain text for terminals."""
    cells = [[str(c) for c in frame.columns]] + [[str(v) for v in row] for row in frame.itertuples(index=False)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(frame.columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def html_table(frame: pd.DataFrame) -> str:
    """An HTML table with every header and cell escaped."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_markdown(section: Section) -> str:
    notes = "\n".join(f"- {html.escape(n, quote=False)}" for n in section.notes)
    return f"## {html.escape(section.title, quote=False)}\n\n{markdown_table(section.table)}\n\n{notes}\n"


def render_text(section: Section) -> str:
    notes = "\n".join(f"  * {n}" for n in section.notes)
    return f"{section.title}\n{'=' * len(section.title)}\n{text_table(section.table)}\n{notes}\n"
