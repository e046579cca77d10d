"""Where the suites in a results directory stand: finished / running / failed / pending per suite.

Read only from the run directories (result.json, failed.json, metrics.jsonl, the run lock), so it
works while a suite runs on any executor. A run is `running` while a process holds its lock: the
probe (`lock_holder`) never claims the run. The suites' run lists come from results/suites/*.json,
written by `nasbench run`; run directories no manifest lists are shown under "(no suite manifest)".
Evaluation runs (retrained genotypes, `evaluations/`: `nasbench evaluate` or a suite's `evaluate:` stage)
are listed in their own section, with the same states.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nasbench_harness.engine.record import FAILED, METRICS, RESULT, lock_holder
from nasbench_harness.engine.suite import MANIFESTS
from nasbench_harness.errors import HarnessError

STATES = ("finished", "running", "failed", "pending")
UNLISTED = "(no suite manifest)"
#: The section of evaluation runs (no manifest lists them).
EVALUATIONS = "(evaluation runs)"


@dataclass
class RunState:
    relative: str
    info: dict[str, Any]
    state: str
    detail: str = ""

    @property
    def label(self) -> str:
        i = self.info
        label = f"{i.get('method', '?')} {i.get('space', '?')}/{i.get('dataset', '?')} seed {i.get('seed', '?')}"
        return f"{label} ({i['stage']} retrain)" if i.get("stage") else label


@dataclass
class SuiteState:
    name: str
    runs: list[RunState] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {s: sum(r.state == s for r in self.runs) for s in STATES}


def run_state(directory: Path, info: dict[str, Any]) -> tuple[str, str]:
    """(state, detail) of one run directory, which may not exist yet."""
    holder = lock_holder(directory)
    epochs = info.get("epochs")
    last = _last_epoch(directory)
    if holder is not None:
        at = "starting" if last is None else f"epoch {last + 1}/{epochs or '?'} done"
        return "running", f"{at} ({holder})"
    if (directory / RESULT).is_file():
        return "finished", ""
    if (directory / FAILED).is_file():
        try:
            failure = json.loads((directory / FAILED).read_text())
        except (OSError, ValueError):
            failure = {}
        return "failed", str(failure.get("reason", "see failed.json"))
    if last is not None:
        return "pending", f"interrupted after epoch {last + 1}/{epochs or '?'}; resumes from its checkpoint"
    return "pending", ""


def _last_epoch(directory: Path) -> int | None:
    """The epoch of the last metrics row (a row is a finished epoch)."""
    try:
        lines = (directory / METRICS).read_text().splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            return int(json.loads(line)["epoch"])
        except (ValueError, KeyError, TypeError):
            continue  # a row being appended right now
    return None


def results_status(results: Path) -> list[SuiteState]:
    if not results.is_dir():
        raise HarnessError(f"{results} is not a directory; give the results directory of a suite (its runs/ parent)")
    suites: list[SuiteState] = []
    listed: set[str] = set()
    for manifest in sorted((results / MANIFESTS).glob("*.json")):
        try:
            content = json.loads(manifest.read_text())
        except (OSError, ValueError) as err:
            raise HarnessError(
                f"{manifest}: unreadable suite manifest ({err}); delete it and rerun the suite"
            ) from None
        suite = SuiteState(content.get("name", manifest.stem))
        for relative, info in content.get("runs", {}).items():
            listed.add(relative)
            suite.runs.append(RunState(relative, info, *run_state(results / relative, info)))
        suites.append(suite)
    unlisted = SuiteState(UNLISTED)
    for directory in sorted((results / "runs").glob("*/*/*/*")):
        relative = str(directory.relative_to(results))
        if relative not in listed and directory.is_dir():
            info = _info_from_metadata(directory)
            unlisted.runs.append(RunState(relative, info, *run_state(directory, info)))
    if unlisted.runs:
        suites.append(unlisted)
    evaluations = SuiteState(EVALUATIONS)
    for directory in sorted((results / "evaluations").glob("*/*/*/*")):
        if directory.is_dir():
            info = _info_from_metadata(directory)
            evaluations.runs.append(RunState(str(directory.relative_to(results)), info, *run_state(directory, info)))
    if evaluations.runs:
        suites.append(evaluations)
    return suites


def _info_from_metadata(directory: Path) -> dict[str, Any]:
    """Identity from the path, epochs (and an evaluation's stage) from metadata.json, or failed.json's config
    for a run that failed before writing metadata."""
    space, dataset, method, run_id = directory.parts[-4:]
    info: dict[str, Any] = {"space": space, "dataset": dataset, "method": method, "seed": run_id.split("-")[0]}
    for name in ("metadata.json", FAILED):
        try:
            config = json.loads((directory / name).read_text())["config"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if isinstance(config, dict):
            info["epochs"] = (config.get("train") or {}).get("epochs")
            if config.get("stage"):
                info["stage"] = config["stage"]
        break
    return info


def format_status(suites: list[SuiteState], show_finished: bool = False) -> str:
    if not suites:
        return "no suites and no runs here yet"
    lines = []
    for suite in suites:
        counts = suite.counts()
        title = "evaluation runs" if suite.name == EVALUATIONS else f"suite {suite.name}"
        lines.append(f"{title}: {len(suite.runs)} runs: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
        order = {s: i for i, s in enumerate(("running", "failed", "pending", "finished"))}
        for run in sorted(suite.runs, key=lambda r: order[r.state]):
            if run.state == "finished" and not show_finished:
                continue
            lines.append(f"  {run.state:<8} {run.label:<40} {run.detail}".rstrip())
    return "\n".join(lines)
