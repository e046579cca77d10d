"""A seed pack timed round by round: the pack driver users run (`engine.packed.PackDriver`), fed synthetic
sessions that request the same fixed batches, so one call is one `PackDriver.round()` (one step of every
member, or one batched step in "batched" mode) and nothing of the data pipeline is in it. The driver checks
whether its members can be batched once, as in a real pack, not once per round.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from types import SimpleNamespace
from typing import Any

import torch

from nasbench_harness.engine.checkpoint import rng_state
from nasbench_harness.engine.fast_path import Stepper
from nasbench_harness.engine.fast_path import plan as fast_path_plan
from nasbench_harness.engine.packed import BATCHED_FAST_PATH_OFF, PACK_MODES, Member, PackDriver
from nasbench_harness.errors import HarnessError
from nasbench_harness.methods.base import Batch, Method, StepFigures

Run = tuple[Method, Stepper]


def stepper(method: Method, device: torch.device, mode: str | None = None) -> Stepper:
    """The Stepper a run of `method` gets (engine/runner.py `_build_stage`): the fast-path plan, except in
    a batched pack, whose runs have it off (engine/packed.py `execute_pack`)."""
    off = BATCHED_FAST_PATH_OFF if mode == "batched" else None
    return Stepper(method, device, fast_path_plan(method, device, method.config.train.precision, off=off))


class PackRounds:
    """`PackDriver(members, mode)` over `runs` (built runs: method and its Stepper), one round per call.

    At most `rounds` calls. On CUDA each interleaved member gets its own stream, as `execute_pack` does, and a
    call returns once the device is done (`synchronise=False`: once the round is queued, for a throughput over
    many rounds that the caller synchronises itself)."""

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
        no_lock = SimpleNamespace(release=lambda: None)  # synthetic sessions have no run directory
        members = []
        for i, (method, step) in enumerate(runs):
            stream = torch.cuda.Stream(device) if device.type == "cuda" and mode == "interleaved" else None
            run = SimpleNamespace(step=step, method=method, restores=0)
            members.append(Member(i, run, _session(batches), no_lock, rng_state(), stream))  # type: ignore[arg-type]
        self._driver = PackDriver(members, mode, self.packing, self.messages.append, attempt=1)
        self._driver.start()

    def __call__(self) -> None:
        if self.done >= self.rounds:
            raise HarnessError(f"the timed pack was built for {self.rounds} rounds; all have run")
        self.done += 1
        try:
            self._driver.round()
        except Exception as err:  # a failed step reaches the driver's failure record, which a synthetic run lacks
            cause = err.__context__ or err
            raise HarnessError(f"the timed pack of {self.packing['size']} runs failed: {cause!r}") from cause
        if self.synchronise and self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def close(self) -> None:
        """End the members' sessions."""
        for member in self._driver.members:
            member.session.close()


def _session(batches: tuple[Batch, Batch]) -> Generator[tuple[Batch, Batch], StepFigures, None]:
    """A synthetic run's session: the same batches, every step, until closed."""
    while True:
        yield batches
