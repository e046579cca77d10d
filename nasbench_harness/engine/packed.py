"""Seed packs: runs of one configuration that differ only in their seed, trained together in one process.

Each member is a whole `SearchRun`: its own run directory and lock, data order, α, optimiser state,
checkpoints, metrics log and result. The pack drives the members' sessions in lockstep, one step of each
per round, and a round's steps execute one of two ways (`pack_mode`):
- "interleaved" (default, every method): each member's own step, with the member's global RNG state
  swapped in and, on CUDA, on the member's own stream, so the GPU overlaps the members' kernels (on the
  fast path, one graph replay per member). The same kernels run as alone: results equal the run alone's
  bit for bit.
- "batched" (methods that declare `packable`: first-order DARTS): one vmapped forward and backward for
  every member at once, then each member's own clipping and optimiser steps (engine/batched.py); equal to
  the run alone up to floating-point rounding. Where the members cannot be batched (another method, S4's
  noise op), the pack says why once and interleaves.
Everything else a member does (epoch ends, metrics, checkpoints, stage changes, rollbacks) runs inside its
own session with its own RNG state, so a killed pack resumes each member from its own checkpoint and ends
with the result of the run alone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, get_args

import torch

from nasbench_harness.config import PackMode, RunConfig
from nasbench_harness.engine import batched
from nasbench_harness.engine.checkpoint import rng_state, set_rng_state
from nasbench_harness.engine.record import RunLock, RunRecord
from nasbench_harness.engine.runner import (
    Reporter,
    RunOutcome,
    SearchRun,
    Session,
    claim,
    record_failure,
    run_step,
    settle_finished,
)
from nasbench_harness.errors import ConfigError
from nasbench_harness.methods.base import Batch, StepFigures

PACK_MODES = get_args(PackMode)
#: Why a batched pack's runs never take the GPU fast path (their metadata `fast_path.reason`).
BATCHED_FAST_PATH_OFF = "a batched seed pack: its steps run as engine/batched.py's vmapped step"


@dataclasses.dataclass(frozen=True)
class SeedPack:
    """A job of the suite: configurations equal but for their seeds, trained as one pack."""

    configs: tuple[RunConfig, ...]
    mode: str = "interleaved"

    def __post_init__(self) -> None:
        if self.mode not in PACK_MODES:
            raise ConfigError(f"pack_mode {self.mode!r}: expected one of {', '.join(PACK_MODES)}")
        keys = {_without_seed(c) for c in self.configs}
        if len(keys) != 1:
            raise ConfigError("a seed pack holds runs that differ only in their seed; these differ in more")

    def describe(self) -> str:
        c = self.configs[0]
        return f"{c.method} on {c.space}/{c.dataset} seeds {', '.join(str(c.seed) for c in self.configs)}"


def pack_jobs(configs: Sequence[RunConfig], size: int, mode: str = "interleaved") -> list[RunConfig | SeedPack]:
    """The suite's runs with those equal but for their seed grouped into packs of at most `size` seeds, in
    the order of each group's first run; a group of one stays a plain run."""
    if size < 1:
        raise ConfigError(f"pack_seeds must be a positive number of seeds, got {size}")
    groups: dict[str, list[RunConfig]] = {}
    for config in configs:
        groups.setdefault(_without_seed(config), []).append(config)
    jobs: list[RunConfig | SeedPack] = []
    for members in groups.values():
        for start in range(0, len(members), size):
            chunk = members[start : start + size]
            jobs.append(chunk[0] if len(chunk) == 1 or size == 1 else SeedPack(tuple(chunk), mode))
    return jobs


def _without_seed(config: RunConfig) -> str:
    return config.model_copy(update={"seed": 0}).model_dump_json()


@dataclasses.dataclass
class Member:
    """One run of the pack: its session, the step it asked for, its lock, and its own RNG state and stream."""

    index: int
    run: SearchRun
    session: Session[RunOutcome]
    lock: RunLock
    rng: dict[str, Any]
    stream: Any = None  # torch.cuda.Stream on CUDA
    request: tuple[Batch, Batch] | None = None
    started: float = dataclasses.field(default_factory=time.time)

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """The member's RNG state (and stream) in place while it computes; saved again afterwards."""
        set_rng_state(self.rng)
        try:
            with torch.cuda.stream(self.stream) if self.stream is not None else contextlib.nullcontext():
                yield
        finally:
            self.rng = rng_state()


