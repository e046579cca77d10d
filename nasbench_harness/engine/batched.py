"""Batched seeds: one vmapped forward/backward for N seeds of the same first-order DARTS run.

`BatchedStep(methods)(batches)` does for every seed what `method.step(train, valid)` does for it alone
(`Darts.step`: `weight_step` and `first_order_alpha_step` in the method's step order), except that the
forward and backward passes of all seeds run as one computation: `torch.func.functional_call` on the first
seed's supernet, `vmap`ped over the seeds' parameters, buffers and batches stacked along a new leading
dimension, with one `autograd.grad` of the summed losses (seed i's loss depends on seed i's slice only, so
the gradient of the sum is each seed's own gradient).

What stays per seed, on its own `Method`: the gradients are copied back into each seed's parameters'
`.grad` (accumulating into α's where `clip_scope: all` keeps it, as `backward` does), each seed clips with
`clip_grad_norm_` over its own gradients and steps its own `w_optimizer` / `a_optimizer`, and the BN
running statistics each seed's forward updated are copied back into its own buffers. So optimiser state,
`method.state_dict()`, `net.state_dict()` and the figures are those of the seed's own objects, and a
checkpoint holds that seed only.

Design: parameters and buffers are stacked per pass (copy in, gradients out), never kept: nothing stacked
outlives a call, so a seed loaded from a checkpoint or rolled back needs no refresh (`restored` re-checks
that the seeds can still be batched) and no per-seed tensor is a view into N seeds' storage (torch.save of a
view writes the whole storage). The copies cost little next to the convolutions (docs/benchmarks.md).

Under vmap the supernet runs in the standard memory format (vmap cannot query channels-last contiguity; the
layout changes no value, only the convolution's rounding). Results equal the seed's own step up to float
rounding: the batched convolutions sum in another order (float64: about 1e-14 relative after a few steps).

Not batched (`unsupported` says why): methods that do not declare `packable` on their own class (their step
is not first-order DARTS' step), random ops inside the forward (RobustDARTS S4's `noise`, drop-path: vmap
would draw other numbers than the seed alone), BatchNorm's cumulative average (`momentum=None` reads the
batch count back to the host, which vmap cannot do), bf16 autocast (the batched step enters none), and seeds whose
configs differ beyond the seed.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from nasbench_harness.methods.base import Batch, Method, StepFigures, accuracy
from nasbench_harness.spaces import ops

#: vmap runs ops without a batching rule (BN's running-statistics `lerp_` in spaces/fused.py) seed by seed,
#: with a performance warning each call; the result is the same, so the warning is not repeated per step.
_FALLBACK_WARNING = "There is a performance drop because we have not yet implemented the batching rule"


def unsupported(methods: Sequence[Method]) -> str | None:
    """Why these methods cannot step as one batched computation; None when they can."""
    if not methods:
        return "no methods to batch"
    first = methods[0]
    cls = type(first)
    if not cls.__dict__.get("packable", False):
        return (
            f"method {first.name!r} ({cls.__name__}) does not declare `packable = True` on its own class: "
            "only first-order DARTS' step is batched"
        )
    if first.config.train.precision != "fp32":
        return f"train.precision {first.config.train.precision!r}: the batched step runs without autocast (fp32 only)"
    base = first.config.model_dump(mode="json", exclude={"seed"})
    state = _signature(first.net)
    for i, m in enumerate(methods[1:], start=1):
        if type(m) is not cls:
            return f"seed {i} runs {type(m).__name__}, seed 0 runs {cls.__name__}: batched seeds share one method"
        other = m.config.model_dump(mode="json", exclude={"seed"})
        if other != base:
            return f"seed {i}'s config differs from seed 0's beyond the seed, in {_first_difference(base, other)}"
        if _signature(m.net) != state:
            return (
                f"seed {i}'s supernet differs from seed 0's in its parameters or buffers (names, shapes, dtypes or "
                "devices): batched seeds need identical networks"
            )
        if m.net.training != first.net.training:
            return f"seed {i}'s supernet is in {_mode(m.net)} mode, seed 0's in {_mode(first.net)} mode"
    for m in methods:
        if m.extra_arch:
            return f"method {m.name!r} has architecture parameters beyond α ({sorted(m.extra_arch)})"
        if m.mixing_weights() is not None:
            return f"method {m.name!r} mixes with its own weights, not softmax(α)"
    return _forward_unsupported(methods)


def _forward_unsupported(methods: Sequence[Method]) -> str | None:
    """What in the supernets' forward vmap cannot reproduce seed by seed."""
    for i, m in enumerate(methods):
        reason = _net_unsupported(m.net)
        if reason is not None:
            return f"seed {i}: {reason}"
    return None


