"""The collapse verdict: whether a search collapsed, when, and by how much, read off its logged curves.

One definition for every run (docs/collapse.md, "The collapse verdict"), parameterised by the space's
`CollapseMeasure`: an epoch is *collapsed* when the watched cell's derived gene has at least
`min_param_free` parameter-free ops and, where the space names an accuracy oracle for the search dataset,
that cell's true accuracy is at least `min_drop` points below the best the search had reached by then. A run
is collapsed when the epoch of its reported genotype and the `PERSIST - 1` epochs before it are all collapsed;
it collapsed *at* the first epoch of that unbroken stretch. Early stopping (DARTS-ES) reports an earlier
epoch's cell, so the verdict is about that cell; the curves after it are summarised separately.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nasbench_harness.spaces.space import CollapseMeasure

#: Consecutive collapsed epochs, ending at the reported one, that make a collapsed run: one epoch that
#: flickers into a skip-heavy cell is noise.
PERSIST = 3


@dataclass(frozen=True)
class Verdict:
    """A run's collapse verdict and the figures it quotes."""

    collapsed: bool
    #: First epoch of the collapsed stretch that ends at the reported epoch (None: not collapsed).
    epoch: int | None
    #: Epoch whose genotype the run reports.
    reported_epoch: int
    skip_first: int | None
    skip_reported: int | None
    param_free_first: int | None
    param_free_reported: int | None
    #: The reported cell's accuracy minus the best reached up to its epoch (≤ 0), None without an oracle.
    accuracy_change: float | None
    accuracy_best: float | None
    accuracy_reported: float | None
    #: Last measured dominant eigenvalue over the first (None with fewer than two measurements).
    eigenvalue_ratio: float | None
    #: First epoch from which the curves stay collapsed to the last logged epoch, when that is after the
    #: reported epoch (an early stop that reported a cell from before the collapse).
    curves_collapsed_after: int | None
    accuracy_label: str | None

    def summary(self) -> str:
        """One line, e.g. "collapsed at epoch 34: skip 0 → 4, param-free 2 → 5, ground truth −12.1 points from
        its best, eigenvalue ×3.8"."""
        head = f"collapsed at epoch {self.epoch}" if self.collapsed else "not collapsed"
        parts = [
            f"skip {_count(self.skip_first)} → {_count(self.skip_reported)}",
            f"param-free {_count(self.param_free_first)} → {_count(self.param_free_reported)}",
        ]
        if self.accuracy_change is not None:
            parts.append(f"{self.accuracy_label} {_signed(self.accuracy_change)} points from its best")
        if self.eigenvalue_ratio is not None:
            parts.append(f"eigenvalue ×{self.eigenvalue_ratio:.1f}")
        text = f"{head}: {', '.join(parts)}"
        if self.curves_collapsed_after is not None:
            text += (
                f" (reported epoch {self.reported_epoch}'s cell; the search's cells collapsed from epoch "
                f"{self.curves_collapsed_after})"
            )
        return text

    def columns(self) -> dict[str, Any]:
        """The run-table columns (`collapse_*`)."""
        return {
            "collapsed": self.collapsed,
            "collapse_epoch": self.epoch,
            "collapse_reported_epoch": self.reported_epoch,
            "collapse_skip_first": self.skip_first,
            "collapse_param_free_first": self.param_free_first,
            "collapse_accuracy_change": self.accuracy_change,
            "collapse_eigenvalue_ratio": self.eigenvalue_ratio,
            "collapse_curves_after": self.curves_collapsed_after,
            "collapse_verdict": self.summary(),
        }


def _count(value: int | None) -> str:
    return "?" if value is None else str(value)


def _signed(value: float) -> str:
    return f"{value:+.1f}".replace("-", "−")


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    number = float(value)
    return None if math.isnan(number) else number


def verdict(
    rows: Sequence[Mapping[str, Any]],
    measure: CollapseMeasure,
    dataset: str,
    reported_genotype: str | None = None,
) -> Verdict | None:
    """The verdict of a run from its current epoch rows (in epoch order); None without a logged epoch.

    `reported_genotype`: the genotype the run reports (result.json); its epoch is the last one logged with that
    genotype, else the last epoch."""
    rows = [row for row in rows if row.get(f"param_free_{measure.cell}") is not None]
    if not rows:
        return None
    reported = len(rows) - 1
    if reported_genotype is not None:
        same = [i for i, row in enumerate(rows) if row.get("genotype") == reported_genotype]
        reported = same[-1] if same else reported
    key = measure.accuracy_key(dataset)
    accuracy = [_number(row.get(key)) for row in rows] if key else [None] * len(rows)
    decided_by_accuracy = key is not None and all(a is not None for a in accuracy[: reported + 1])

    flags = []
    best = -math.inf
    for row, acc in zip(rows, accuracy):
        filled = row[f"param_free_{measure.cell}"] >= measure.min_param_free
        if decided_by_accuracy and acc is not None:
            best = max(best, acc)
            filled = filled and acc <= best - measure.min_drop
        flags.append(filled)

    def stretch_start(end: int) -> int | None:
        if not flags[end]:
            return None
        start = end
        while start > 0 and flags[start - 1]:
            start -= 1
        return start

    start = stretch_start(reported)
    collapsed = start is not None and reported - start + 1 >= PERSIST
    later = stretch_start(len(rows) - 1) if reported < len(rows) - 1 else None
    eigen = [_number(row.get("eigenvalue")) for row in rows]
    eigen = [e for e in eigen if e is not None]
    change = best_so_far = None
    if decided_by_accuracy:
        best_so_far = max(a for a in accuracy[: reported + 1] if a is not None)
        change = accuracy[reported] - best_so_far
    first, last = rows[0], rows[reported]
    return Verdict(
        collapsed=collapsed,
        epoch=int(rows[start]["epoch"]) if collapsed and start is not None else None,
        reported_epoch=int(last["epoch"]),
        skip_first=first.get(f"skip_{measure.cell}"),
        skip_reported=last.get(f"skip_{measure.cell}"),
        param_free_first=first[f"param_free_{measure.cell}"],
        param_free_reported=last[f"param_free_{measure.cell}"],
        accuracy_change=change,
        accuracy_best=best_so_far,
        accuracy_reported=accuracy[reported] if decided_by_accuracy else None,
        eigenvalue_ratio=eigen[-1] / eigen[0] if len(eigen) >= 2 and eigen[0] > 0 else None,
        curves_collapsed_after=int(rows[later]["epoch"])
        if later is not None and len(rows) - later >= PERSIST and not collapsed
        else None,
        accuracy_label=measure.accuracy_label if decided_by_accuracy else None,
    )


@dataclass(frozen=True)
class GroupVerdict:
    """Across the seeds of one table row: how many finished runs collapsed, and when."""

    collapsed: int
    judged: int
    epochs: tuple[int, ...]

    def summary(self) -> str:
        if not self.judged:
            return "–"
        text = f"{self.collapsed}/{self.judged} collapsed"
        if self.epochs:
            ordered = sorted(self.epochs)
            text += f" (epoch {ordered[len(ordered) // 2]}" + (" median)" if len(ordered) > 1 else ")")
        return text


def group_verdict(collapsed: Sequence[Any], epochs: Sequence[Any]) -> GroupVerdict:
    """From the runs' `collapsed` / `collapse_epoch` columns (None or NaN: no verdict)."""
    judged = [(bool(c), e) for c, e in zip(collapsed, epochs) if c is not None and c == c]
    hits = tuple(int(e) for c, e in judged if c and e is not None and e == e)
    return GroupVerdict(sum(c for c, _ in judged), len(judged), hits)
