"""The fast path of a cell forward: the same function as mixing op by op, computed with less work.

The op-by-op path runs every candidate op of every edge as its own module, multiplies its output by
its mixing weight and adds. For the dense weighted sum (`Mixer.dense`) a cell here evaluates all
edges leaving a node together, with changes that are all exact (same outputs, gradients and BN
buffers, up to float rounding):

- the ReLU that starts every conv op runs once per source node instead of once per op;
- a parameter-free pool runs once per source node; the BNs after a DARTS pool normalise that one
  tensor once when they use batch statistics (BN is per channel and their input is the same);
- dense convolutions of one shape leaving a node (NAS-Bench-201 `nor_conv`) run as one convolution
  over the edges' weights concatenated at forward time, their BNs as one BN over the concatenated
  channels; parameters stay in the per-edge modules, which both paths share. A conv bias before a
  BN without running statistics cancels exactly, so it is kept out of the convolution;
- each weighted term is one multiply-add (`addcmul`) into its target node; `none` never runs.

Measured and left out: grouping the depthwise/pointwise convs of DARTS ops into grouped convolutions
and folding mixing weights into the BN's affine weight were both slower on CPU (channels-last).

Ops it does not know run as their modules, edge by edge in the op-by-op order, so random ops (S4's
`noise`) and drop-path draw the same random numbers on both paths.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from nasbench_harness.mixing import MixedEdge
from nasbench_harness.spaces import nb201_ops, ops


class Source:
    """One node's output and the ReLU its conv ops share (computed on first use)."""

    def __init__(self, x: Tensor):
        self.x = x
        self._relu: Tensor | None = None

    @property
    def relu(self) -> Tensor:
        if self._relu is None:
            self._relu = F.relu(self.x)
        return self._relu


@dataclass(frozen=True)
class FusedOp:
    """How to compute one kind of op for all edges leaving a node.

    `key` splits the modules of that kind into groups computed together; `compute` returns one
    output per module of a group (the same tensor where edges share it), before mixing weights.
    """

    key: Callable[[nn.Module], Hashable]
    compute: Callable[[Source, list[nn.Module]], list[Tensor]]


def batch_norm(bns: Sequence[nn.BatchNorm2d], x: Tensor, cancelled: Tensor | None = None) -> Tensor:
    """`torch.cat([bn_i(x_i)])` for `x` = the inputs of `bns` concatenated along channels, in one call.

    The modules share settings and train/eval mode (the first one's are used). Running statistics
    are concatenated, updated and copied back, so the modules end as after their own forward.
    `cancelled`: per-channel shifts left out of `x` (conv biases) that these BNs remove anyway, as
    they normalise with batch statistics; they enter with weight 0, their exact gradient.
    """
    first = bns[0]
    factor = 0.0 if first.momentum is None else first.momentum
    if first.training and first.track_running_stats:
        for bn in bns:
            bn.num_batches_tracked.add_(1)  # type: ignore[union-attr, operator]
        if first.momentum is None:
            factor = 1.0 / float(first.num_batches_tracked)  # type: ignore[arg-type]
    weight = torch.cat([bn.weight for bn in bns]) if first.affine else None
    bias = torch.cat([bn.bias for bn in bns]) if first.affine else None
    if cancelled is not None:
        bias = cancelled * 0.0 if bias is None else bias + cancelled * 0.0
        if weight is None:  # CUDA's BN backward returns no bias gradient unless a weight is given
            weight = torch.ones_like(cancelled, requires_grad=False)
    mean, var = first.running_mean, first.running_var
    tracked = mean is not None
    if tracked and len(bns) > 1:
        mean = torch.cat([bn.running_mean for bn in bns])  # type: ignore[misc]
        var = torch.cat([bn.running_var for bn in bns])  # type: ignore[misc]
    out = F.batch_norm(x, mean, var, weight, bias, first.training or not tracked, factor, first.eps)
    if tracked and first.training and len(bns) > 1:
        with torch.no_grad():
            for bn, m, v in zip(bns, mean.split(first.num_features), var.split(first.num_features)):  # type: ignore[union-attr]
                bn.running_mean.copy_(m)  # type: ignore[union-attr]
                bn.running_var.copy_(v)  # type: ignore[union-attr]
    return out


def _bn_key(bn: nn.BatchNorm2d) -> Hashable:
    return (bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats)


def _by_type(module: nn.Module) -> Hashable:
    return type(module)