def _net_unsupported(net: nn.Module) -> str | None:
    for name, module in net.named_modules():
        if isinstance(module, ops.Noise):
            return f"the supernet draws random numbers in its forward ({name}: {type(module).__name__})"
        cumulative = isinstance(module, nn.modules.batchnorm._BatchNorm) and module.momentum is None
        if cumulative and module.track_running_stats:
            return f"BatchNorm {name} keeps a cumulative average (momentum=None), which reads its count to the host"
    if getattr(net, "drop_path_prob", 0.0) > 0.0:
        return f"drop-path is on (drop_path_prob={net.drop_path_prob}): it draws random numbers in the forward"
    return None


def _signature(net: nn.Module) -> list[tuple[str, tuple[int, ...], torch.dtype, torch.device]]:
    tensors = [*net.named_parameters(), *net.named_buffers()]
    return [(name, tuple(t.shape), t.dtype, t.device) for name, t in tensors]


def _first_difference(a: dict, b: dict, prefix: str = "") -> str:
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        if isinstance(x, dict) and isinstance(y, dict):
            if x != y:
                return _first_difference(x, y, f"{prefix}{key}.")
        elif x != y:
            return f"{prefix}{key} ({x!r} vs {y!r})"
    return "?"


def _mode(net: nn.Module) -> str:
    return "train" if net.training else "eval"


