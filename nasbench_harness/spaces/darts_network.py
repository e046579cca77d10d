"""The DARTS-family search network (DARTS space and RobustDARTS S1–S4), as in `model_search.py`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from nasbench_harness.mixing import MixedEdge, Mixer, WeightedSum
from nasbench_harness.spaces.fused import FusedCell
from nasbench_harness.spaces.ops import FactorizedReduce, ReLUConvBN, build_darts_op
from nasbench_harness.spaces.supernet import MixingWeights, Supernet

if TYPE_CHECKING:
    from nasbench_harness.spaces.space import DartsFamilySpace


def drop_path(x: Tensor, drop_prob: float) -> Tensor:
    """Drop a whole sample's edge output with probability p, rescaling the kept ones (DARTS utils)."""
    keep = 1.0 - drop_prob
    mask = x.new_empty((x.shape[0], 1, 1, 1)).bernoulli_(keep)
    return x / keep * mask


class SearchCell(nn.Module):
    def __init__(
        self,
        edge_ops: Sequence[tuple[str, ...]],
        steps: int,
        multiplier: int,
        c_pp: int,
        c_p: int,
        c: int,
        reduction: bool,
        reduction_prev: bool,
        op_divisor: int,
    ):
        super().__init__()
        self.reduction = reduction
        self.steps, self.multiplier = steps, multiplier
        self.preprocess0 = (
            FactorizedReduce(c_pp, c, affine=False) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, 0, affine=False)
        )
        self.preprocess1 = ReLUConvBN(c_p, c, 1, 1, 0, affine=False)
        self.edges = nn.ModuleList()
        pairs = []  # (target state, source state) per edge; states = 2 inputs, then the nodes
        for i in range(steps):
            for j in range(2 + i):
                stride = 2 if reduction and j < 2 else 1
                names = edge_ops[len(pairs)]
                ops = [build_darts_op(name, c // op_divisor, stride) for name in names]
                self.edges.append(MixedEdge(names, ops, stride))
                pairs.append((2 + i, j))
        self.plan = FusedCell(pairs, list(self.edges))

    def forward(self, s0: Tensor, s1: Tensor, weights: Tensor, mixer: Mixer, drop_prob: float, fused: bool) -> Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        if fused:
            drop = (lambda out: drop_path(out, drop_prob)) if drop_prob > 0.0 and self.training else None
            states = self.plan.forward(states, weights, drop)
            return torch.cat(states[-self.multiplier :], dim=1)
        offset = 0
        for _ in range(self.steps):
            node = None
            for j, h in enumerate(states):
                out = mixer(h, self.edges[offset + j], weights[offset + j])
                if drop_prob > 0.0 and self.training:
                    out = drop_path(out, drop_prob)
                node = out if node is None else node + out
            offset += len(states)
            states.append(node)
        return torch.cat(states[-self.multiplier :], dim=1)


class DartsSupernet(Supernet):
    """Stem (3x3 conv, 3·C channels, BN), `layers` cells with reductions at 1/3 and 2/3, GAP, linear."""

    def __init__(
        self,
        space: DartsFamilySpace,
        channels: int = 16,
        layers: int = 8,
        num_classes: int = 10,
        mixer: Mixer | None = None,
        steps: int = 4,
        multiplier: int = 4,
        stem_multiplier: int = 3,
        in_channels: int = 3,
        fused: bool = True,
        channels_last: bool | None = None,
    ):
        super().__init__()
        self.space = space
        self.mixer = mixer or WeightedSum()
        self.fused, self.channels_last = fused, channels_last
        self.channels, self.layers, self.num_classes = channels, layers, num_classes
        self.steps, self.multiplier, self.stem_multiplier = steps, multiplier, stem_multiplier
        #: Scheduled by methods (R-DARTS DP); applied per mixed edge while training.
        self.drop_path_prob = 0.0
        c_curr = stem_multiplier * channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c_curr, 3, padding=1, bias=False), nn.BatchNorm2d(c_curr))
        c_pp, c_p, c_curr = c_curr, c_curr, channels
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c_curr *= 2
            cell_type = "reduce" if reduction else "normal"
            self.cells.append(
                SearchCell(
                    space.edge_ops[cell_type],
                    steps,
                    multiplier,
                    c_pp,
                    c_p,
                    c_curr,
                    reduction,
                    reduction_prev,
                    self.mixer.channel_divisor,
                )
            )
            reduction_prev = reduction
            c_pp, c_p = c_p, multiplier * c_curr
        self.searched_cell_types = tuple("reduce" if cell.reduction else "normal" for cell in self.cells)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, num_classes)
        self.init_alphas()

    def forward(self, x: Tensor, weights: MixingWeights | None = None) -> Tensor:
        per_cell = self.per_cell(weights)
        fused = self.uses_fused_path
        x = self.to_layout(x)
        s0 = s1 = self.stem(x)
        for cell, w in zip(self.cells, per_cell):
            s0, s1 = s1, cell(s0, s1, w, self.mixer, self.drop_path_prob, fused)
        return self.classifier(self.global_pooling(s1).flatten(1))

    def describe(self) -> dict[str, object]:
        return {
            "family": "darts",
            "channels": self.channels,
            "layers": self.layers,
            "steps": self.steps,
            "multiplier": self.multiplier,
            "stem_multiplier": self.stem_multiplier,
            "search_bn": "affine=False, track_running_stats=True (DARTS/RobustDARTS search cells)",
            "fused": self.uses_fused_path,
            **self.describe_layout(),
            **self.mixer.describe(),
        }
