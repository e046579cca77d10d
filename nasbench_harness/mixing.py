"""How an edge combines its candidate ops: the seam every relaxation plugs into.

A supernet edge owns its candidate ops; a `Mixer` decides, given that edge's row of mixing weights,
which ops run and how their outputs are combined. Methods choose a mixer (and compute the weights:
softmax, Gumbel, Dirichlet, ...), spaces never do. Per-cell weight copies (Λ-DARTS) need no mixer of
their own: the supernet accepts one weight matrix per cell.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

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


@dataclass(frozen=True)
class SampledRow:
    """One edge's mixing weights and, on the host, the indices of the ops that run on it."""

    weights: Tensor
    chosen: tuple[int, ...]
    #: Add the unchosen entries' weights to the output (xautodl NB201 `forward_gdas`): their values are 0
    #: under a straight-through one-hot, but their gradient then reaches those α entries directly too.
    add_unchosen: bool = True


class SampledWeights(Sequence[SampledRow]):
    """A cell type's (edges × ops) mixing weights with the chosen op indices of every edge on the host.

    A method samples on the device, moves every edge's indices to the host in one transfer
    (`indices_to_host`) and hands this to the supernet in place of the weight matrix; the cells index it
    per edge as they index a matrix, and `SampledSum` runs the chosen ops without asking the device.
    """

    def __init__(self, weights: Tensor, chosen: Sequence[Sequence[int]], add_unchosen: bool = True):
        if weights.dim() != 2 or len(chosen) != weights.shape[0]:
            raise ValueError(
                f"SampledWeights needs an (edges × ops) matrix and one index list per edge; "
                f"got shape {tuple(weights.shape)} and {len(chosen)} index lists"
            )
        self.weights = weights
        self.chosen = tuple(tuple(int(i) for i in row) for row in chosen)
        self.add_unchosen = add_unchosen

    def __len__(self) -> int:
        return len(self.chosen)

    def __getitem__(self, edge: int) -> SampledRow:  # type: ignore[override]
        return SampledRow(self.weights[edge], self.chosen[edge], self.add_unchosen)

    def with_weights(self, weights: Tensor) -> SampledWeights:
        """The same chosen ops with another weight matrix (a detached copy to differentiate against)."""
        return SampledWeights(weights, self.chosen, self.add_unchosen)


def weight_matrix(weights: Tensor | SampledWeights) -> Tensor:
    """The weight matrix of a cell's mixing, sampled or not."""
    return weights.weights if isinstance(weights, SampledWeights) else weights


def with_matrix(weights: Tensor | SampledWeights, matrix: Tensor) -> Tensor | SampledWeights:
    """`weights` with its matrix replaced by `matrix` (the sampled ops kept)."""
    return weights.with_weights(matrix) if isinstance(weights, SampledWeights) else matrix


def indices_to_host(indices: Mapping[str, Tensor]) -> dict[str, list[list[int]]]:
    """Per cell type, an (edges × k) index tensor as nested host lists, in ONE device→host transfer."""
    keys = list(indices)
    if not keys:
        return {}
    flat = torch.cat([indices[k].reshape(len(indices[k]), -1).long() for k in keys]).tolist()
    out, start = {}, 0
    for k in keys:
        n = len(indices[k])
        out[k] = flat[start : start + n]
        start += n
    return out


class SampledSum(Mixer):
    """Only the sampled ops run (GDAS one-hot samples, Gumbel-top-k sub-graphs, random single paths).

    Given a `SampledRow` (the weights come as `SampledWeights`), the edge computes
    Σ_{i chosen} w_i · op_i(x), plus, with `add_unchosen`, Σ_{i unchosen} w_i (zero-valued under a
    straight-through one-hot, as in xautodl's `forward_gdas`, so gradient reaches every α entry), with no
    host synchronisation. A plain weight row (metrics that differentiate w.r.t. detached weight copies)
    gets the exact dense weighted sum over every op instead: the same value for a one-hot row, all ops run.
    """

    name = "sampled_sum"

    def __call__(self, x: Tensor, edge: MixedEdge, weights: Tensor | SampledRow) -> Tensor:
        if not isinstance(weights, SampledRow):
            return super().__call__(x, edge, weights)
        w, chosen = weights.weights, weights.chosen
        out: Tensor = edge.output_like(x)
        for i in chosen:
            if i not in edge.zero_ops:
                out = out + w[i] * edge.ops[i](x)
        if weights.add_unchosen:
            unchosen = [w[i] for i in range(len(edge.ops)) if i not in chosen]  # views: no index transfer
            if unchosen:
                out = out + torch.stack(unchosen).sum()
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
