"""The crash-safe driver loop that the pool, Ray and SLURM executors share.

A backend only submits tasks and says which have ended; the driver does the rest: it keeps at most
`capacity()` tasks in flight, shows progress, and treats a task that ended without an outcome (the
worker was killed, ran out of memory, lost its node, was preempted) as a crash: the task is submitted
again, up to `max_retries` times, and resumes from its checkpoint. After the last retry the driver
claims the run's lock and records failed.json with every attempt's reason, so no run is lost. A retry
starts only once none of its runs' locks is held (the old worker may be alive after all), so one run
never executes twice at once; a first attempt that finds a run locked is another driver's, as with `local`.

A task is one job: a run, or a seed pack (engine/packed.py), whose runs train together on one worker.
Progress counts runs; a crashed pack is retried as a whole, each run resuming from its own checkpoint
(runs that finished are skipped by the worker but keep the outcome they had); out of retries, each of its
runs without an outcome gets failed.json (one whose result.json was written before the worker died keeps it).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import NonNegativeInt

from nasbench_harness.engine.executors.base import Executor, ExecutorOptions
from nasbench_harness.engine.executors.progress import SuiteProgress
from nasbench_harness.engine.executors.worker import Job, job_runs, make_task, outcome_from
from nasbench_harness.engine.packed import SeedPack
from nasbench_harness.engine.record import RESULT, RunLocked, RunRecord, lock_holder
from nasbench_harness.engine.runner import Reporter, RunOutcome


class DriverOptions(ExecutorOptions):
    """Options of every executor whose runs execute in worker processes."""

    #: A task whose worker dies without an outcome (SIGKILL, OOM killer, node lost, preempted) is started
    #: again this many times, resuming from its checkpoint(s), before its runs are recorded as failed.
    max_retries: NonNegativeInt = 2


@dataclass
class Task:
    """One job in the driver: `first` is the index of its first run among the suite's runs."""

    job: Job
    first: int
    attempt: int = 1
    crashes: list[str] = field(default_factory=list)
    #: Each run's final outcome once it has one; a retry keeps those of runs that ended before it.
    ended: list[RunOutcome | None] = field(init=False)

    def __post_init__(self) -> None:
        self.ended = [None] * len(self.runs)

    @property
    def runs(self) -> tuple[Any, ...]:
        return job_runs(self.job)

    def pending(self) -> list[int]:
        """The runs (indices into `runs`) still without a final outcome."""
        return [i for i, outcome in enumerate(self.ended) if outcome is None]

    def label(self, total: int) -> str:
        """The task in messages: `[1/8] darts on nb201/cifar10 seed 0`, or `[1-4/8] seed pack: ...` for a pack."""
        if isinstance(self.job, SeedPack):
            return f"[{self.first + 1}-{self.first + len(self.runs)}/{total}] seed pack: {self.job.describe()}"
        return self.run_label(0, total)

    def run_label(self, i: int, total: int) -> str:
        c = self.runs[i]
        return f"[{self.first + i + 1}/{total}] {c.method} on {c.space}/{c.dataset} seed {c.seed}"

    def held(self, results_dir: Path) -> bool:
        """Whether some run still pending is locked (by an earlier attempt's worker, or anyone)."""
        return any(lock_holder(results_dir / self.runs[i].relative_dir()) is not None for i in self.pending())


@dataclass
class Ended:
    """A submitted task that is over: `returned` is the worker's outcome, or None with `crash` saying why."""

    handle: Any
    returned: dict[str, Any] | None
    crash: str = ""