class PackDriver:
    """Drives the members' sessions round by round. A member that finishes or fails leaves the pack at once:
    its lock is released and the driver drops it (its network and device data are freed), so the others go
    on with its memory, and `nasbench status` or another driver sees it as it is."""

    def __init__(self, members: list[Member], mode: str, packing: dict[str, Any], report: Reporter, attempt: int):
        self.members, self.mode, self.packing, self.report, self.attempt = members, mode, packing, report, attempt
        self.outcomes: dict[int, RunOutcome] = {}
        #: The batched step for the members as they are (None: why they cannot be batched), checked again only
        #: when a member leaves, restores a checkpoint or changes stage (its method object).
        self._verdict: tuple[tuple, batched.BatchedStep | str] | None = None

    def run(self) -> dict[int, RunOutcome]:
        """Each member's outcome, by its index."""
        try:
            self.start()
            while self.members:
                self.round()
        finally:
            for member in self.members:  # interrupted (Ctrl-C): the locks go, the checkpoints stay
                member.lock.release()
        return self.outcomes

    def start(self) -> None:
        """Every member's session up to its first step (building it, resuming from its checkpoint)."""
        for member in list(self.members):
            self._advance(member, None)

    def round(self) -> None:
        """One step of every member still in the pack (one batched step where they can be batched)."""
        if not self._batched_round():
            for member in list(self.members):
                self._interleaved(member)

    def _batched_step(self) -> batched.BatchedStep | str:
        key = tuple((id(m.run.method), m.run.restores) for m in self.members)
        if self._verdict is None or self._verdict[0] != key:
            methods = [m.run.method for m in self.members]
            why = batched.unsupported(methods) if len(methods) > 1 else "one run left in the pack"
            self._verdict = (key, why if why is not None else batched.BatchedStep(methods))
            if why is not None:
                self.packing["batched_refused"] = why
                self.report(f"pack: interleaved steps, the runs cannot be batched now: {why}")
            else:
                self.packing["batched"] = self._verdict[1].describe()  # type: ignore[union-attr]
        return self._verdict[1]

    def _batched_round(self) -> bool:
        """One batched step for every member, where the mode and the members allow it; False otherwise."""
        if self.mode != "batched":
            return False
        step = self._batched_step()
        if isinstance(step, str):
            return False
        try:
            figures = step([m.request for m in self.members])  # type: ignore[misc]
        except Exception as err:  # after some optimiser steps: no member can go on as if it had not run
            for member in list(self.members):
                self._fail(member, err)
            return True
        for member, member_figures in zip(list(self.members), figures):
            self._advance(member, member_figures)
        return True

    def _interleaved(self, member: Member) -> None:
        """The member's own step, then its session on to the next one, in one scope."""

        def step_then_go_on() -> tuple[Batch, Batch]:
            assert member.request is not None
            return member.session.send(run_step(member.run.step, *member.request))

        self._go_on(member, step_then_go_on)

    def _advance(self, member: Member, figures: StepFigures | None) -> None:
        """The member's session on to its next step (to its first when `figures` is None)."""
        self._go_on(member, lambda: next(member.session) if figures is None else member.session.send(figures))

    def _go_on(self, member: Member, action: Callable[[], tuple[Batch, Batch]]) -> None:
        try:
            with member.scope():
                member.request = action()
        except StopIteration as done:
            self._leave(member, done.value)
        except Exception as err:
            self._fail(member, err)

    def _fail(self, member: Member, err: Exception) -> None:
        run = member.run
        self._leave(member, record_failure(run.config, run.record, err, run.report, self.attempt, member.started))

    def _leave(self, member: Member, outcome: RunOutcome) -> None:
        self.members.remove(member)
        member.session.close()
        member.lock.release()
        self.outcomes[member.index] = outcome


def execute_pack(
    pack: SeedPack,
    results_dir: Path,
    data_dir: Path,
    device: torch.device,
    report: Reporter | None = None,
    progress: bool = True,
    *,
    rerun_stale: bool = False,
    position: str = "",
    attempt: int = 1,
) -> list[RunOutcome]:
    """Run (or skip, or resume) every run of the pack; one outcome per config, in order. Each run is
    locked, settled (finished earlier, stale) and failed on its own, as `runner.execute` does alone."""
    report = report or (lambda message: None)
    outcomes: dict[int, RunOutcome] = {}
    members: list[Member] = []
    packing: dict[str, Any] = {"size": len(pack.configs), "seeds": [c.seed for c in pack.configs], "mode": pack.mode}
    try:
        for i, config in enumerate(pack.configs):
            say = _prefixed(report, f"seed {config.seed}: ")
            record = RunRecord(results_dir / config.relative_dir())
            lock = claim(config, record, say)
            if isinstance(lock, RunOutcome):
                outcomes[i] = lock
                continue
            settled = settle_finished(config, record, say, rerun_stale)
            if settled is not None:
                lock.release()
                outcomes[i] = settled
                continue
            run = SearchRun(config, results_dir, data_dir, device, say, progress, position)
            run.packing = packing
            if pack.mode == "batched":
                run.fast_path_off = BATCHED_FAST_PATH_OFF
            # A batched step runs on the current stream, so batched members share it.
            stream = torch.cuda.Stream(device) if device.type == "cuda" and pack.mode == "interleaved" else None
            members.append(Member(i, run, run.session(), lock, rng_state(), stream))
    except BaseException:
        for member in members:
            member.lock.release()
        raise
    if members:
        report(f"pack of {len(members)} runs ({pack.describe()}), mode {pack.mode}")
        driver = PackDriver(members, pack.mode, packing, report, attempt)
        del members  # the driver holds them now, and drops each one as it leaves the pack
        outcomes.update(driver.run())
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    return [dataclasses.replace(outcomes[i], attempts=attempt) for i in range(len(pack.configs))]


def _prefixed(report: Reporter, prefix: str) -> Reporter:
    return lambda message: report(f"{prefix}{message}")
