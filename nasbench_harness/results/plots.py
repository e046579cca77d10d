"""Figures of a results tree: the per-space overview, collapse curves, final accuracy distributions, α heat maps.

Figures are built on `matplotlib.figure.Figure` with the Agg canvas, never pyplot, so plotting sets
no global backend and works headless. Each figure is saved as PNG (reports embed it) and optionally
PDF (papers). Curves use each run's current rows (the latest segment of every epoch) and only
finished runs, the same runs the tables average.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from nasbench_harness.results import published
from nasbench_harness.results.load import _read_json, _read_metrics
from nasbench_harness.spaces import get_space, list_spaces

#: Search dataset → the NB201 ground-truth key of the final cell's test accuracy on it.
_NB201_TEST = {
    "cifar10": "gt_cifar10_test",
    "cifar100": "gt_cifar100_test",
    "imagenet16-120": "gt_ImageNet16-120_test",
}
_NB201_DISTRIBUTION = {
    "gt_cifar10_test": ("C10 test", "cifar10_test"),
    "gt_cifar100_test": ("C100 test", "cifar100_test"),
    "gt_ImageNet16-120_test": ("IN16-120 test", "imagenet16_test"),
}
NB301_LABEL = "NB301 valid acc, approx. (surrogate)"


def accuracy_key(space: str, dataset: str) -> tuple[str, str]:
    """(column, axis label) of the derived cell's true quality for a (space, dataset)."""
    if space == "nb201":
        key = _NB201_TEST.get(dataset, "gt_cifar10_test")
        return key, f"ground truth {key.removeprefix('gt_')} (%)"
    return "nb301_valid_acc_approx", f"{NB301_LABEL} (%)"


def skip_key(space: str) -> str:
    return "skip_cell" if space == "nb201" else "skip_normal"


def save(fig: Figure, stem: Path, pdf: bool = True) -> list[Path]:
    """Write `stem.png` (and `stem.pdf`); returns the paths written."""
    FigureCanvasAgg(fig)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png")] + ([stem.with_suffix(".pdf")] if pdf else [])
    for path in paths:
        fig.savefig(path, dpi=110, bbox_inches="tight")
    return paths


def _label(frame: pd.DataFrame) -> pd.Series:
    """Legend label per row: the method, plus the setting when one method has several here."""
    several = frame.groupby("method")["setting"].transform("nunique") > 1
    return frame["method"].astype(str).where(~several, frame["method"].astype(str) + " [" + frame["setting"] + "]")


def _band(ax: Axes, frame: pd.DataFrame, column: str) -> bool:
    """Mean line and ±1 std band over runs per label and epoch; False if the column has no values."""
    if column not in frame or frame[column].notna().sum() == 0:
        return False
    data = frame.assign(_label=_label(frame), _v=pd.to_numeric(frame[column], errors="coerce")).dropna(subset="_v")
    for label, rows in data.groupby("_label", sort=True):
        stats = rows.groupby("epoch")["_v"].agg(["mean", "std", "count"])
        n = rows["run_dir"].nunique()
        (line,) = ax.plot(stats.index, stats["mean"], marker="o", ms=3, label=f"{label} (n={n})")
        std = stats["std"].fillna(0.0)
        ax.fill_between(stats.index, stats["mean"] - std, stats["mean"] + std, color=line.get_color(), alpha=0.2)
    return True


def _has_values(frame: pd.DataFrame, column: str) -> bool:
    return column in frame and pd.to_numeric(frame[column], errors="coerce").notna().any()


