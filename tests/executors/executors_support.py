"""Helpers for the executor tests: a tiny real-CIFAR-10 suite, snapshots, `require`, a SIGKILL for a worker."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

from reference_packages import require  # noqa: F401  (re-exported for the executor tests)

from nasbench_harness.engine.record import lock_holder
from nasbench_harness.engine.runner import RunOutcome
from nasbench_harness.engine.suite import run_suite

SUITE = """\
name: scale
profile: tiny
methods: [darts]
spaces: [nb201]
datasets: [cifar10]
seeds: [0, 1]
train: {epochs: 3}
metrics: {ground_truth: false}
"""
TIMING = {"train_seconds", "epoch_seconds"}


def snapshot(results: Path) -> dict[str, tuple[list[dict], str]]:
    """Per run directory: its metrics rows without timings, and its result genotype."""
    out = {}
    for directory in sorted((results / "runs").glob("*/*/*/*")):
        rows = [json.loads(line) for line in (directory / "metrics.jsonl").read_text().splitlines()]
        genotype = json.loads((directory / "result.json").read_text())["genotype"]
        out[directory.name] = ([{k: v for k, v in r.items() if k not in TIMING} for r in rows], genotype)
    return out


class Killer(threading.Thread):
    """SIGKILLs the worker that runs seed `seed` once it has logged its first epoch (mid-run: 3 epochs);
    `checkpointed`: once that epoch's checkpoint is on disk too, keeping the run's metrics lines then in
    `kept` (a run that resumes keeps them byte for byte, timings included; one that starts over does not)."""

    def __init__(self, results: Path, seed: int = 0, timeout: float = 300, checkpointed: bool = False):
        super().__init__(daemon=True)
        self.results, self.seed, self.timeout, self.checkpointed = results, seed, timeout, checkpointed
        self.killed_pid: int | None = None
        self.kept: list[str] = []

    def run(self) -> None:
        deadline = time.time() + self.timeout
        while time.time() < deadline and self.killed_pid is None:
            for directory in (self.results / "runs").glob(f"*/*/*/{self.seed}-*"):
                metrics = directory / "metrics.jsonl"
                holder = lock_holder(directory)
                if (
                    holder
                    and metrics.exists()
                    and metrics.read_text().strip()
                    and not (directory / "result.json").exists()
                    and (not self.checkpointed or (directory / "checkpoint.pt").exists())
                ):
                    pid = int(holder.split(",")[0].removeprefix("pid "))
                    os.kill(pid, signal.SIGKILL)
                    self.killed_pid = pid
                    self.kept = metrics.read_text().splitlines()
            time.sleep(0.01)


def run_with_killed_worker(
    results: Path, seed: int, suite_file: Path, data_dir: Path, executor: str, options: dict
) -> tuple[list[RunOutcome], list[str], int | None]:
    """Run the suite on `executor` while a SIGKILL hits the worker of `seed` mid-run; returns the
    outcomes, the driver's messages and the killed pid (None if it was never caught running)."""
    killer = Killer(results, seed=seed)
    killer.start()
    messages: list[str] = []
    outcomes = run_suite(
        suite_file,
        results_dir=str(results),
        data_dir=str(data_dir),
        device="cpu",
        executor=executor,
        executor_options=options,
        report=messages.append,
    )
    killer.join(timeout=1)
    return outcomes, messages, killer.killed_pid