def _identity(src: Source, modules: list[nn.Module]) -> list[Tensor]:
    return [src.x] * len(modules)


def _relu_sequence(src: Source, modules: list[nn.Module]) -> list[Tensor]:
    """ReLU-first sequences (sep/dil conv, ReLUConvBN): the shared ReLU, then the rest per edge."""
    outs = []
    for module in modules:
        h = src.relu
        for layer in list(module)[1:]:  # type: ignore[call-overload]
            h = layer(h)
        outs.append(h)
    return outs


def _dense_conv_key(module: nn.Module) -> Hashable:
    _, conv, bn = module  # type: ignore[misc]
    shape = (conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation)
    return (*shape, conv.groups, conv.padding_mode, conv.bias is not None, _bn_key(bn))


def _dense_conv(src: Source, modules: list[nn.Module]) -> list[Tensor]:
    """ReLU-Conv-BN ops on one input: one convolution and one BN over all edges' channels."""
    convs: list[nn.Conv2d] = [module[1] for module in modules]  # type: ignore[index]
    first = convs[0]
    if first.groups != 1:
        return _relu_sequence(src, modules)
    bns = [module[2] for module in modules]  # type: ignore[index]
    weight = torch.cat([conv.weight for conv in convs])
    bias = None if first.bias is None else torch.cat([conv.bias for conv in convs])  # type: ignore[misc]
    if bias is not None and bns[0].running_mean is None:
        # Batch statistics remove a per-channel shift exactly: leave the biases out of the convolution
        # (their gradient reduction is costly in channels-last convolutions).
        y = batch_norm(bns, first._conv_forward(src.relu, weight, None), cancelled=bias)
    else:
        y = batch_norm(bns, first._conv_forward(src.relu, weight, bias))
    return list(y.split(first.out_channels, dim=1))


def _pool_bn_key(module: nn.Module) -> Hashable:
    pool, bn = module  # type: ignore[misc]
    return (type(pool), pool.extra_repr(), _bn_key(bn))


def _pool_bn(src: Source, modules: list[nn.Module]) -> list[Tensor]:
    """DARTS pools: pool once; BNs that use batch statistics share one normalised tensor."""
    pooled = modules[0][0](src.x)  # type: ignore[index]
    bns: list[nn.BatchNorm2d] = [module[1] for module in modules]  # type: ignore[index]
    first = bns[0]
    if first.affine or not (first.training or first.running_mean is None):
        return [bn(pooled) for bn in bns]
    normalised = F.batch_norm(pooled, None, None, training=True, eps=first.eps)
    if first.training and first.running_mean is not None:
        _update_running_stats(bns, pooled)
    return [normalised] * len(bns)


def _update_running_stats(bns: Sequence[nn.BatchNorm2d], x: Tensor) -> None:
    """What each BN's training-mode forward on `x` does to its buffers."""
    with torch.no_grad():
        var, mean = torch.var_mean(x, dim=(0, 2, 3), correction=1)
        for bn in bns:
            bn.num_batches_tracked.add_(1)  # type: ignore[union-attr, operator]
            # As torch's BN: the cumulative average (momentum None) reads the count back; a momentum needs no read.
            factor = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)  # type: ignore[arg-type]
            bn.running_mean.lerp_(mean, factor)  # type: ignore[union-attr]
            bn.running_var.lerp_(var, factor)  # type: ignore[union-attr]


def _nb201_pool_key(module: nn.Module) -> Hashable:
    # A pool with a width-changing 1x1 conv first never sits inside a cell; keep each one apart.
    return (module.pool.extra_repr(), id(module) if module.preprocess is not None else None)


def _nb201_pool(src: Source, modules: list[nn.Module]) -> list[Tensor]:
    if modules[0].preprocess is not None:  # type: ignore[union-attr]
        return [module(src.x) for module in modules]
    return [modules[0].pool(src.x)] * len(modules)  # type: ignore[operator]


def _factorized_reduce(src: Source, modules: list[nn.Module]) -> list[Tensor]:
    """DARTS skip_connect at stride 2: the shared ReLU, then the two offset convs and BN per edge."""
    return [module.reduce(src.relu) for module in modules]  # type: ignore[operator]


