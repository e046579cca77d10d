"""The direction of the collapse check: the runs that must collapse do, and some fix does not.

The exact-baseline comparison (compare.py) guards the numbers; this guards the phenomenon. A baseline's
`direction` section names, by `space/dataset/method`, the groups whose every finished run must be judged
collapsed (results/verdict.py) and the fixes of which at least one group must have no collapsed run:

    direction:
      collapses: [nb201/cifar10/darts]
      some_fix_holds: [nb201/cifar10/sdarts_rs, nb201/cifar10/beta_darts]

A change that stops DARTS from collapsing (an α step that no longer reaches α, mixing weights that no longer
reach the loss) or that makes every fix collapse (a fix turned into plain DARTS) fails with a message saying
which runs did what.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from nasbench_harness.errors import ConfigError
from nasbench_harness.results.load import load_results


@dataclass(frozen=True)
class Direction:
    collapses: tuple[str, ...] = ()
    some_fix_holds: tuple[str, ...] = ()

    def as_yaml(self) -> dict[str, list[str]]:
        return {"collapses": list(self.collapses), "some_fix_holds": list(self.some_fix_holds)}

    def __bool__(self) -> bool:
        return bool(self.collapses or self.some_fix_holds)


def parse_direction(raw: Any, path: Path) -> Direction:
    """The baseline's `direction` section (absent: no direction check)."""
    if raw is None:
        return Direction()
    if not isinstance(raw, dict) or set(raw) - {"collapses", "some_fix_holds"}:
        raise ConfigError(
            f"{path}: 'direction' is a mapping with the lists 'collapses' and 'some_fix_holds' of "
            f"space/dataset/method groups; got {raw!r}"
        )
    lists = {}
    for key in ("collapses", "some_fix_holds"):
        value = raw.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) and v.count("/") == 2 for v in value):
            raise ConfigError(f"{path}: direction.{key} must list groups as 'space/dataset/method'; got {value!r}")
        lists[key] = tuple(value)
    return Direction(**lists)


@dataclass(frozen=True)
class DirectionResult:
    ok: bool
    message: str
    details: list[str] = field(default_factory=list)


def _groups(runs: pd.DataFrame) -> dict[str, pd.DataFrame]:
    if runs.empty:
        return {}
    finished = runs[runs["selected"] & (runs["status"] == "finished")]
    keys = finished["space"] + "/" + finished["dataset"] + "/" + finished["method"]
    return {key: frame for key, frame in finished.groupby(keys)}


def _lines(group: str, frame: pd.DataFrame) -> list[str]:
    verdicts = frame["collapse_verdict"] if "collapse_verdict" in frame else pd.Series("no verdict", frame.index)
    return [f"{group} seed {seed}: {text}" for seed, text in zip(frame["seed"], verdicts.fillna("no verdict"))]


def _collapsed(frame: pd.DataFrame) -> pd.Series:
    if "collapsed" not in frame:
        return pd.Series(False, index=frame.index)
    return frame["collapsed"].astype(object).fillna(False).astype(bool)


def check_direction(direction: Direction, results_dir: Path) -> list[DirectionResult]:
    """One result per rule of `direction` on the finished runs under `results_dir`."""
    groups = _groups(load_results(results_dir).runs)
    out = []
    for group in direction.collapses:
        frame = groups.get(group)
        if frame is None:
            out.append(DirectionResult(False, f"{group}: no finished run, so nothing shows that it collapses"))
            continue
        kept = frame[~_collapsed(frame)]
        if kept.empty:
            out.append(DirectionResult(True, f"{group} collapses in every run ({len(frame)})", _lines(group, frame)))
        else:
            out.append(
                DirectionResult(
                    False,
                    f"{group} no longer collapses in {len(kept)} of {len(frame)} runs: a change stopped the collapse "
                    "this regime shows (an α step that no longer reaches α, or mixing weights that no longer reach "
                    "the loss, does this)",
                    _lines(group, kept),
                )
            )
    if direction.some_fix_holds:
        present = {g: groups[g] for g in direction.some_fix_holds if g in groups}
        holding = [g for g, frame in present.items() if not _collapsed(frame).any()]
        missing = [g for g in direction.some_fix_holds if g not in groups]
        details = [line for g, frame in present.items() for line in _lines(g, frame)]
        details += [f"{g}: no finished run" for g in missing]
        if holding:
            out.append(DirectionResult(True, f"a fix holds: {', '.join(holding)} did not collapse", details))
        else:
            out.append(
                DirectionResult(
                    False,
                    "every fix collapsed (or did not finish): "
                    + ", ".join(direction.some_fix_holds)
                    + "; a fix that turned into plain DARTS does this",
                    details,
                )
            )
    return out


def render_direction(results: list[DirectionResult]) -> str:
    lines = []
    for result in results:
        lines.append(f"{'ok' if result.ok else '!!'} {result.message}")
        lines.extend(f"     {detail}" for detail in result.details)
    return "\n".join(lines)