class DriverExecutor(Executor):
    Options: ClassVar[type[ExecutorOptions]] = DriverOptions
    options: DriverOptions
    runs_packs = True  # a pack is one task: one worker, with that worker's CPUs or GPU(s)
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
        configs: Sequence[Job],
        results_dir: Path,
        data_dir: str | None,
        device: str,
        report: Reporter,
        *,
        rerun_stale: bool = False,
    ) -> list[RunOutcome]:
        """One outcome per run, in the order of the jobs and of each pack's runs (as `local` gives them)."""
        tasks, total = [], 0
        for job in configs:
            tasks.append(Task(job, total))
            total += len(tasks[-1].runs)
        outcomes: list[RunOutcome | None] = [None] * total
        queue: deque[Task] = deque(tasks)
        waiting: list[Task] = []  # retries, until none of their runs is locked (by an earlier attempt's worker)
        inflight: dict[Any, Task] = {}
        progress = SuiteProgress(total, report)
        worker_data, worker_device = self.worker_data_dir(data_dir), self.worker_device(device)
        self.open(results_dir, len(tasks), report)
        try:
            while queue or inflight or waiting:
                for task in [t for t in waiting if not t.held(results_dir)]:
                    waiting.remove(task)
                    queue.appendleft(task)
                batch = []
                while queue and len(inflight) + len(batch) < self.capacity():
                    task = queue.popleft()
                    payload = make_task(
                        task.job,
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
                        progress.run_started(len(task.pending()))
                if not inflight:
                    time.sleep(self.poll_seconds)
                    continue
                for ended in self.poll(list(inflight)):
                    task = inflight.pop(ended.handle)
                    self.released(ended.handle)
                    running = len(task.pending())
                    final = self._settle(task, ended, results_dir, progress, waiting, total)
                    for i, outcome in final:
                        outcomes[task.first + i] = outcome
                        progress.run_ended(outcome, task.run_label(i, total))
                    progress.run_stopped(running - len(final))
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
        waiting: list[Task],
        total: int,
    ) -> list[tuple[int, RunOutcome]]:
        """The runs of the task that have their final outcome now (index into its runs, outcome); the task
        goes round again (to `waiting`) while some have none: retried after a crash, or still locked."""
        if ended.returned is not None:
            returned = outcome_from(task.job, results_dir, ended.returned, task.attempt)
            final, held = [], []
            for i in task.pending():
                if returned[i].status == "locked" and task.crashes:
                    held.append(i)
                else:
                    task.ended[i] = returned[i]
                    final.append((i, returned[i]))
            if held:
                which = "" if len(task.runs) == 1 else f" (seeds {', '.join(str(task.runs[i].seed) for i in held)})"
                progress.say(f"{task.label(total)}: still held{which} by its earlier attempt's worker; waiting for it")
                waiting.append(task)
            return final
        task.crashes.append(f"attempt {task.attempt}: {ended.crash}")
        if task.attempt <= self.options.max_retries:
            task.attempt += 1
            each = "each run from its own checkpoint" if len(task.runs) > 1 else "from its checkpoint"
            progress.say(
                f"{task.label(total)}: the worker died ({ended.crash}); retrying "
                f"(attempt {task.attempt} of {self.options.max_retries + 1}), resuming {each}"
            )
            waiting.append(task)  # submitted once none of its runs is locked any more
            return []
        final = [(i, self._record_crash(task, task.runs[i], results_dir)) for i in task.pending()]
        for i, outcome in final:
            task.ended[i] = outcome
        return final

    def _record_crash(self, task: Task, config: Any, results_dir: Path) -> RunOutcome:
        """Out of retries: claim the run and say in failed.json how each attempt ended; a run whose result
        was written before its worker died keeps it."""
        record = RunRecord(results_dir / config.relative_dir())
        reason = (
            f"the worker died on each of its {task.attempt} attempts ({'; '.join(task.crashes)}); its checkpoint "
            "is kept, so running the suite again resumes it (raise executor.max_retries to retry more)"
        )
        try:
            with record.lock():
                if record.is_finished():
                    result = record.read_json(RESULT)
                    return RunOutcome(
                        config,
                        record.dir,
                        "finished",
                        reason="its result.json was on disk after its worker died; kept",
                        seconds=result.get("search_seconds", 0.0),
                        genotype=result.get("genotype", ""),
                        attempts=task.attempt,
                    )
                record.write_failure(
                    {
                        "status": "failed",
                        "reason": reason,
                        "traceback": None,
                        "attempts": task.crashes,
                        "attempt": task.attempt,
                        "config": config.model_dump(mode="json"),
                        "config_hash": config.config_hash(),
                    }
                )
        except RunLocked as held:
            reason = f"held by another process ({held.holder}) after its worker died here; skipped here"
            return RunOutcome(config, record.dir, "locked", reason=reason, attempts=task.attempt)
        except OSError as err:
            reason += f". The failure record could not be written: {err}"
        return RunOutcome(config, record.dir, "failed", reason=reason, attempts=task.attempt)
