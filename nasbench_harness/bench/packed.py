"""A seed pack timed round by round: the pack driver users run (`engine.packed.PackDriver`), fed synthetic
sessions that request the same fixed batches, so one call is one round of the real driver (one step of
every member, or one batched step in "batched" mode) and nothing of the data pipeline is in it.

The driver runs its members to the end in one `run()` call, so it runs in a thread of its own here and the
last member's session waits at each round's end until the next round is asked for: the caller's thread and
the driver's thread never compute at the same time (no contention), other variants can be timed between the
rounds (interleaved, as `measure.time_interleaved` does), and the driver checks whether its members can be
batched once, as in a real pack, not once per round. Each session requests exactly the number of rounds
given, so every member takes exactly that many steps and the driver ends with the last round.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Sequence
from types import SimpleNamespace
from typing import Any

import torch

from nasbench_harness.engine.checkpoint import rng_state
from nasbench_harness.engine.fast_path import Plan, Stepper
from nasbench_harness.engine.fast_path import plan as fast_path_plan
from nasbench_harness.engine.packed import PACK_MODES, Member, PackDriver
from nasbench_harness.errors import HarnessError
from nasbench_harness.methods.base import Batch, Method, StepFigures

Run = tuple[Method, Stepper]
#: What `execute_pack` sets on a batched pack's runs (their steps never take the fast path).
BATCHED_FAST_PATH_OFF = "a batched seed pack: its steps run as engine/batched.py's vmapped step"


def stepper(method: Method, device: torch.device, mode: str | None = None) -> Stepper:
    """The Stepper a run of `method` gets (engine/runner.py `_build_stage`): the fast-path plan, except in
    a batched pack, whose runs have it off (engine/packed.py `execute_pack`)."""
    precision = method.config.train.precision
    if mode == "batched":
        return Stepper(method, device, Plan(False, BATCHED_FAST_PATH_OFF, precision))
    return Stepper(method, device, fast_path_plan(method, device, precision))


class PackRounds:
    """`PackDriver(members, mode)` over `runs` (built runs: method and its Stepper), one round per call.

    Call it exactly `rounds` times (`close()` ends it early). On CUDA each interleaved member gets its own
    stream, as `execute_pack` does, and a call returns once the device is done (`synchronise=False`: once
    the round is queued, for a throughput over many rounds that the caller synchronises itself)."""

    def __init__(
        self,
        runs: Sequence[Run],
        mode: str,
        device: torch.device,
        batches: tuple[Batch, Batch],
        rounds: int,
        synchronise: bool = True,
    ):
        if mode not in PACK_MODES:
            raise HarnessError(f"pack mode {mode!r}: expected one of {', '.join(PACK_MODES)}")
        if not runs or rounds < 1:
            raise HarnessError(f"a timed pack needs at least one run and one round, got {len(runs)} and {rounds}")
        self.mode, self.device, self.rounds, self.done = mode, device, rounds, 0
        self.synchronise = synchronise
        #: What the driver records for the pack's metadata (the batched step, or why it refused to batch).
        self.packing: dict[str, Any] = {"size": len(runs), "mode": mode}
        self.messages: list[str] = []
        self._go, self._finished = threading.Semaphore(0), threading.Semaphore(0)
        self._abort = False
        self._error: BaseException | None = None
        no_lock = SimpleNamespace(release=lambda: None)  # synthetic sessions have no run directory
        members = []
        for i, (method, step) in enumerate(runs):
            stream = torch.cuda.Stream(device) if device.type == "cuda" and mode == "interleaved" else None
            run = SimpleNamespace(step=step, method=method, restores=0)
            session = self._session(batches, last=i == len(runs) - 1)
            members.append(Member(i, run, session, no_lock, rng_state(), stream))  # type: ignore[arg-type]
        #: The caller's current CUDA device, made the driver thread's too (a new thread starts on device 0).
        self._cuda_device = torch.cuda.current_device() if device.type == "cuda" else None
        self._driver = PackDriver(members, mode, self.packing, self.messages.append, attempt=1)
        self._thread = threading.Thread(target=self._drive, name="nasbench-bench-pack", daemon=True)
        self._thread.start()

    def _session(self, batches: tuple[Batch, Batch], last: bool) -> Generator[tuple[Batch, Batch], StepFigures, None]:
        """`rounds` requests for the same batches; the last member's marks each round's end and waits for the
        next call before it asks again (the other members have asked by then, in either mode)."""
        for done in range(self.rounds):
            if last:
                if done:
                    self._finished.release()
                self._go.acquire()
            if self._abort:
                return
            yield batches
        if last:
            self._finished.release()

    def _drive(self) -> None:
        try:
            if self._cuda_device is not None:
                torch.cuda.set_device(self._cuda_device)
            self._driver.run()
        except BaseException as err:  # a synthetic run has no run directory to record a failure in
            self._error = err
        finally:
            self._finished.release()  # wakes a waiting call whatever happened

    def __call__(self) -> None:
        if self.done >= self.rounds:
            raise HarnessError(f"the timed pack was built for {self.rounds} rounds; all have run")
        self.done += 1
        self._go.release()
        self._finished.acquire()
        if self._error is not None:
            # A failed step reaches the driver's failure record, which a synthetic run lacks: report the step's error.
            cause = self._error.__context__ or self._error
            raise HarnessError(f"the timed pack of {self.packing['size']} runs failed: {cause!r}") from cause
        if self.done == self.rounds:
            self._thread.join()  # the driver ends with the last round (a process must not exit while it finishes)
        if self.synchronise and self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def close(self) -> None:
        """End the driver now (its members then take at most one more step each, untimed)."""
        if self._thread.is_alive():
            self._abort = True
            self._go.release()
            self._thread.join()
