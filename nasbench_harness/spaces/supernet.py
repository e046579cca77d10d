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
    #: Activations in channels-last memory format: same values, faster convolutions on CPU. None (the default
    #: of the search supernets): channels-last on the CPU, channels-first on CUDA, where channels-last costs
    #: about 20 % per step (docs/benchmarks.md, measured on an H200).
    channels_last: bool | None = False

    def layout_for(self, device: torch.device) -> str:
        """The activations' memory format on `device`, as forward uses it and the metadata records it."""
        wanted = self.channels_last if self.channels_last is not None else device.type == "cpu"
        return "channels_last" if wanted else "channels_first"

    def to_layout(self, x: Tensor) -> Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.layout_for(x.device) == "channels_last" else x

    def describe_layout(self) -> dict[str, object]:
        device = next(self.parameters()).device
        return {"channels_last": self.channels_last, "layout": self.layout_for(device)}

    @property
    def uses_fused_path(self) -> bool:
        """The fast path runs when asked for and the mixer is the dense weighted sum (else op by op)."""
        return self.fused and self.mixer.dense

    def init_alphas(self, generator: torch.Generator | None = None) -> None:
        """DARTS initialisation: 1e-3 · N(0, 1), one matrix per cell type.

        Where edges have op lists of different lengths, the entries padding shorter rows start (and,
        with no gradient and weight decay on 0, stay) at 0, and a mask (a buffer outside the state dict,
        rebuilt from the space) gives them mixing weight exactly 0."""
        self.alphas = nn.ParameterDict(
            {
                cell_type: nn.Parameter(1e-3 * torch.randn(shape, generator=generator))
                for cell_type, shape in self.space.alpha_shapes().items()
            }
        )
        self.masked_cell_types: tuple[str, ...] = ()
        for cell_type, mask in self.space.alpha_masks().items():
            if not mask.all():
                pad = torch.from_numpy(mask)
                self.register_buffer(f"alpha_mask_{cell_type}", pad, persistent=False)
                with torch.no_grad():
                    self.alphas[cell_type].masked_fill_(~pad, 0.0)
                self.masked_cell_types += (cell_type,)

    def alpha_mask(self, cell_type: str) -> Tensor | None:
        """True where α's entry is an op of its edge; None when every edge of the type has every column."""
        if cell_type not in getattr(self, "masked_cell_types", ()):
            return None
        return getattr(self, f"alpha_mask_{cell_type}")

    def arch_parameters(self) -> list[nn.Parameter]:
        return list(self.alphas.values())

    def weight_parameters(self) -> list[nn.Parameter]:
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def softmax_weights(self) -> dict[str, Tensor]:
        return {t: masked_softmax(alpha, self.alpha_mask(t)) for t, alpha in self.alphas.items()}

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


def masked_softmax(alpha: Tensor, mask: Tensor | None) -> Tensor:
    """Softmax over ops; entries outside `mask` are replaced (not offset) by -inf: weight exactly 0 and no
    gradient to the α entry they replace."""
    if mask is None:
        return torch.softmax(alpha, dim=-1)
    return torch.softmax(alpha.masked_fill(~mask, float("-inf")), dim=-1)