#: Enough distinct styles for a dozen methods and more: 10 colours × 3 line styles, a marker each (so
#: methods whose curves coincide, as in a short smoke run, still show).
_STYLES = [(f"C{i % 10}", ("-", "--", ":")[(i // 10) % 3]) for i in range(30)]
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")


def overview_labels(frame: pd.DataFrame) -> pd.Series:
    """Legend label per epoch row of one space: the method (with its setting where one method has several
    here), plus the search dataset where the space was searched on several."""
    label = _label(frame)
    if frame["dataset"].nunique() > 1:
        label = label + " · " + frame["dataset"].astype(str)
    return label


def overview_figure(epochs: pd.DataFrame, space: str, runs: pd.DataFrame | None = None) -> Figure:
    """Every method on `space` in one figure: the derived cell's true accuracy (NB201 ground truth of the
    search dataset, NB301 surrogate elsewhere), its skip count, its parameter-free op count against the
    space's collapse threshold, and the dominant eigenvalue, per epoch; mean over finished seeds, the seeds'
    min–max band where there are several. One legend entry per method, the same style in every panel, with
    the collapse verdict of its seeds when `runs` (the runs table, with `collapsed`) is given."""
    frame = epochs[epochs["space"] == space]
    frame = frame.assign(_label=overview_labels(frame)) if not frame.empty else frame.assign(_label=[])
    datasets = sorted(frame["dataset"].unique()) if not frame.empty else []
    if space == "nb201":
        acc_label = (
            accuracy_key(space, datasets[0])[1] if len(datasets) == 1 else "ground truth test acc, search dataset (%)"
        )
    else:
        acc_label = f"{NB301_LABEL} (%)"
    measure = get_space(space).collapse if space in list_spaces() else None
    cell = measure.cell if measure else skip_key(space).removeprefix("skip_")
    verdicts = _label_verdicts(frame, runs)
    fig = Figure(figsize=(12.5, 7.0), layout="constrained")
    (ax_acc, ax_skip), (ax_free, ax_eig) = fig.subplots(2, 2)
    derived = "derived cell" if cell == "cell" else f"derived {cell} cell"
    panels = (
        (ax_acc, None, acc_label),
        (ax_skip, f"skip_{cell}", f"skip connections ({derived})"),
        (ax_free, f"param_free_{cell}", f"parameter-free ops ({derived})"),
        (ax_eig, "eigenvalue", "dominant eigenvalue of ∇²α L_valid"),
    )
    styles = dict(zip(sorted(frame["_label"].unique()), _STYLES * 4))
    markers = dict(zip(sorted(frame["_label"].unique()), _MARKERS * 12))
    drawn = dict.fromkeys((ax for ax, _, _ in panels), False)
    for label, rows in frame.groupby("_label", sort=True):
        color, dash = styles[label]
        n = rows["run_dir"].nunique()
        legend = f"{label} (n={n}{', ' + verdicts[label] if label in verdicts else ''})"
        for ax, column, _ in panels:
            column = column or accuracy_key(space, str(rows["dataset"].iloc[0]))[0]
            values = pd.to_numeric(rows[column], errors="coerce") if column in rows else pd.Series(dtype=float)
            data = rows.assign(_v=values).dropna(subset="_v")
            if data.empty:
                ax.plot([], [], color=color, ls=dash, label=legend if ax is ax_acc else "_nolegend_")
                continue
            stats = data.groupby("epoch")["_v"].agg(["mean", "min", "max"])
            ax.plot(
                stats.index,
                stats["mean"],
                color=color,
                ls=dash,
                marker=markers[label],
                ms=3,
                lw=1.4,
                label=legend if ax is ax_acc else "_nolegend_",
            )
            drawn[ax] = True
            if n > 1:
                ax.fill_between(stats.index, stats["min"], stats["max"], color=color, alpha=0.15)
    if measure is not None and drawn[ax_free]:
        ax_free.axhline(measure.min_param_free - 0.5, color="0.3", ls="--", lw=1)
        ax_free.annotate(
            f"collapse: ≥ {measure.min_param_free} of {measure.edges}",
            (0.01, measure.min_param_free - 0.45),
            xycoords=("axes fraction", "data"),
            fontsize=7,
            color="0.3",
        )
    for ax, _, ylabel in panels:
        if not drawn[ax]:  # e.g. S4: genotypes with `noise` have no NB301 value
            ax.text(0.5, 0.5, "nothing logged", ha="center", va="center", transform=ax.transAxes, color="0.4")
            ax.set_yticks([])
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    for ax in (ax_skip, ax_free):
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        if drawn[ax]:
            ax.set_ylim(bottom=-0.3, top=max(ax.get_ylim()[1], (measure.edges if measure else 1) + 0.3))
    handles, labels = ax_acc.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside right upper", fontsize=8, ncols=1 if len(labels) <= 16 else 2)
    fig.suptitle(f"{space}: every method, mean over seeds (band: min–max over seeds where n > 1)")
    return fig


def _label_verdicts(frame: pd.DataFrame, runs: pd.DataFrame | None) -> dict[str, str]:
    """Legend label → "k/n collapsed" over its runs (the runs table's `collapsed`, results/verdict.py)."""
    if runs is None or frame.empty or "collapsed" not in runs:
        return {}
    collapsed = runs.set_index("run_dir")["collapsed"]
    out = {}
    for label, rows in frame.groupby("_label"):
        judged = collapsed.reindex(rows["run_dir"].unique()).dropna()
        if len(judged):
            out[label] = f"{int(judged.astype(bool).sum())}/{len(judged)} collapsed"
    return out


def overview_curves(
    epochs: pd.DataFrame, space: str, stem: Path, pdf: bool = True, runs: pd.DataFrame | None = None
) -> list[Path]:
    """`overview_figure` saved as `stem`.png (and .pdf)."""
    return save(overview_figure(epochs, space, runs), stem, pdf)


def collapse_curves(epochs: pd.DataFrame, space: str, dataset: str, stem: Path, pdf: bool = True) -> list[Path]:
    """Derived cell's true accuracy, dominant eigenvalue, skip count and the cells' α-gradient
    alignment (`grad_corr`, what Λ-DARTS raises) versus epoch, per method.

    `epochs`: current epoch rows of finished selected runs (`Results.current_epochs()` filtered).
    """
    frame = epochs[(epochs["space"] == space) & (epochs["dataset"] == dataset)]
    acc, acc_label = accuracy_key(space, dataset)
    optional = [
        ("eigenvalue", "dominant eigenvalue of ∇²α L_valid"),
        (skip_key(space), "skip connections in the derived (normal) cell"),
        ("grad_corr", "mean pairwise cosine of per-cell α-gradients"),
    ]
    # The accuracy panel always; the others only where some run logged them (no near-empty panels).
    panels = [(acc, acc_label), *((c, label) for c, label in optional if _has_values(frame, c))]
    fig = Figure(figsize=(4.3 * len(panels) + 2, 3.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, (column, ylabel) in zip(axes, panels):
        if _band(ax, frame, column):
            _mark_stages(ax, frame)
        else:
            ax.text(
                0.5,
                0.5,
                f"no {column} logged\nfor these runs",
                ha="center",
                va="center",
                transform=ax.transAxes,
                color="0.4",
            )
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in axes[1:]:
        if not handles:
            handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside right upper", fontsize=8)
    fig.suptitle(f"Collapse curves: {space} / {dataset} (mean ± 1 std over seeds)")
    return save(fig, stem, pdf)


def stage_starts(frame: pd.DataFrame) -> list[tuple[int, str]]:
    """(run-wide epoch, stage name) where a later stage of a staged run starts (none for other runs)."""
    if "stage" not in frame or "stage_epoch" not in frame:
        return []
    starts = frame[(frame["stage_epoch"] == 0) & (frame["stage"] > 0)]
    return sorted({(int(r.epoch), str(r.stage_name)) for r in starts.itertuples()})


def _mark_stages(ax: Axes, frame: pd.DataFrame) -> None:
    """A dotted line where each later stage starts: each stage's curve lies between two lines."""
    for epoch, name in stage_starts(frame):
        ax.axvline(epoch - 0.5, color="0.5", linestyle=":", linewidth=1)
        ax.annotate(name, (epoch - 0.5, 1.0), xycoords=("data", "axes fraction"), fontsize=7, color="0.4")


def final_distribution(runs: pd.DataFrame, space: str, dataset: str, stem: Path, pdf: bool = True) -> list[Path]:
    """Per method, the final genotype's accuracy of every finished seed (dots), their mean (bar),
    and the published figure where one exists (star, NB201 only)."""
    frame = runs[(runs["space"] == space) & (runs["dataset"] == dataset)]
    frame = frame.assign(_label=_label(frame))
    if space == "nb201":
        panels = [(k, label, attr) for k, (label, attr) in _NB201_DISTRIBUTION.items()]
    else:
        panels = [("nb301_valid_acc_approx", NB301_LABEL, None)]
    panels.append(("final_eval_valid_acc", "supernet valid acc (eval)", None))
    labels = sorted(frame["_label"].unique())
    fig = Figure(figsize=(3.6 * len(panels), 3.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    rng = np.random.default_rng(0)
    for ax, (column, title, attr) in zip(axes, panels):
        for x, label in enumerate(labels):
            rows = frame[frame["_label"] == label]
            values = pd.to_numeric(rows[column], errors="coerce").dropna().to_numpy() if column in rows else np.empty(0)
            if values.size:
                ax.scatter(x + rng.uniform(-0.12, 0.12, values.size), values, s=18, alpha=0.8, color="C0")
                ax.hlines(values.mean(), x - 0.3, x + 0.3, color="k", lw=1.5)
            pub = published.nb201_published(rows["method"].iloc[0], dataset) if attr else None
            if pub is not None:
                ax.scatter([x], [getattr(pub, attr)], marker="*", s=90, color="C3")
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
        ax.set_xlim(-0.6, len(labels) - 0.4)
        ax.set_title(title, fontsize=9)
        ax.set_ylabel("%")
        ax.grid(alpha=0.3, axis="y")
    stars = ", red star: published" if space == "nb201" else ""
    fig.suptitle(f"Final accuracy: {space} / {dataset} (dots: seeds, bar: mean{stars})")
    return save(fig, stem, pdf)


def _edge_labels(cell_type: str, n_edges: int) -> list[str]:
    if n_edges == 6 and cell_type == "cell":
        return ["1←0", "2←0", "2←1", "3←0", "3←1", "3←2"]
    if n_edges == 14:
        labels = []
        for node in range(4):
            inputs = ["c(k-2)", "c(k-1)", *(f"n{j}" for j in range(node))]
            labels += [f"n{node}←{i}" for i in inputs]
        return labels
    return [str(e) for e in range(n_edges)]


def _edge_ops(space: str) -> dict[str, Any] | None:
    """Op names per edge from the space registry (imports torch; None if the space is unknown)."""
    try:
        from nasbench_harness.spaces import get_space

        return dict(get_space(space).edge_ops)
    except Exception:  # a results tree from a newer harness may name a space this one lacks
        return None


def final_alphas(run_dir: Path) -> dict[str, np.ndarray] | None:
    """α of the run's last logged row (the end of its current trajectory); None if it has none."""
    rows = _read_metrics(run_dir / "metrics.jsonl")
    if not rows or not rows[-1].get("alphas"):
        return None
    return {t: np.asarray(a, dtype=float) for t, a in rows[-1]["alphas"].items()}


def softmax(alpha: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Softmax over ops; entries outside `mask` (padding of shorter op lists, staged runs) are NaN."""
    if mask is not None:
        alpha = np.where(mask, alpha, -np.inf)
    shifted = np.exp(alpha - alpha.max(axis=-1, keepdims=True))
    probs = shifted / shifted.sum(axis=-1, keepdims=True)
    return probs if mask is None else np.where(mask, probs, np.nan)


def run_edge_ops(run_dir: Path, space: str) -> dict[str, Any] | None:
    """Op names per edge of the run's last α: its last stage's (staged runs, result.json), else the space's."""
    result = _read_json(run_dir / "result.json") or {}
    if result.get("stages"):
        return dict(result["stages"][-1]["edge_ops"])
    return _edge_ops(space)


def alpha_heatmap(run_dir: Path, space: str, title: str, stem: Path, pdf: bool = True) -> list[Path]:
    """softmax(α) per cell type for the run's last epoch: edges × ops, op names on the axis.

    The colour scale spans each cell type's smallest to largest weight (the colour bar gives the
    range): early in a search α is nearly uniform, and a 0-to-1 scale would hide which op leads.
    Where edges carry different ops (S1), each cell is annotated with its op name.
    """
    alphas = final_alphas(run_dir)
    if alphas is None:
        return []
    edge_ops = run_edge_ops(run_dir, space) or {}
    fig = Figure(
        figsize=(4.2 * len(alphas) + 1, 0.32 * max(a.shape[0] for a in alphas.values()) + 2.2), layout="constrained"
    )
    axes = np.atleast_1d(fig.subplots(1, len(alphas)))
    for ax, (cell_type, alpha) in zip(axes, alphas.items()):
        unnamed = [[f"op {k}" for k in range(alpha.shape[1])]] * len(alpha)
        ops: Sequence[Sequence[str]] = edge_ops.get(cell_type) or unnamed
        mask = np.array([[k < len(ops[e]) for k in range(alpha.shape[1])] for e in range(len(alpha))])
        probs = softmax(alpha, None if mask.all() else mask)
        low, high = float(np.nanmin(probs)), float(np.nanmax(probs))
        span = max(high - low, 1e-12)
        image = ax.imshow(probs, cmap="viridis", vmin=low, vmax=low + span, aspect="auto")
        shared = all(tuple(o) == tuple(ops[0]) for o in ops)
        if shared:
            ax.set_xticks(range(len(ops[0])), list(ops[0]), rotation=45, ha="right", fontsize=8)
        else:
            ax.set_xticks(range(alpha.shape[1]), [f"choice {k}" for k in range(alpha.shape[1])], fontsize=8)
        for e in range(probs.shape[0]):
            for k in range(len(ops[e])):
                text = f"{probs[e, k]:.3f}" if shared else f"{ops[e][k]}\n{probs[e, k]:.3f}"
                ax.text(
                    k,
                    e,
                    text,
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="w" if (probs[e, k] - low) / span < 0.6 else "k",
                )
        ax.set_yticks(range(probs.shape[0]), _edge_labels(cell_type, probs.shape[0]), fontsize=7)
        ax.set_title(cell_type if cell_type == "cell" else f"{cell_type} cell", fontsize=9)
        fig.colorbar(image, ax=ax, shrink=0.8, label="softmax(α)")
    fig.suptitle(title, fontsize=10)
    return save(fig, stem, pdf)
