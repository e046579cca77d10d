"""What every supernet offers the methods: α, weight/α parameter split, forward with given weights."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from nasbench_harness.mixing import Mixer

if TYPE_CHECKING:
    from nasbench_harness.spaces.genotype import Genotype
    from nasbench_harness.spaces.space import SearchSpace

MixingWeights = Mapping[str, Tensor] | Sequence[Tensor]


class Supernet(nn.Module):
    """A weight-sharing network over a search space.

    `alphas` holds one matrix per cell type (edges × ops); `searched_cell_types` names the type of
    each searched cell in forward order, so per-cell weight copies line up with the cells.
    """

    space: SearchSpace
    mixer: Mixer
    searched_cell_types: tuple[str, ...]
    #: Asks for the fast cell forward (`spaces/fused.py`); False = op by op, as the original code.
    fused: bool = False
    #: Activations in channels-last memory format: same values, faster convolutions on CPU.
    channels_last: bool = False

    @property
    def uses_fused_path(self) -> bool:
        """The fast path runs when asked for and the mixer is the dense weighted sum (else op by op)."""
        return self.fused and self.mixer.dense

    def init_alphas(self, generator: torch.Generator | None = None) -> None:
        """DARTS initialisation: 1e-3 · N(0, 1), one matrix per cell type."""
        self.alphas = nn.ParameterDict(
            {
                cell_type: nn.Parameter(1e-3 * torch.randn(shape, generator=generator))
                for cell_type, shape in self.space.alpha_shapes().items()
            }
        )

    def arch_parameters(self) -> list[nn.Parameter]:
        return list(self.alphas.values())

    def weight_parameters(self) -> list[nn.Parameter]:
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def softmax_weights(self) -> dict[str, Tensor]:
        return {cell_type: torch.softmax(alpha, dim=-1) for cell_type, alpha in self.alphas.items()}

    def per_cell(self, weights: MixingWeights | None) -> list[Tensor]:
        """One weight matrix per searched cell: shared matrices repeat, per-cell copies pass through."""
        if weights is None:
            weights = self.softmax_weights()
        if isinstance(weights, Mapping):
            return [weights[t] for t in self.searched_cell_types]
        weights = list(weights)
        if len(weights) != len(self.searched_cell_types):
            raise ValueError(
                f"got {len(weights)} per-cell weight matrices for {len(self.searched_cell_types)} searched cells"
            )
        return weights

    def genotype(self) -> Genotype:
        return self.space.derive({t: a.detach().cpu().numpy() for t, a in self.alphas.items()})

    def describe(self) -> dict[str, object]:
        """Construction choices that change results, for run metadata."""
        raise NotImplementedError