#: Op classes the fast path computes itself; any other op runs as its module.
FUSED_OPS: dict[type[nn.Module], FusedOp] = {
    ops.Identity: FusedOp(_by_type, _identity),
    nb201_ops.Identity: FusedOp(_by_type, _identity),
    ops.SepConv: FusedOp(_by_type, _relu_sequence),
    ops.DilConv: FusedOp(_by_type, _relu_sequence),
    ops.ReLUConvBN: FusedOp(_dense_conv_key, _dense_conv),
    nb201_ops.NorConv: FusedOp(_dense_conv_key, _dense_conv),
    ops.PoolBN: FusedOp(_pool_bn_key, _pool_bn),
    nb201_ops.Pooling: FusedOp(_nb201_pool_key, _nb201_pool),
    ops.FactorizedReduce: FusedOp(_by_type, _factorized_reduce),
}

#: An op output and its mixing weight (a 0-d tensor).
Term = tuple[Tensor, Tensor]


@dataclass
class _Group:
    op: FusedOp
    #: (edge index, α column, module) per member.
    members: list[tuple[int, int, nn.Module]] = field(default_factory=list)


class FusedCell:
    """The plan for one cell: which ops of the edges leaving each node are computed together.

    `edges[e] = (target, source)` are state indices (the cell inputs first, then its nodes), in the
    order of the op-by-op forward: by target, then source. The weight matrix has one row per edge.
    """

    def __init__(self, edges: Sequence[tuple[int, int]], mixed: Sequence[MixedEdge]):
        targets = [t for t, _ in edges]
        if targets != sorted(targets) or any(s >= t for t, s in edges):
            raise ValueError("cell edges must be ordered by target node, each from an earlier state")
        self.edges = list(edges)
        self.mixed = list(mixed)
        self.groups: dict[int, list[_Group]] = {}
        #: Per edge, the (α column, module) pairs that run as modules, in column order.
        self.loose: list[list[tuple[int, nn.Module]]] = [[] for _ in self.edges]
        by_key: dict[Hashable, _Group] = {}
        for e, ((_, source), edge) in enumerate(zip(self.edges, self.mixed)):
            for col, module in enumerate(edge.ops):
                if col in edge.zero_ops:
                    continue
                op = FUSED_OPS.get(type(module))
                if op is None:
                    self.loose[e].append((col, module))
                    continue
                key = (source, type(module), op.key(module))
                if key not in by_key:
                    by_key[key] = _Group(op)
                    self.groups.setdefault(source, []).append(by_key[key])
                by_key[key].members.append((e, col, module))

    def forward(
        self, inputs: Sequence[Tensor], weights: Tensor, drop: Callable[[Tensor], Tensor] | None = None
    ) -> list[Tensor]:
        """All states (the inputs, then one per node); `drop` (drop-path) maps each edge's output."""
        states = list(inputs)
        pending: dict[int, list[Term]] = {}  # per edge, the outputs its source computed for it
        computed: set[int] = set()
        node: Tensor | None = None
        for e, (target, source) in enumerate(self.edges):
            if target > len(states):  # the previous node is complete
                states.append(self._nonempty(node, e - 1, states))
                node = None
            if source not in computed:  # the first edge leaving `source`: compute all of them
                computed.add(source)
                self._compute_source(source, states[source], weights, pending)
            x = states[source]
            terms = pending.pop(e, []) + [(module(x), weights[e, col]) for col, module in self.loose[e]]
            if drop is not None:
                out = drop(self._nonempty(_weighted_sum(None, terms), e, states))
                node = out if node is None else node + out
            else:
                node = _weighted_sum(node, terms)
        states.append(self._nonempty(node, len(self.edges) - 1, states))
        return states

    def _compute_source(self, source: int, x: Tensor, weights: Tensor, pending: dict[int, list[Term]]) -> None:
        """Outputs of every grouped op leaving `source`, filed under their edge."""
        src = Source(x)
        for group in self.groups.get(source, []):
            outs = group.op.compute(src, [module for _, _, module in group.members])
            for (e, col, _), out in zip(group.members, outs):
                pending.setdefault(e, []).append((out, weights[e, col]))

    def _nonempty(self, node: Tensor | None, e: int, states: list[Tensor]) -> Tensor:
        """Zeros of the edge's output shape where every op was `none` (as the op-by-op path gives)."""
        return self.mixed[e].output_like(states[self.edges[e][1]]) if node is None else node


def _weighted_sum(total: Tensor | None, terms: list[Term]) -> Tensor | None:
    for out, w in terms:
        total = out * w if total is None else torch.addcmul(total, out, w)
    return total
