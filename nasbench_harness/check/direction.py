"""The direction of the collapse check: the runs that must collapse do, and the fixes that hold still do.

The exact-baseline comparison (compare.py) guards the numbers; this guards the phenomenon. A baseline's
`direction` section names, by `space/dataset/method`, the groups whose every finished run must be judged
collapsed (results/verdict.py) and the fixes none of whose runs may be:

    direction:
      collapses: [nb201/cifar10/darts]
      holds: [nb201/cifar10/beta_darts, nb201/cifar10/darts_es]

A change that stops DARTS from collapsing (an α step that no longer reaches α, mixing weights that no longer
reach the loss) or that makes a fix collapse (a fix turned into plain DARTS) fails with a message saying which
runs did what.
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
    holds: tuple[str, ...] = ()

    def as_yaml(self) -> dict[str, list[str]]:
        return {"collapses": list(self.collapses), "holds": list(self.holds)}

    def __bool__(self) -> bool:
        return bool(self.collapses or self.holds)


def parse_direction(raw: Any, path: Path) -> Direction:
    """The baseline's `direction` section (absent: no direction check)."""
    if raw is None:
        return Direction()
    if not isinstance(raw, dict) or set(raw) - {"collapses", "holds"}:
        raise ConfigError(
            f"{path}: 'direction' is a mapping with the lists 'collapses' and 'holds' of "
            f"space/dataset/method groups; got {raw!r}"
        )
    lists = {}
    for key in ("collapses", "holds"):
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
    """One result per group named in `direction`, on the finished runs under `results_dir`."""
    groups = _groups(load_results(results_dir).runs)
    out = []
    for group, must_collapse in [*((g, True) for g in direction.collapses), *((g, False) for g in direction.holds)]:
        frame = groups.get(group)
        if frame is None:
            shows = "that it collapses" if must_collapse else "that the fix holds"
            out.append(DirectionResult(False, f"{group}: no finished run, so nothing shows {shows}"))
            continue
        collapsed = _collapsed(frame)
        wrong = frame[~collapsed] if must_collapse else frame[collapsed]
        if wrong.empty:
            kind = "collapses in every run" if must_collapse else "holds: no run collapsed"
            out.append(DirectionResult(True, f"{group} {kind} ({len(frame)})", _lines(group, frame)))
        elif must_collapse:
            out.append(
                DirectionResult(
                    False,
                    f"{group} no longer collapses in {len(wrong)} of {len(frame)} runs: a change stopped the collapse "
                    "this regime shows (an α step that no longer reaches α, or mixing weights that no longer reach "
                    "the loss, does this)",
                    _lines(group, wrong),
                )
            )
        else:
            out.append(
                DirectionResult(
                    False,
                    f"{group} collapsed in {len(wrong)} of {len(frame)} runs where the fix held: a change made the fix "
                    "collapse (a fix that turned into plain DARTS does this)",
                    _lines(group, wrong),
                )
            )
    return out


def render_direction(results: list[DirectionResult]) -> str:
    lines = []
    for result in results:
        lines.append(f"{'ok' if result.ok else '!!'} {result.message}")
        lines.extend(f"     {detail}" for detail in result.details)
    return "\n".join(lines)
