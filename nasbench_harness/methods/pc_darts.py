"""PC-DARTS (Xu et al., ICLR 2020): partial channel connections and edge normalisation.

From its code (github:yuhuixu1993/PC-DARTS at b74702f; `model_search.py`, `train_search.py`):

1. Partial channels (`MixedOp`, lines 27-57, K = 4 at line 31): the first C/K channels of an edge's input
   go through the mixed op (ops built at C/K channels, pools followed by a non-affine BN, line 34); the
   other channels bypass it, max-pooled 2x2 on stride-2 edges (line 49); then channel shuffle with K groups
   (line 50). `mixing.PartialChannels` is that op (checked against it: same slicing, pooling and shuffle).
2. Edge normalisation: per cell type one β per edge (1e-3·N(0,1), line 174), softmax over the edges
   entering each node (lines 150-163); an edge's whole output, bypass channels included, is scaled by its
   weight (`weights2[offset+j] * MixedOp(...)`, line 85). β is architecture state: stepped by the α
   optimiser with α, checkpointed and restored with the method (`Method.init_extra_arch`), logged per
   epoch (`arch_state` in metrics.jsonl).
3. Genotype (lines 190-206): softmax(α) of each edge times its edge weight, then DARTS' rule (per node the
   two inputs with the strongest non-`none` op, line 198), so β can change which edges are kept.
4. α and β are frozen for the first 15 epochs (`if epoch>=15: architect.step`, train_search.py line 156);
   afterwards first-order DARTS, α step first, then the weight step (clip over the weights only).
5. `train_search.py` lines 24-44: batch 256, lr 0.1 cosine to 0.0, α lr 6e-4, α weight decay 1e-3, Adam
   betas (0.5, 0.999), weight decay 3e-4, clip 5, 50 epochs, half of the training set for α, a fresh random
   α batch each step (`next(iter(valid_queue))`, line 147).

The learning rate: `scheduler.step()` before each epoch (train_search.py lines 112-114) under the PyTorch
0.3.1 the main branch was written for (README line 76: "python2 with pytorch(3.0.1)"; the code needs
PyTorch <= 0.4: `loss.data[0]`, line 168, and `.cuda(async=True)`, line 144), whose scheduler constructor
leaves `last_epoch` at -1, so epoch e trains at lr(e) (`train.lr_epoch: current`); the README's
`V100_python1.0` branch under PyTorch >= 1.1 would train at lr(e + 1) and the last epoch at 0 (`next`).

NAS-Bench-201 has no PC-DARTS code (not in PC-DARTS, nor in xautodl). Its published NB201 row
(93.41 / 67.48 / 41.31) is the DrNAS paper's (xiangning-chen/DrNAS README.MD), from DrNAS' NB201 search
script with partial channels (`201-space/train_search.py --method darts --k K`: `TinyNetwork` with
`NAS201SearchCell_PartialChannel`, search_model.py line 8, search_cells.py lines 134-177). That script is the
specification on NB201 (`NB201_DEFAULTS`, at f2caa4d): batch 64, lr 0.025 → 0.001, momentum 0.9, weight decay
3e-4, no Nesterov, 100 epochs (lines 34-41), α Adam lr 3e-4, weight decay 1e-3 (lines 51-52, its `l2`
regulariser), half of the CIFAR training set for α with a fresh random α batch each step (lines 49, 178-190,
260), α first (line 265), no warm-up (`# if epoch >= 15:`, line 264), no edge normalisation β (the cell has
none), BatchNorm with running statistics (search_model.py line 18), α's gradient zeroed before the weight
step (lines 266-267) and the clip over `model.parameters()`, α included (line 273: `clip_scope: all` with
`zero_arch_grads`), `scheduler.step()` after the epoch (line 237: lr(e)). K = 4, PC-DARTS' own proportion
(the script's `--k` defaults to 1, line 55). On NB201 every edge is kept, so β would not change the genotype.

The eigenvalue metric differentiates with respect to α only, through this method's mixing (β held fixed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from pydantic import BaseModel, ConfigDict, NonNegativeInt, PositiveInt
from torch import Tensor, nn

from nasbench_harness.methods.base import Batch, Method, StepFigures, register_method
from nasbench_harness.mixing import PartialChannels
from nasbench_harness.spaces import Genotype, Supernet
from nasbench_harness.spaces.space import DartsFamilySpace, NB201Space


class PcDartsArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Channel proportion 1/K through the mixed op (model_search.py line 31; 2 in the ImageNet script).
    k: PositiveInt = 4
    #: Epochs with α and β frozen (train_search.py line 156).
    warmup_epochs: NonNegativeInt = 15
    #: Edge normalisation β; False is the paper's ablation "partial channels only".
    edge_normalisation: bool = True
    #: Zero α's gradient before the weight step (DrNAS' NB201 loop, 201-space/train_search.py lines 266-267), so
    #: with `train.clip_scope: all` the clip norm counts α's training-loss gradient only.
    zero_arch_grads: bool = False


#: DrNAS' NB201 partial-channel search (201-space/train_search.py at f2caa4d; see the module docstring).
NB201_DEFAULTS: dict[str, Any] = {
    "train": {
        "epochs": 100,
        "batch_size": 64,
        "lr": 0.025,
        "lr_min": 0.001,
        "weight_decay": 3e-4,
        "nesterov": False,
        "arch_lr": 3e-4,
        "arch_weight_decay": 1e-3,
        "clip_scope": "all",
    },
    "data": {"split": "half", "valid_sampling": "darts_fresh_batch"},
    "network": {"track_running_stats": True},
    "method_args": {"warmup_epochs": 0, "edge_normalisation": False, "zero_arch_grads": True},
}


class EdgeNormalisedChannels(PartialChannels):
    """Partial channels whose whole edge output is scaled by the edge weight in the row's last entry
    (PC-DARTS `Cell.forward`: `weights2[e] * MixedOp(h, weights[e])`)."""

    name = "partial_channels_edge_normalised"

    def __call__(self, x: Tensor, edge: Any, weights: Tensor) -> Tensor:
        return weights[-1] * super().__call__(x, edge, weights[:-1])

    def describe(self) -> dict[str, object]:
        return {**super().describe(), "edge_weight": "last entry of each mixing row (softmax of β per node)"}


def node_edge_groups(space: DartsFamilySpace | NB201Space) -> list[list[int]]:
    """α rows (edges) grouped by the node they enter, in row order: the softmax groups of β."""
    if isinstance(space, DartsFamilySpace):
        groups, start = [], 0
        for node in range(space.steps):
            groups.append(list(range(start, start + node + 2)))
            start += node + 2
        return groups
    if isinstance(space, NB201Space):
        from nasbench_harness.spaces.nb201_network import EDGES

        targets = sorted({target for target, _ in EDGES})
        return [[e for e, (target, _) in enumerate(EDGES) if target == t] for t in targets]
    raise ValueError(f"PC-DARTS' edge normalisation needs the nodes of space {space.name!r}; it knows DARTS and NB201")


def edge_weights(beta: Tensor, groups: list[list[int]]) -> Tensor:
    """softmax(β) over each node's incoming edges, in edge order (model_search.py lines 150-163)."""
    weights = torch.empty_like(beta)
    for group in groups:
        weights[group] = torch.softmax(beta[group], dim=-1)
    return weights


