"""The NAS-Bench-201 network, search (`TinyNetworkDarts`) and discrete (`TinyNetwork`) alike.

Stem 3x3 conv + BN; three stages of N cells (C, 2C, 4C) joined by stride-2 ResNet blocks; then
BN-ReLU, global pooling and a linear classifier. The final BN-ReLU matters: without it accuracy drops
by 5–6 points.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from torch import Tensor, nn

from nasbench_harness.mixing import MixedEdge, Mixer, WeightedSum
from nasbench_harness.spaces.fused import FusedCell
from nasbench_harness.spaces.nb201_ops import ResNetBasicBlock, build_nb201_op
from nasbench_harness.spaces.supernet import MixingWeights, Supernet

if TYPE_CHECKING:
    from nasbench_harness.spaces.genotype import NB201Genotype
    from nasbench_harness.spaces.space import NB201Space

NODES = 4
#: (target, source) of each edge in α row order: 1←0, 2←0, 2←1, 3←0, 3←1, 3←2.
EDGES = tuple((i, j) for i in range(1, NODES) for j in range(i))


class NB201Cell(nn.Module):
    """Node i = sum over j < i of edge(j→i)(node j); output = node 3."""

    def __init__(
        self,
        edge_ops: Sequence[tuple[str, ...]],
        channels: int,
        affine: bool,
        track_running_stats: bool,
        op_divisor: int = 1,
    ):
        super().__init__()
        width = channels // op_divisor
        self.edges = nn.ModuleList(
            MixedEdge(names, [build_nb201_op(n, width, width, 1, affine, track_running_stats) for n in names], 1)
            for names in edge_ops
        )
        self.plan = FusedCell(EDGES, list(self.edges))

    def forward(self, x: Tensor, weights: Tensor | None, mixer: Mixer, fused: bool = False) -> Tensor:
        if fused and weights is not None:
            return self.plan.forward([x], weights)[-1]
        nodes = [x]
        for i in range(1, NODES):
            total = None
            for e, (target, j) in enumerate(EDGES):
                if target != i:
                    continue
                edge = self.edges[e]
                out = edge.ops[0](nodes[j]) if weights is None else mixer(nodes[j], edge, weights[e])
                total = out if total is None else total + out
            nodes.append(total)
        return nodes[-1]


class NB201Network(Supernet):
    """Search supernet when every edge has all five ops; a discrete net when each edge has one op."""

    def __init__(
        self,
        space: NB201Space,
        channels: int = 16,
        cells_per_stage: int = 5,
        num_classes: int = 10,
        mixer: Mixer | None = None,
        affine: bool = False,
        track_running_stats: bool = False,
        edge_ops: Sequence[tuple[str, ...]] | None = None,
        in_channels: int = 3,
        searchable: bool = True,
        fused: bool = True,
        channels_last: bool | None = None,
    ):
        super().__init__()
        self.searchable = searchable
        self.fused, self.channels_last = fused, channels_last
        self.space = space
        self.mixer = mixer or WeightedSum()
        self.channels, self.cells_per_stage, self.num_classes = channels, cells_per_stage, num_classes
        self.affine, self.track_running_stats = affine, track_running_stats
        edge_ops = edge_ops or space.edge_ops["cell"]
        self.stem = nn.Sequential(nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))
        widths = [channels] * cells_per_stage + [channels * 2] + [channels * 2] * cells_per_stage
        widths += [channels * 4] + [channels * 4] * cells_per_stage
        reductions = [False] * cells_per_stage + [True] + [False] * cells_per_stage + [True]
        reductions += [False] * cells_per_stage
        self.cells = nn.ModuleList()
        c_prev = channels
        for width, reduction in zip(widths, reductions):
            if reduction:
                self.cells.append(ResNetBasicBlock(c_prev, width, 2))
            else:
                self.cells.append(NB201Cell(edge_ops, width, affine, track_running_stats, self.mixer.channel_divisor))
            c_prev = width
        self.searched_cell_types = tuple("cell" for c in self.cells if isinstance(c, NB201Cell))
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)
        if searchable:
            self.init_alphas()

    @classmethod
    def discrete(
        cls,
        space: NB201Space,
        genotype: NB201Genotype,
        channels: int = 16,
        cells_per_stage: int = 5,
        num_classes: int = 10,
    ) -> NB201Network:
        """The benchmark's evaluation network for one cell (affine BNs with running statistics)."""
        edge_ops = [(op,) for op in genotype.edge_ops()]
        return cls(
            space,
            channels,
            cells_per_stage,
            num_classes,
            affine=True,
            track_running_stats=True,
            edge_ops=edge_ops,
            searchable=False,
            fused=False,  # one op per edge: nothing to fuse
        )

    def forward(self, x: Tensor, weights: MixingWeights | None = None) -> Tensor:
        per_cell = iter(self.per_cell(weights) if self.searchable else [None] * len(self.searched_cell_types))
        fused = self.uses_fused_path
        x = self.to_layout(x)
        feature = self.stem(x)
        for cell in self.cells:
            is_searched = isinstance(cell, NB201Cell)
            feature = cell(feature, next(per_cell), self.mixer, fused) if is_searched else cell(feature)
        return self.classifier(self.global_pooling(self.lastact(feature)).flatten(1))

    def describe(self) -> dict[str, object]:
        return {
            "family": "nb201",
            "channels": self.channels,
            "cells_per_stage": self.cells_per_stage,
            "search_bn_affine": self.affine,
            "search_bn_track_running_stats": self.track_running_stats,
            "fused": self.uses_fused_path,
            **self.describe_layout(),
            **self.mixer.describe(),
        }
