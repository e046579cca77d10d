"""The crash-safe driver loop that the pool, Ray and SLURM executors share.

A backend only submits tasks and says which have ended; the driver does the rest: it keeps at most
`capacity()` runs in flight, shows progress, and treats a task that ended without an outcome (the
worker was killed, ran out of memory, lost its node, was preempted) as a crash: the run is submitted
again, up to `max_retries` times, and resumes from its checkpoint. After the last retry the driver
claims the run's lock and records failed.json with every attempt's reason, so no run is lost. A retry
that finds the run locked (the old worker still alive after all) waits for the lock to go, so one run
never executes twice at once; a first attempt that finds it locked is another driver's, as with `local`.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import NonNegativeInt

from nasbench_harness.config import RunConfig
from nasbench_harness.engine.executors.base import Executor, ExecutorOptions
from nasbench_harness.engine.executors.progress import SuiteProgress
from nasbench_harness.engine.executors.worker import make_task, outcome_from
from nasbench_harness.engine.record import RunLocked, RunRecord, lock_holder
from nasbench_harness.engine.runner import Reporter, RunOutcome


class DriverOptions(ExecutorOptions):
    """Options of every executor whose runs execute in worker processes."""

    #: A run whose worker dies without an outcome (SIGKILL, OOM killer, node lost, preempted) is started
    #: again this many times, resuming from its checkpoint, before it is recorded as failed.
    max_retries: NonNegativeInt = 2


@dataclass
class Task:
    index: int
    config: RunConfig
    attempt: int = 1
    crashes: list[str] = field(default_factory=list)

    def label(self, total: int) -> str:
        c = self.config
        return f"[{self.index + 1}/{total}] {c.method} on {c.space}/{c.dataset} seed {c.seed}"


@dataclass
class Ended:
    """A submitted task that is over: `returned` is the worker's outcome, or None with `crash` saying why."""

    handle: Any
    returned: dict[str, Any] | None
    crash: str = ""


class DriverExecutor(Executor):
    Options: ClassVar[type[ExecutorOptions]] = DriverOptions
    options: DriverOptions
    #: Seconds between looks at the running tasks.
    poll_seconds: float = 0.2

    # --- what a backend implements -------------------------------------------------------------------
    def open(self, results_dir: Path, total: int, report: Reporter) -> None:
        """Start or connect to the workers."""

    def capacity(self) -> int:
        """Most tasks in flight at once."""
        raise NotImplementedError

    def submit(self, tasks: list[tuple[Task, dict[str, Any]]]) -> list[Any]:
        """Submit (task, payload) pairs; one handle per pair, in order."""
        raise NotImplementedError

    def poll(self, handles: list[Any]) -> list[Ended]:
        """The handles whose tasks are over (may wait up to about `poll_seconds`)."""
        raise NotImplementedError

    def cancel(self, handles: list[Any]) -> None:
        """Stop tasks still in flight when the driver is interrupted."""

    def close(self) -> None:
        """Disconnect; stop what `open` started."""

    def released(self, handle: Any) -> None:
        """A task's handle is over: its worker slot is free again."""

    def worker_device(self, device: str) -> str:
        return device

    # --- the loop -----------------------------------------------------------------------------------
    def run_all(
        self,
        configs: Sequence[RunConfig],
        results_dir: Path,
        data_dir: str | None,
        device: str,
        report: Reporter,
        *,
        rerun_stale: bool = False,
    ) -> list[RunOutcome]:
        total = len(configs)
        outcomes: list[RunOutcome | None] = [None] * total
        queue: deque[Task] = deque(Task(i, c) for i, c in enumerate(configs))
        waiting: list[Task] = []  # retries whose run is still locked by an earlier attempt's worker
        inflight: dict[Any, Task] = {}
        progress = SuiteProgress(total, report)
        worker_data, worker_device = self.worker_data_dir(data_dir), self.worker_device(device)
        self.open(results_dir, total, report)
        try:
            while queue or inflight or waiting:
                for task in [t for t in waiting if lock_holder(results_dir / t.config.relative_dir()) is None]:
                    waiting.remove(task)
                    queue.appendleft(task)
                batch = []
                while queue and len(inflight) + len(batch) < self.capacity():
                    task = queue.popleft()
                    payload = make_task(
                        task.config,
                        results_dir,
                        worker_data,
                        worker_device,
                        rerun_stale=rerun_stale,
                        attempt=task.attempt,
                    )
                    batch.append((task, payload))
                if batch:
                    for (task, _), handle in zip(batch, self.submit(batch)):
                        inflight[handle] = task
                        progress.run_started()
                if not inflight:
                    time.sleep(self.poll_seconds)
                    continue
                for ended in self.poll(list(inflight)):
                    task = inflight.pop(ended.handle)
                    self.released(ended.handle)
                    outcome = self._settle(task, ended, results_dir, progress, queue, waiting, total)
                    if outcome is not None:
                        outcomes[task.index] = outcome
                        progress.run_ended(outcome, task.label(total))
                    else:
                        progress.run_stopped()
        except BaseException:
            self.cancel(list(inflight))
            raise
        finally:
            progress.close()
            self.close()
        return [o for o in outcomes if o is not None]

    def _settle(
        self,
        task: Task,
        ended: Ended,
        results_dir: Path,
        progress: SuiteProgress,
        queue: deque[Task],
        waiting: list[Task],
        total: int,
    ) -> RunOutcome | None:
        """The run's final outcome, or None when it goes round again (retried, or waiting for its lock)."""
        if ended.returned is not None:
            if ended.returned["status"] == "locked" and task.crashes:
                progress.say(f"{task.label(total)}: still held by its earlier attempt's worker; waiting for it")
                waiting.append(task)
                return None
            return outcome_from(task.config, results_dir, ended.returned, task.attempt)
        task.crashes.append(f"attempt {task.attempt}: {ended.crash}")
        if task.attempt <= self.options.max_retries:
            task.attempt += 1
            progress.say(
                f"{task.label(total)}: the worker died ({ended.crash}); retrying "
                f"(attempt {task.attempt} of {self.options.max_retries + 1}), resuming from its checkpoint"
            )
            queue.appendleft(task)
            return None
        return self._record_crashes(task, results_dir)

    def _record_crashes(self, task: Task, results_dir: Path) -> RunOutcome:
        """Out of retries: claim the run and say in failed.json how each attempt ended."""
        record = RunRecord(results_dir / task.config.relative_dir())
        reason = (
            f"the worker died on each of its {task.attempt} attempts ({'; '.join(task.crashes)}); its checkpoint "
            "is kept, so running the suite again resumes it (raise executor.max_retries to retry more)"
        )
        try:
            with record.lock():
                record.write_failure(
                    {
                        "status": "failed",
                        "reason": reason,
                        "traceback": None,
                        "attempts": task.crashes,
                        "attempt": task.attempt,
                        "config": task.config.model_dump(mode="json"),
                        "config_hash": task.config.config_hash(),
                    }
                )
        except RunLocked as held:
            reason = f"held by another process ({held.holder}) after its worker died here; skipped here"
            return RunOutcome(task.config, record.dir, "locked", reason=reason, attempts=task.attempt)
        except OSError as err:
            reason += f". The failure record could not be written: {err}"
        return RunOutcome(task.config, record.dir, "failed", reason=reason, attempts=task.attempt)
