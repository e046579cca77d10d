"""The GPU fast path: the whole search step (both passes, both optimiser updates) captured once as a CUDA
graph and replayed, so a step costs a handful of host calls instead of thousands of kernel launches.

When it applies (`plan`): CUDA, a method that declares `capturable = True` (its step has no data-dependent
control flow, no host reads and no RNG: first-order DARTS), and `NASBENCH_FAST_PATH` not `off`. Otherwise the
step runs eagerly, with a one-line notice saying why; the choice is recorded in the run metadata
(`fast_path`).

What the capture changes, and why the results stay those of the plain step:
- Gradients live in static buffers: the optimisers' `zero_grad(set_to_none=True)` becomes an in-place zero.
  That is the same computation only when every optimised parameter receives a gradient in every step, so the
  first (eager, warm-up) steps check it, and the fast path falls back to eager if one does not.
- Adam runs with `capturable=True` (its step counter on the device): the bias corrections are computed on the
  device in the parameters' dtype instead of in Python doubles, a difference in the last bits.
- Inputs are copied into static buffers of the full batch shape; a smaller (last) batch runs eagerly.
- Hyperparameters are constants of a graph: it is captured again whenever the epoch, a learning rate or a
  weight decay changes (once per epoch under the cosine schedule).
- Warm-up steps run eagerly on a side stream before the first capture (they are real training steps).
The fp32 genotype trajectory of plain and fast path is compared on a GPU by benchmarks/device/fast_path.py.

`GraphBackend` is the seam: `CudaGraphs` captures; tests drive the same wrapper with `EagerReplay`, which
replays by calling the step again (Python side effects included, which a CUDA graph does not repeat).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from nasbench_harness.errors import ConfigError
from nasbench_harness.methods import Method
from nasbench_harness.methods.base import Batch, StepFigures

#: NASBENCH_FAST_PATH: "auto" (default: on where it applies) or "off" (always the plain eager step).
ENV = "NASBENCH_FAST_PATH"
MODES = ("auto", "off")
WARMUP_STEPS = 3


def requested_mode() -> str:
    mode = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if mode not in MODES:
        raise ConfigError(f"{ENV}={mode!r}: expected one of {', '.join(MODES)} (unset means auto)")
    return mode


@dataclass
class Plan:
    """Whether a run's steps are captured, and why not where they are not."""

    enabled: bool
    reason: str
    precision: str = "fp32"
    details: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "mode": "cuda_graph" if self.enabled else "eager",
            "reason": self.reason,
            "precision": self.precision,
            "requested": requested_mode(),
            **self.details,
        }

    def notice(self) -> str:
        if self.enabled:
            return f"fast path: CUDA-graph capture of the whole search step ({self.reason})"
        return f"fast path off, eager steps: {self.reason}"


def plan(method: Method, device: torch.device, precision: str = "fp32", off: str | None = None) -> Plan:
    """`off`: why this run's steps never take the fast path whatever the method (a batched seed pack)."""
    if off is not None:
        return Plan(False, off, precision)
    if requested_mode() == "off":
        return Plan(False, f"{ENV}=off", precision)
    if device.type != "cuda":
        return Plan(False, f"device {device.type}: CUDA graphs need a CUDA device", precision)
    if not type(method).__dict__.get("capturable", False):
        return Plan(
            False,
            f"method {method.name!r} does not declare its step capturable (data-dependent control flow, host "
            "reads or random sampling inside the step)",
            precision,
        )
    return Plan(True, f"method {method.name!r} declares its step capturable", precision)


class GraphBackend:
    """Captures `fn` (the step on static inputs) as `replay`, and the figures each replay leaves in place."""

    def warmup_context(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    def capture(self, fn: Callable[[], StepFigures]) -> tuple[Callable[[], None], StepFigures]:
        raise NotImplementedError


class CudaGraphs(GraphBackend):
    """torch.cuda.CUDAGraph; warm-up on a side stream, as torch's whole-network capture recipe does."""

    def __init__(self, device: torch.device):
        self.device = device
        self.graph: torch.cuda.CUDAGraph | None = None
        #: Its own capture stream: torch's default one is shared by every graph of the process, and cuBLAS keeps
        #: one workspace per stream that a destroyed graph frees, so the graphs of a seed pack's runs (replayed
        #: side by side, recaptured at different times) must not share it.
        self.capture_stream = torch.cuda.Stream(device)

    @contextlib.contextmanager
    def warmup_context(self) -> Iterator[None]:
        stream = torch.cuda.Stream(self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream):
            yield
        torch.cuda.current_stream(self.device).wait_stream(stream)

    def capture(self, fn: Callable[[], StepFigures]) -> tuple[Callable[[], None], StepFigures]:
        self.graph = None  # release the previous graph's memory pool first
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=self.capture_stream):
            outputs = fn()
        self.graph = graph
        return graph.replay, outputs


class EagerReplay(GraphBackend):
    """A stand-in for tests on CPU: capturing runs nothing (as a CUDA capture executes no kernel); "replay"
    calls the step on the static buffers and fills the returned figures."""

    def capture(self, fn: Callable[[], StepFigures]) -> tuple[Callable[[], None], StepFigures]:
        outputs: StepFigures = {}

        def replay() -> None:
            outputs.clear()
            outputs.update(fn())

        return replay, outputs


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast for `train.precision: bf16`; fp32 is the plain step."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


