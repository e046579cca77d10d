"""Metric-by-metric comparison of current runs with the baseline, and the diff table users read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nasbench_harness.check.baseline import Baseline
from nasbench_harness.check.summary import RunSummary, genotype_edges


@dataclass(frozen=True)
class Comparison:
    run: str
    metric: str
    baseline: Any
    current: Any
    tolerance: Any
    ok: bool
    note: str = ""


def _genotype(base: str, current: str, tol: Any) -> tuple[bool, Any, str]:
    """`tol`: "exact", or how many edges may differ in place (noise flips near-tied edges)."""
    if base == current:
        return True, tol, ""
    a, b = genotype_edges(base), genotype_edges(current)
    if len(a) != len(b):
        return False, tol, "genotype changed shape"
    changed = sum(x != y for x, y in zip(a, b))
    return tol != "exact" and changed <= tol, tol, f"{changed} of {len(a)} edges changed"


def _op_counts(base: dict[str, int], current: dict[str, int], tol: int) -> tuple[bool, Any, str]:
    """How many edges must change op to turn one cell's op counts into the other's."""
    moved = sum(abs(base.get(k, 0) - current.get(k, 0)) for k in set(base) | set(current)) // 2
    return moved <= tol, tol, f"{moved} edges changed op"


def _within(metric: str, base: Any, current: Any, tolerances: dict[str, Any]) -> tuple[bool, Any, str]:
    if base is None or current is None:
        return base is None and current is None, None, "missing on one side"
    if metric == "genotype" or metric.startswith("genotype_stage_"):
        return _genotype(base, current, tolerances["genotype"])
    if metric == "genotype_ops":
        return _op_counts(base, current, tolerances[metric])
    if metric == "skip_per_epoch":
        tol = tolerances[metric]
        if len(base) != len(current):
            return False, tol, f"{len(base)} vs {len(current)} epochs"
        worst = max((abs(a - b) for a, b in zip(base, current) if a is not None and b is not None), default=0)
        return worst <= tol, tol, f"max |diff| {worst}"
    if metric in ("eigenvalue_final", "eigenvalue_mean"):
        tol = tolerances[f"{metric}_rel"]
        rel = abs(current - base) / max(abs(base), 1e-12)
        return rel <= tol, f"{tol:.0%} rel", f"{rel:.1%} rel"
    tol = tolerances[metric]
    return abs(current - base) <= tol, tol, f"|diff| {abs(current - base):.4g}"


def compare(baseline: Baseline, summaries: dict[str, RunSummary]) -> list[Comparison]:
    rows = []
    for run in sorted(set(baseline.runs) | set(summaries)):
        if run not in summaries:
            rows.append(Comparison(run, "(run)", "present", "missing", "-", False, "baseline run not in results"))
            continue
        if run not in baseline.runs:
            rows.append(Comparison(run, "(run)", "missing", "present", "-", False, "new run: update the baseline"))
            continue
        base, current = baseline.runs[run], summaries[run].values
        tolerances = baseline.tolerances_for(run.split("/")[0])
        for metric in sorted(set(base) | set(current)):
            ok, tol, note = _within(metric, base.get(metric), current.get(metric), tolerances)
            rows.append(Comparison(run, metric, base.get(metric), current.get(metric), tol, ok, note))
        if baseline.hashes.get(run) and baseline.hashes[run] != summaries[run].config_hash:
            rows.append(
                Comparison(
                    run,
                    "(config)",
                    baseline.hashes[run],
                    summaries[run].config_hash,
                    "-",
                    True,
                    "config hash differs: defaults or suite changed",
                )
            )
    return rows


def _short(value: Any, width: int = 40) -> str:
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def render_table(rows: list[Comparison], show_all: bool = False) -> str:
    shown = [r for r in rows if show_all or not r.ok or r.note.startswith("config hash")]
    header = f"{'':2} {'run':<26} {'metric':<24} {'baseline':<40} {'current':<40} {'tolerance':<10} note"
    lines = [header, "-" * len(header)]
    for r in shown:
        mark = "ok" if r.ok else "!!"
        lines.append(
            f"{mark:2} {r.run:<26} {r.metric:<24} {_short(r.baseline):<40} {_short(r.current):<40} "
            f"{_short(r.tolerance, 10):<10} {r.note}"
        )
    failed = sum(not r.ok for r in rows)
    runs = len({r.run for r in rows})
    lines.append(
        f"{failed} of {len(rows)} checks outside tolerance across {runs} runs"
        if failed
        else f"all {len(rows)} checks within tolerance across {runs} runs"
    )
    return "\n".join(lines)