@register_method("pc_darts")
class PcDarts(Method):
    Args = PcDartsArgs
    args: PcDartsArgs
    defaults: ClassVar[dict[str, Any]] = {"train": {"batch_size": 256, "lr": 0.1, "lr_min": 0.0, "arch_lr": 6e-4}}
    family_defaults: ClassVar[dict[str, dict[str, Any]]] = {"nb201": NB201_DEFAULTS}
    departures: ClassVar[tuple[str, ...]] = (
        "NAS-Bench-201 has no PC-DARTS code: DrNAS' NB201 partial-channel search (201-space/train_search.py) is "
        "followed, with K = 4, PC-DARTS' proportion: that script's --k defaults to 1 (line 55) and the K behind "
        "the published row is not stated.",
    )

    @classmethod
    def mixer(cls, args: BaseModel) -> PartialChannels:
        assert isinstance(args, PcDartsArgs)
        return EdgeNormalisedChannels(args.k) if args.edge_normalisation else PartialChannels(args.k)

    def __init__(self, net: Supernet, config: Any, device: torch.device):
        self.groups = node_edge_groups(net.space)  # type: ignore[arg-type]
        super().__init__(net, config, device)

    def init_extra_arch(self) -> Mapping[str, nn.Parameter]:
        if not self.args.edge_normalisation:
            return {}
        device = next(iter(self.net.alphas.values())).device
        return {
            f"beta.{t}": nn.Parameter(1e-3 * torch.randn(shape[0]).to(device))
            for t, shape in self.net.space.alpha_shapes().items()
        }

    def arch_state_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = super().arch_state_shapes()
        if self.args.edge_normalisation:
            shapes.update({f"beta.{t}": (shape[0],) for t, shape in self.net.space.alpha_shapes().items()})
        return shapes

    def arch_trained(self, epoch: int) -> bool:
        return epoch >= self.args.warmup_epochs

    def edge_weights(self) -> dict[str, Tensor]:
        return {t: edge_weights(self.extra_arch[f"beta.{t}"], self.groups) for t in self.net.alphas}

    def mixing_weights(self) -> dict[str, Tensor] | None:
        if not self.args.edge_normalisation:
            return None
        softmax, edges = self.net.softmax_weights(), self.edge_weights()
        return {t: torch.cat([softmax[t], edges[t][:, None]], dim=1) for t in softmax}

    @property
    def step_order(self) -> str:
        return self.config.train.step_order or "alpha_first"

    def weight_step(self, batch: Batch, weights: Any = None) -> StepFigures:
        if self.args.zero_arch_grads:
            for p in self.arch_parameters():
                p.grad = None
        return super().weight_step(batch, weights)

    def step(self, train: Batch, valid: Batch) -> StepFigures:
        if not self.arch_trained(self.epoch):
            return self.weight_step(train)
        if self.step_order == "weights_first":
            weights = self.weight_step(train)
            return {**self.first_order_alpha_step(valid), **weights}
        return {**self.first_order_alpha_step(valid), **self.weight_step(train)}

    def genotype(self) -> Genotype:
        """DARTS' rule on softmax(α) scaled by each edge's weight (model_search.py lines 190-206)."""
        with torch.no_grad():
            softmax = self.net.softmax_weights()
            if self.args.edge_normalisation:
                edges = self.edge_weights()
                softmax = {t: w * edges[t][:, None] for t, w in softmax.items()}
            return self.net.space.derive_from_weights({t: w.cpu().numpy() for t, w in softmax.items()})

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "order": "first",
            "step_order": self.step_order,
            "arch_frozen_epochs": self.args.warmup_epochs,
            "partial_channels": f"1/{self.args.k} of each edge's channels through the ops, the rest bypass "
            "(max-pooled 2x2 on stride-2 edges), channel shuffle with K groups",
            "edge_normalisation": "softmax(β) over each node's incoming edges scales the whole edge output"
            if self.args.edge_normalisation
            else "off",
            "beta_init": "1e-3 * N(0, 1) per edge, drawn after the supernet's α",
            "genotype_rule": "DARTS' rule on softmax(α) * edge weight" if self.args.edge_normalisation else "DARTS'",
            "eigenvalue": "Hessian with respect to α only, through this method's mixing (β fixed)",
            "arch_grads_in_weight_step": "zeroed first (DrNAS' NB201 loop)" if self.args.zero_arch_grads else "kept",
            "source": "github:yuhuixu1993/PC-DARTS b74702f model_search.py, train_search.py"
            if isinstance(self.net.space, DartsFamilySpace)
            else "DrNAS' NB201 partial-channel search, github:xiangning-chen/DrNAS f2caa4d 201-space/train_search.py",
        }