class Stepper:
    """What the runner calls for each step: the method's own step, eager or replayed from a capture."""

    def __init__(self, method: Method, device: torch.device, plan: Plan, backend: GraphBackend | None = None):
        self.method, self.device, self.plan = method, device, plan
        self.backend = backend or (CudaGraphs(device) if plan.enabled else None)
        self.enabled = plan.enabled
        self.eager_steps = 0
        self.replays = 0
        self.captures = 0
        self._key: tuple | None = None
        self._static: tuple[Batch, Batch] | None = None
        self._replay: Callable[[], None] | None = None
        self._outputs: StepFigures = {}
        self._prepared = False

    def _eager(self, train: Batch, valid: Batch) -> StepFigures:
        self.eager_steps += 1
        with autocast(self.device, self.plan.precision):
            return self.method.step(train, valid)

    def __call__(self, train: Batch, valid: Batch) -> StepFigures:
        if not self.enabled:
            return self._eager(train, valid)
        if not self._prepared:
            self._prepare()
        if self.eager_steps < WARMUP_STEPS:
            with self.backend.warmup_context():  # type: ignore[union-attr]
                figures = self._eager(train, valid)
            self._check_all_gradients()
            return figures
        if self._static is not None and not _same_shapes(self._static, (train, valid)):
            return self._eager(train, valid)  # the last, smaller batch of an epoch
        key = self._hyperparameters()
        if key != self._key:
            self._capture(train, valid)
            self._key = key
        assert self._static is not None and self._replay is not None
        for static, new in zip(_tensors(self._static), _tensors((train, valid))):
            static.copy_(new)
        self._replay()
        self.replays += 1
        return {k: v.clone() if isinstance(v, Tensor) else v for k, v in self._outputs.items()}

    def _prepare(self) -> None:
        """Static gradient buffers (in-place zero_grad) and Adam's step counter on the device."""
        for optimizer in (self.method.w_optimizer, self.method.a_optimizer):
            optimizer.zero_grad = _in_place_zero_grad(optimizer)  # type: ignore[method-assign]
        self.restored()
        self._prepared = True

    def restored(self) -> None:
        """Adam's `capturable` as this stepper needs it, after its state was loaded: on with CUDA graphs (the
        step counter on the device), off otherwise. Optimizer.load_state_dict takes the flag from the saved
        groups, so without this a checkpoint written on the GPU fast path would fail to resume on the CPU or
        with NASBENCH_FAST_PATH=off (torch allows `capturable` on accelerators only)."""
        capturable = self.enabled and self.device.type == "cuda"
        for optimizer in (self.method.w_optimizer, self.method.a_optimizer):
            if not isinstance(optimizer, torch.optim.Adam):
                continue
            for group in optimizer.param_groups:
                group["capturable"] = capturable
            if capturable:
                for state in optimizer.state.values():
                    if "step" in state:
                        state["step"] = torch.as_tensor(state["step"], dtype=torch.float32, device=self.device)

    def _check_all_gradients(self) -> None:
        missing = [
            i
            for optimizer in (self.method.w_optimizer, self.method.a_optimizer)
            for group in optimizer.param_groups
            for i, p in enumerate(group["params"])
            if p.grad is None
        ]
        if missing:
            self.enabled = False
            self.plan.enabled = False
            self.plan.reason = (
                f"{len(missing)} optimised parameter(s) received no gradient in a warm-up step, so static "
                "gradient buffers would change the update; eager steps"
            )

    def _hyperparameters(self) -> tuple:
        groups = [*self.method.w_optimizer.param_groups, *self.method.a_optimizer.param_groups]
        return (self.method.epoch, *((g["lr"], g.get("weight_decay")) for g in groups))

    def _capture(self, train: Batch, valid: Batch) -> None:
        if self._static is None:
            self._static = ((train[0].clone(), train[1].clone()), (valid[0].clone(), valid[1].clone()))
        static_train, static_valid = self._static

        def step() -> StepFigures:
            with autocast(self.device, self.plan.precision):
                return self.method.step(static_train, static_valid)

        self._replay, self._outputs = self.backend.capture(step)  # type: ignore[union-attr]
        self.captures += 1

    def describe(self) -> dict[str, Any]:
        return {**self.plan.describe(), "warmup_steps": WARMUP_STEPS if self.plan.enabled else 0}


def _in_place_zero_grad(optimizer: torch.optim.Optimizer) -> Callable[..., None]:
    def zero_grad(set_to_none: bool = True) -> None:
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        if grads:
            torch._foreach_zero_(grads)

    return zero_grad


def _tensors(batches: tuple[Batch, Batch]) -> list[Tensor]:
    return [t for batch in batches for t in batch]


def _same_shapes(a: tuple[Batch, Batch], b: tuple[Batch, Batch]) -> bool:
    return all(x.shape == y.shape and x.dtype == y.dtype for x, y in zip(_tensors(a), _tensors(b)))