class BatchedStep:
    """N seeds' `Darts.step` as one vmapped forward/backward per pass, each seed's own optimisers after it."""

    def __init__(self, methods: Sequence[Method]):
        reason = unsupported(methods)
        if reason is not None:
            raise ValueError(f"seeds cannot be batched: {reason}")
        self.methods = list(methods)
        #: The module `functional_call` runs: seed 0's supernet, with the stacked tensors in place of its own.
        self.net = self.methods[0].net
        arch = {id(p) for p in self.net.arch_parameters()}
        names = [(name, id(p) in arch) for name, p in self.net.named_parameters()]
        self.weight_names = [name for name, is_arch in names if not is_arch]
        self.arch_names = [name for name, is_arch in names if is_arch]

    def restored(self) -> None:
        """Call after a seed's net or method was loaded from a checkpoint or rolled back. Nothing stacked is
        kept between calls, so there is nothing to refresh; this checks the seeds can still be batched."""
        reason = unsupported(self.methods)
        if reason is not None:
            raise ValueError(f"seeds cannot be batched after the restore: {reason}")

    def describe(self) -> dict[str, object]:
        """What the batched step changes, for each packed run's metadata (its rounding differs from the plain
        step's: batched convolutions, channels-first under vmap)."""
        return {
            "mode": "vmap",
            "seeds": len(self.methods),
            "batched": "forward and backward of the weight and α steps (torch.func.functional_call + vmap)",
            "per_seed": "gradient clipping, w/a optimisers, BN running statistics, figures",
            "layout": "channels-first under vmap",
        }

    def __call__(self, batches: Sequence[tuple[Batch, Batch]]) -> list[StepFigures]:
        if len(batches) != len(self.methods):
            raise ValueError(f"{len(batches)} (train, valid) batch pairs for {len(self.methods)} batched seeds")
        # What can change between steps without a new method (the module walk of `unsupported` cannot, and
        # costs tens of milliseconds a round): a method's drop-path schedule, the supernets' modes.
        drop_path = next((m for m in self.methods if getattr(m.net, "drop_path_prob", 0.0) > 0.0), None)
        if drop_path is not None or any(m.net.training != self.net.training for m in self.methods):
            why = "drop-path is on" if drop_path is not None else "their supernets are in different modes"
            raise ValueError(f"seeds cannot be batched: {why}")
        train = _stack_batches([t for t, _ in batches], "train")
        valid = _stack_batches([v for _, v in batches], "valid")
        seeds = [dict(m.net.named_buffers()) for m in self.methods]
        buffers = {name: torch.stack([own[name] for own in seeds]) for name in seeds[0]}
        if self.methods[0].step_order == "weights_first":  # type: ignore[attr-defined]
            weights = self._weight_step(train, buffers)
            figures = [{**a, **w} for a, w in zip(self._alpha_step(valid, buffers), weights)]
        else:
            alphas = self._alpha_step(valid, buffers)
            figures = [{**a, **w} for a, w in zip(alphas, self._weight_step(train, buffers))]
        with torch.no_grad():
            for i, own in enumerate(seeds):
                for name, buffer in own.items():
                    buffer.copy_(buffers[name][i])
        return figures

    def _weight_step(self, batch: Batch, buffers: dict[str, Tensor]) -> list[StepFigures]:
        """`Method.weight_step` for every seed (the forward/backward batched)."""
        for m in self.methods:
            m.w_optimizer.zero_grad(set_to_none=True)
        train = self.methods[0].config.train
        trained = self.weight_names
        if train.clip_scope == "all" and self.methods[0].learns_alphas:
            trained = self.weight_names + self.arch_names
        losses, logits = self._backward(batch, buffers, trained)
        for m in self.methods:
            if train.grad_clip is not None:
                params = dict(m.net.named_parameters())
                grads = [params[name] for name in trained if params[name].grad is not None]
                nn.utils.clip_grad_norm_(grads, train.grad_clip)
            m.w_optimizer.step()
        return [{"train_loss": losses[i], "train_acc": accuracy(logits[i], batch[1][i])} for i in range(len(losses))]

    def _alpha_step(self, batch: Batch, buffers: dict[str, Tensor]) -> list[StepFigures]:
        """`Method.first_order_alpha_step` for every seed (the forward/backward batched)."""
        for m in self.methods:
            m.a_optimizer.zero_grad(set_to_none=True)
        losses, logits = self._backward(batch, buffers, self.arch_names)
        for m in self.methods:
            m.a_optimizer.step()
        return [{"valid_loss": losses[i], "valid_acc": accuracy(logits[i], batch[1][i])} for i in range(len(losses))]

    def _backward(self, batch: Batch, buffers: dict[str, Tensor], trained: list[str]) -> tuple[Tensor, Tensor]:
        """The seeds' losses and logits on their stacked batch, and the gradients of `trained` added into each
        seed's `.grad` (as `loss.backward(inputs=...)` does: set where None, accumulated where present)."""
        seeds = [dict(m.net.named_parameters()) for m in self.methods]
        wanted = set(trained)
        stacked = {
            name: torch.stack([params[name].detach() for params in seeds]).requires_grad_(name in wanted)
            for name in seeds[0]
        }
        criterion = self.methods[0].criterion

        def loss(params: dict[str, Tensor], buffers: dict[str, Tensor], x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
            logits = functional_call(self.net, {**params, **buffers}, (x, None))
            return criterion(logits, y), logits

        with _standard_layout(self.net), _quiet_fallbacks():
            losses, logits = vmap(loss)(stacked, buffers, *batch)
            grads = torch.autograd.grad(losses.sum(), [stacked[name] for name in trained], allow_unused=True)
        with torch.no_grad():
            for name, grad in zip(trained, grads):
                if grad is None:
                    continue
                for params, g in zip(seeds, grad):
                    p = params[name]
                    if p.grad is None:
                        p.grad = g.clone()
                    else:
                        p.grad += g
        return losses.detach(), logits.detach()


def _stack_batches(batches: Sequence[Batch], kind: str) -> Batch:
    shapes = {(tuple(x.shape), tuple(y.shape)) for x, y in batches}
    if len(shapes) > 1:
        raise ValueError(f"batched seeds need {kind} batches of one shape, got {sorted(shapes)}")
    return torch.stack([x for x, _ in batches]), torch.stack([y for _, y in batches])


@contextlib.contextmanager
def _standard_layout(net: nn.Module) -> Iterator[None]:
    """vmap cannot ask whether a tensor is channels-last contiguous (NYI in torch 2.x): run without it."""
    channels_last = net.channels_last
    net.channels_last = False
    try:
        yield
    finally:
        net.channels_last = channels_last


@contextlib.contextmanager
def _quiet_fallbacks() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_FALLBACK_WARNING)
        yield
