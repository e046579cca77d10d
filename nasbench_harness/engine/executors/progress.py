"""The driver's view of a suite: a bar over runs (on a terminal) or one line per event, with counts and ETA."""

from __future__ import annotations

import sys
import time
from collections import Counter

from nasbench_harness.engine.runner import Reporter, RunOutcome, _duration

#: Outcomes that did work in this session, so they pace the ETA (a skipped run took no time).
_WORKED = ("finished", "failed")


class SuiteProgress:
    def __init__(self, total: int, report: Reporter, bar: bool | None = None):
        self.total, self.report = total, report
        self.done: Counter[str] = Counter()
        self.running = 0
        self.started = time.time()
        enabled = sys.stderr.isatty() if bar is None else bar
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="run", desc="suite", dynamic_ncols=True)
        else:
            self.bar = None

    def say(self, message: str) -> None:
        if self.bar is not None:
            self.bar.write(message, file=sys.stderr)
        else:
            self.report(message)

    def run_started(self, runs: int = 1) -> None:
        """A worker started `runs` runs (a seed pack's, or one)."""
        self.running += runs
        self._refresh()

    def run_stopped(self, runs: int = 1) -> None:
        """`runs` runs of a worker ended without an outcome (they will be retried, or recorded as failed)."""
        if runs:
            self.running -= runs
            self._refresh()

    def run_ended(self, outcome: RunOutcome, label: str, was_running: bool = True) -> None:
        self.running -= was_running
        self.done[outcome.status] += 1
        tail = f" - {outcome.reason}" if outcome.reason else ""
        retried = f" (attempt {outcome.attempts})" if outcome.attempts > 1 else ""
        if self.bar is not None:
            self.bar.update(1)
        self.say(f"{label}: {outcome.status}{retried}{tail}")
        self._refresh(line=self.bar is None)

    def line(self) -> str:
        finished = sum(self.done.values())
        counts = ", ".join(f"{n} {status}" for status, n in sorted(self.done.items()))
        pending = self.total - finished - self.running
        return (
            f"{finished}/{self.total} runs done ({counts or 'none yet'}); {self.running} running, {pending} pending; "
            + (f"ETA {self.eta()}")
        )

    def eta(self) -> str:
        worked = sum(self.done[s] for s in _WORKED)
        left = self.total - sum(self.done.values())
        if not left:
            return "0m00s"
        if not worked:
            return "unknown"
        return _duration((time.time() - self.started) / worked * left)

    def _refresh(self, line: bool = False) -> None:
        if self.bar is not None:
            failed = self.done["failed"]
            self.bar.set_postfix_str(f"{self.running} running, {failed} failed, ETA {self.eta()}")
        elif line:
            self.report(self.line())

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
