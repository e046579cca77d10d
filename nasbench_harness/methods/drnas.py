"""DrNAS (Chen et al., ICLR 2021): mixing weights drawn from a Dirichlet over each edge's ops.

From its code (github:xiangning-chen/DrNAS at f2caa4d; `utils.py`, `architect.py`, `201-space/`,
`DARTS-space/`):

1. Every forward draws each edge's mixing weights from Dirichlet(ELU(α) + 1) with the reparameterised
   (pathwise) sample `rsample()` (`utils.py` lines 170-172), so the loss is differentiable in the
   concentrations and α; the evaluation of the supernet samples too (`infer` calls `model(input)`).
2. Regulariser (`--reg_type`, `--reg_scale` 1e-3): `l2` (default) is Adam weight decay reg_scale on α
   (`architect.py` lines 17-20); `kl` adds reg_scale · Σ KL(Dir(ELU(α)+1) ‖ Dir(1)) over every edge (and
   both cell types) to the α loss (`201-space/search_model.py` lines 59-72, `DARTS-space/model_search.py`
   lines 196-210) with no Adam weight decay. `train.arch_weight_decay` is therefore not used.
3. α step (first order, on a fresh random α batch), then the weight step on a fresh Dirichlet sample; the
   α gradients are zeroed around the weight step (`train_search.py` `architect.optimizer.zero_grad()`), and
   the clip covers `model.parameters()`: α and the weights on NAS-Bench-201 (α is an nn.Parameter there,
   so `train.clip_scope` "all", α holding only the training-loss gradient), the weights alone on the DARTS
   space (α are plain Variables).
4. The genotype is the softmax(α) rule of DARTS / NAS-Bench-201 (argmax of α = argmax of the Dirichlet mean).

NAS-Bench-201 defaults (`201-space/train_search.py` lines 34-59, `search_model.py` line 18): 100 epochs,
batch 64, lr 0.025 → 0.001, weight decay 3e-4 (no Nesterov), α lr 3e-4, half of the CIFAR training set
for α (`--train_portion` 0.5: the `half` split, not NAS-Bench-201's official files), a fresh random α batch
per step, BatchNorm with running statistics (`track_running_stats=True`), no partial channels (k = 1), α
trained from the first epoch (the `if epoch >= 15` is commented out, line 264).

DARTS-space defaults (`DARTS-space/train_search.py` lines 25-43, 120-122, 182): batch 64, lr 0.1 → 0.0,
α lr 6e-4, 36 channels, 20 cells, 50 epochs, α frozen for the first 10 epochs of a stage.

Not implemented: progressive learning on the DARTS space. The code runs two stages of 25 epochs: k = 6 with
all ops, then it prunes every edge to the 4 ops of largest α (`model.pruning(4)`, `utils.prune`), widens
the partial-channel ops from C/6 to C/4 channels (`net2wider.py`, optimiser state carried over) and trains
25 more epochs at k = 4, α frozen for the first 10 epochs of each stage. Here the DARTS family runs one
stage: 50 epochs at k = 4 (stage 2's proportion) with every op of the space, α frozen for the first 10
epochs. Also from the space, not DrNAS: the `darts` space has `none` (DrNAS' DARTS-space PRIMITIVES does
not) and its pools carry the non-affine BN of DARTS (commented out in DrNAS, model_search.py line 37).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
from pydantic import BaseModel, ConfigDict, NonNegativeFloat, NonNegativeInt, PositiveInt
from torch import Tensor
from torch.distributions import Dirichlet, kl_divergence
from torch.nn import functional as F

from nasbench_harness.methods.base import Batch, Method, StepFigures, accuracy, register_method
from nasbench_harness.mixing import Mixer, PartialChannels, WeightedSum
from nasbench_harness.spaces import Supernet


class DrnasArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: `l2`: Adam weight decay `reg_scale` on α; `kl`: reg_scale · KL(Dir(ELU(α)+1) ‖ Dir(1)) in the α loss.
    reg_type: Literal["l2", "kl"] = "l2"
    reg_scale: NonNegativeFloat = 1e-3
    #: Partial-channel proportion 1/k (1: every channel, the NB201 default; DARTS family: 4 via space defaults).
    k: PositiveInt = 1
    #: Epochs with α frozen (0 on NB201; 10 on the DARTS family via space defaults).
    warmup_epochs: NonNegativeInt = 0


def concentrations(alpha: Tensor) -> Tensor:
    """The Dirichlet concentration of each edge: ELU(α) + 1 > 0."""
    return F.elu(alpha) + 1


_DARTS_FAMILY: dict[str, Any] = {
    "train": {"lr": 0.1, "lr_min": 0.0, "arch_lr": 6e-4},
    "network": {"channels": 36, "layers": 20},
    "method_args": {"k": 4, "warmup_epochs": 10},
}
_NB201: dict[str, Any] = {
    "train": {
        "epochs": 100,
        "lr": 0.025,
        "lr_min": 0.001,
        "arch_lr": 3e-4,
        "weight_decay": 3e-4,
        "nesterov": False,
        "clip_scope": "all",
    },
    "data": {"split": "half", "valid_sampling": "darts_fresh_batch"},
    "network": {"channels": 16, "track_running_stats": True},
    "method_args": {"k": 1, "warmup_epochs": 0},
}


@register_method("drnas")
class Drnas(Method):
    Args = DrnasArgs
    args: DrnasArgs
    space_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "nb201": _NB201,
        **{space: _DARTS_FAMILY for space in ("darts", "s1", "s2", "s3", "s4")},
    }

    @classmethod
    def mixer(cls, args: BaseModel) -> Mixer:
        assert isinstance(args, DrnasArgs)
        return PartialChannels(args.k) if args.k > 1 else WeightedSum()

    def __init__(self, net: Supernet, config: Any, device: torch.device):
        super().__init__(net, config, device)
        l2 = self.args.reg_scale if self.args.reg_type == "l2" else 0.0
        for group in self.a_optimizer.param_groups:
            group["weight_decay"] = l2

    def arch_state(self) -> dict[str, Tensor]:
        """α and the Dirichlet concentrations ELU(α)+1 (derived from α, logged per epoch)."""
        state = super().arch_state()
        state.update({f"concentration.{t}": concentrations(a).detach() for t, a in self.net.alphas.items()})
        return state

    def arch_state_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = super().arch_state_shapes()
        shapes.update({f"concentration.{t}": shape for t, shape in self.net.space.alpha_shapes().items()})
        return shapes

    def arch_trained(self, epoch: int) -> bool:
        return epoch >= self.args.warmup_epochs

    def mixing_weights(self) -> dict[str, Tensor]:
        """One pathwise Dirichlet sample per edge and cell type, drawn at every call (every forward)."""
        return {t: Dirichlet(concentrations(a)).rsample() for t, a in self.net.alphas.items()}

    def kl_regulariser(self) -> Tensor:
        """reg_scale · Σ over cell types and edges of KL(Dir(ELU(α)+1) ‖ Dir(1))."""
        total = sum(
            kl_divergence(Dirichlet(concentrations(a)), Dirichlet(torch.ones_like(a))).sum()
            for a in self.net.alphas.values()
        )
        return self.args.reg_scale * total

    def alpha_step(self, valid: Batch) -> StepFigures:
        self.a_optimizer.zero_grad(set_to_none=True)
        loss, logits = self.forward_loss(valid)
        objective = loss + self.kl_regulariser() if self.args.reg_type == "kl" else loss
        objective.backward(inputs=self.arch_parameters())
        self.a_optimizer.step()
        return {"valid_loss": loss.detach(), "valid_acc": accuracy(logits, valid[1])}

    def weight_step(self, batch: Batch) -> StepFigures:
        """The base weight step with α's gradient zeroed before and after, as DrNAS' loop does."""
        for p in self.arch_parameters():
            p.grad = None
        figures = super().weight_step(batch)
        for p in self.arch_parameters():
            p.grad = None
        return figures

    def step(self, train: Batch, valid: Batch) -> StepFigures:
        if not self.arch_trained(self.epoch):
            return self.weight_step(train)
        return {**self.alpha_step(valid), **self.weight_step(train)}

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "order": "first",
            "step_order": "alpha_first",
            "mixing": "Dirichlet(ELU(α)+1).rsample() per edge at every forward, evaluation included",
            "regulariser": "Adam weight decay reg_scale on α"
            if self.args.reg_type == "l2"
            else "reg_scale * sum KL(Dir(ELU(α)+1) || Dir(1)) in the α loss, no Adam weight decay",
            "arch_weight_decay_used": self.a_optimizer.param_groups[0]["weight_decay"],
            "arch_frozen_epochs": self.args.warmup_epochs,
            "partial_channels": self.args.k,
            "alpha_grad_in_weight_step": "zeroed before and after (clip_scope all: the training loss's only)",
            "progressive_learning": "not implemented: one stage at k, every op of the space (the code's two "
            "stages k=6 then prune to 4 ops and widen to k=4 are missing)",
            "eigenvalue": "Hessian with respect to α of the loss at one Dirichlet sample (the search's loss)",
            "genotype_rule": "the space's softmax(α) rule",
            "source": "github:xiangning-chen/DrNAS f2caa4d",
        }
