"""How an edge combines its candidate ops: the seam every relaxation plugs into.

A supernet edge owns its candidate ops; a `Mixer` decides, given that edge's row of mixing weights,
which ops run and how their outputs are combined. Methods choose a mixer (and compute the weights:
softmax, Gumbel, Dirichlet, ...), spaces never do. Per-cell weight copies (Λ-DARTS) need no mixer of
their own: the supernet accepts one weight matrix per cell.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F


class MixedEdge(nn.Module):
    """The candidate ops of one edge, in α column order."""

    def __init__(self, op_names: Sequence[str], ops: Sequence[nn.Module], stride: int):
        super().__init__()
        self.op_names = tuple(op_names)
        self.ops = nn.ModuleList(ops)
        self.stride = stride
        # `none` contributes exact zeros (and zero gradient to its weight): never computed.
        self.zero_ops = frozenset(i for i, name in enumerate(self.op_names) if name == "none")

    def output_like(self, x: Tensor, channels: int | None = None) -> Tensor:
        shaped = x if self.stride == 1 else x[:, :, :: self.stride, :: self.stride]
        if channels is not None and channels != shaped.shape[1]:
            return shaped.new_zeros((shaped.shape[0], channels, *shaped.shape[2:]))
        return torch.zeros_like(shaped)


class Mixer:
    """Combine `edge`'s ops on `x` given `weights` (one row, |ops| entries). Base: dense weighted sum."""

    name = "weighted_sum"
    #: Ops are built at `channels // channel_divisor` (partial-channel mixing).
    channel_divisor = 1

    def __call__(self, x: Tensor, edge: MixedEdge, weights: Tensor) -> Tensor:
        out = None
        for i, op in enumerate(edge.ops):
            if i in edge.zero_ops:
                continue
            term = weights[i] * op(x)
            out = term if out is None else out + term
        return edge.output_like(x) if out is None else out

    @property
    def dense(self) -> bool:
        """True when this is the plain weighted sum over every op at full width.

        Supernets evaluate such mixing in a fused, exact form (`spaces/fused.py`); any mixer that
        overrides `__call__` or splits channels gets the op-by-op path, so new mixers stay correct.
        """
        return type(self).__call__ is Mixer.__call__ and self.channel_divisor == 1

    def describe(self) -> dict[str, object]:
        return {"mixer": self.name, "channel_divisor": self.channel_divisor}


class WeightedSum(Mixer):
    """DARTS: every op runs, outputs summed with their mixing weights."""


class SampledSum(Mixer):
    """Only ops with a non-zero weight run (GDAS one-hot samples, Gumbel-top-k subsets).

    An unchosen op contributes its (zero-valued) weight itself, as the GDAS code does, so a
    straight-through estimator still passes gradient to every α entry.
    """

    name = "sampled_sum"

    def __call__(self, x: Tensor, edge: MixedEdge, weights: Tensor) -> Tensor:
        chosen = (weights.detach() != 0).nonzero().flatten().tolist()
        out: Tensor = edge.output_like(x)
        for i in chosen:
            if i not in edge.zero_ops:
                out = out + weights[i] * edge.ops[i](x)
        unchosen = [i for i in range(len(edge.ops)) if i not in chosen]
        if unchosen:
            out = out + weights[unchosen].sum()
        return out


class PartialChannels(Mixer):
    """PC-DARTS: 1/k of the channels go through the mixed op, the rest bypass it; then channel shuffle."""

    name = "partial_channels"

    def __init__(self, k: int = 4, inner: Mixer | None = None):
        if k < 1:
            raise ValueError("partial-channel divisor k must be >= 1")
        self.channel_divisor = k
        self.inner = inner or WeightedSum()

    def __call__(self, x: Tensor, edge: MixedEdge, weights: Tensor) -> Tensor:
        k = self.channel_divisor
        width = x.shape[1] // k
        mixed = self.inner(x[:, :width], edge, weights)
        bypass = x[:, width:]
        if mixed.shape[2] != x.shape[2]:
            bypass = F.max_pool2d(bypass, 2, 2)
        return channel_shuffle(torch.cat([mixed, bypass], dim=1), k)

    def describe(self) -> dict[str, object]:
        return {"mixer": self.name, "channel_divisor": self.channel_divisor, "inner": self.inner.name}


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).contiguous().view(b, c, h, w)
