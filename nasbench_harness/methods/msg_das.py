"""MSG-DAS (Tan et al., arXiv 2107.04324), unofficial: K mutually exclusive single-path sub-graphs per step.

The paper has no public code; what it fixes (abstract and reference.md §3) and what is ours is listed in
docs/methods.md ("MSG-DAS"). This implementation:

1. Gumbel-TopK sampler (paper: the component; ours: its form). Per α matrix one Gumbel draw
   z = log_softmax(α) + g; sub-graph j takes, per edge, the argmax of softmax(z/τ) over the ops no
   earlier sub-graph took (top-k of z: k draws without replacement, so no op is drawn twice on an edge),
   with GDAS's straight-through weights one_hot_j − p_j.detach() + p_j; the unchosen entries' (zero)
   weights are added to the edge output, so every α entry gets gradient (`gdas.gumbel_subgraphs`).
2. Dropblock-Identity (paper: the component; ours: its form): where a sub-graph's edge chose an
   identity (`skip_connect` on a stride-1 edge), that path is dropped for the whole batch with
   probability `drop_identity` (weight × 0) and kept otherwise (weight × 1/(1 − p)), in every training
   forward of a sub-graph, never in evaluation.
3. Super-net guidance distillation, memory-efficient (paper: the component; ours: its form): one
   forward of the super-net (softmax(α), every op) under no_grad gives soft targets; each sub-graph's
   weight loss adds λ·T²·KL(softmax(t/T) ‖ softmax(s/T)). No graph of the multi-path super-net is kept,
   so memory grows with K single-path graphs, not with the number of ops.
4. A step (ours, GDAS's order): weights first (mean over the K sub-graphs of CE + distillation on the
   training batch), then α (mean over K sub-graphs of a fresh draw of CE on the α batch). All draws of a
   step reach the host in one transfer (`gdas.draw_subgraphs`). τ linear 10 → 0.1 (ours, GDAS's).
5. Genotype (ours): the space's DARTS rule on softmax(α) (NAS-Bench-201: argmax per edge). Evaluation and
   Hessian (ours): the noise-free top-1 path (argmax α), straight through softmax(α/τ), as gdas.
6. Unsampled weights (ours, GDAS's reasoning): the paper (2021) predates PyTorch 2, whose `zero_grad()`
   zeroed gradients in place, and builds on GDAS's single-path training; so, as gdas, `train.zero_grad:
   zeros`: every weight once reached by a sub-graph is moved by weight decay and momentum at every step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat, PositiveInt
from torch import Tensor, nn
from torch.nn import functional as F

from nasbench_harness.config import RunConfig
from nasbench_harness.methods.base import Batch, Method, StepFigures, accuracy, register_method
from nasbench_harness.methods.gdas import Draw, draw_subgraphs, linear_tau
from nasbench_harness.mixing import Mixer, SampledSum
from nasbench_harness.spaces import SearchSpace, Supernet, get_space

#: The op Dropblock-Identity drops, where its edge has stride 1 (a stride-2 skip is a factorized reduce).
IDENTITY = "skip_connect"


class MsgDasArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Sub-graphs per step (ours: 2; K = 1 is GDAS with distillation, K = |ops| every op).
    k: PositiveInt = 2
    tau_max: PositiveFloat = 10.0
    tau_min: PositiveFloat = 0.1
    #: Probability of dropping a sampled identity path (ours: 0.2).
    drop_identity: float = Field(0.2, ge=0.0, lt=1.0)
    #: λ of the super-net guidance term; 0 switches distillation (and its super-net forward) off (ours: 1).
    distill_weight: NonNegativeFloat = 1.0
    #: Softmax temperature T of the distillation (ours: 1).
    distill_temperature: PositiveFloat = 1.0


def k_problem(k: int, space: SearchSpace) -> str | None:
    """Why K mutually exclusive sub-graphs cannot be drawn on `space` (an edge with fewer than K ops), or None."""
    fewest = min(len(ops) for edges in space.edge_ops.values() for ops in edges)
    if k <= fewest:
        return None
    return (
        f"method_args.k = {k} exceeds the {fewest} candidate ops of some edge of space {space.name!r}; "
        f"K mutually exclusive sub-graphs need k <= {fewest}"
    )


def identity_masks(net: Supernet) -> dict[str, Tensor]:
    """Per cell type, (edges × ops) 1.0 where the op is an identity: `skip_connect` on a stride-1 edge."""
    masks: dict[str, Tensor] = {}
    cells = [m for m in net.modules() if hasattr(m, "edges") and hasattr(m, "plan")]
    for cell, cell_type in zip(cells, net.searched_cell_types):
        if cell_type in masks:
            continue
        alpha = net.alphas[cell_type]
        mask = torch.zeros_like(alpha, requires_grad=False)
        for e, edge in enumerate(cell.edges):
            for i, name in enumerate(edge.op_names):
                if name == IDENTITY and edge.stride == 1:
                    mask[e, i] = 1.0
        masks[cell_type] = mask.detach()
    return masks


@register_method("msg_das")
class MsgDas(Method):
    Args = MsgDasArgs
    args: MsgDasArgs
    #: A reconstruction from the abstract (no public code): "unofficial" everywhere, no published figure.
    official: ClassVar[bool] = False
    #: Which DARTS-space variant the paper searched is not known here (abstract only): no run is marked.
    paper_spaces: ClassVar[Mapping[str, str | None]] = {"darts": None}
    #: PyTorch < 2 `zero_grad()` semantics, as gdas (see the module docstring, item 6).
    defaults: ClassVar[dict[str, Any]] = {"train": {"zero_grad": "zeros"}}
    departures: ClassVar[tuple[str, ...]] = (
        "No public code: every setting is ours (K 2, τ 10 -> 0.1, identity drop 0.2, distillation weight 1 and "
        "temperature 1, GDAS' step order and schedule; docs/methods.md). Gradients zeroed in place as PyTorch < 2, "
        "by GDAS' reasoning.",
    )

    @classmethod
    def mixer(cls, args: BaseModel) -> Mixer:
        return SampledSum()

    def __init__(self, net: Supernet, config: RunConfig, device: torch.device):
        super().__init__(net, config, device)
        problem = k_problem(self.args.k, net.space)
        if problem:
            raise ValueError(f"msg_das: {problem}")
        self.identity = identity_masks(net)
        self.tau = self.args.tau_max

    @classmethod
    def config_problems(cls, config: RunConfig) -> list[str]:
        problem = k_problem(MsgDasArgs.model_validate(config.method_args).k, get_space(config.space))
        return [*super().config_problems(config), *([problem] if problem else [])]

    def set_epoch(self, epoch: int, lr: float) -> None:
        super().set_epoch(epoch, lr)
        self.tau = linear_tau(epoch, self.config.train.epochs, self.args.tau_max, self.args.tau_min)

    def mixing_weights(self) -> dict[str, Any]:
        """Evaluation and Hessian: the noise-free top-1 path (argmax α), straight through softmax(α/τ)."""
        return draw_subgraphs(dict(self.net.alphas.items()), self.tau, 1, 1, noise=False)[0].subgraph(0, True)

    def dropblock_scales(self, draw: Draw, j: int) -> dict[str, Tensor] | None:
        """Sub-graph j's weight multipliers: its chosen identity paths × 0 (prob. p) or × 1/(1 − p)."""
        p = self.args.drop_identity
        if p == 0.0:
            return None
        scales = {}
        for t, mats in draw.hard.items():
            chosen_identity = (mats[j].detach() > 0.5).to(mats[j].dtype) * self.identity[t].to(mats[j].device)
            keep = (torch.rand(mats[j].shape[0], 1, device=mats[j].device) >= p).to(mats[j].dtype) / (1.0 - p)
            scales[t] = 1.0 + chosen_identity * (keep - 1.0)
        return scales

    def subgraphs(self, draw: Draw) -> list[dict[str, Any]]:
        return [draw.subgraph(j, True, self.dropblock_scales(draw, j)) for j in range(self.args.k)]

    def step(self, train: Batch, valid: Batch) -> StepFigures:
        weight_draw, alpha_draw = draw_subgraphs(dict(self.net.alphas.items()), self.tau, self.args.k, 2)
        figures = self.weight_step_k(train, self.subgraphs(weight_draw))
        figures.update(self.alpha_step_k(valid, self.subgraphs(alpha_draw)))
        return {**figures, "tau": self.tau}

    def teacher(self, x: Tensor) -> Tensor | None:
        """Super-net soft targets: every op at softmax(α), no graph kept (the memory-efficient guidance)."""
        if self.args.distill_weight == 0.0:
            return None
        with torch.no_grad():
            return self.net(x, self.net.softmax_weights())

    def weight_step_k(self, batch: Batch, subgraphs: list[dict[str, Any]]) -> StepFigures:
        """SGD on the mean over sub-graphs of CE + λT²·KL(teacher ‖ sub-graph); clip as `Method.weight_step`."""
        x, y = batch
        self.zero_weight_grads()
        target = self.teacher(x)
        temperature = self.args.distill_temperature
        ce_total: Tensor = x.new_zeros(())
        kd_total: Tensor = x.new_zeros(())
        acc_total: Tensor = x.new_zeros(())
        for weights in subgraphs:
            logits = self.net(x, weights)
            ce_total = ce_total + self.criterion(logits, y)
            acc_total = acc_total + accuracy(logits, y)
            if target is not None:
                kd = F.kl_div(
                    F.log_softmax(logits / temperature, dim=1),
                    F.softmax(target / temperature, dim=1),
                    reduction="batchmean",
                )
                kd_total = kd_total + kd * temperature**2
        k = len(subgraphs)
        loss = (ce_total + self.args.distill_weight * kd_total) / k
        params = self.net.weight_parameters()
        clipped = params + self.net.arch_parameters() if self.config.train.clip_scope == "all" else params
        loss.backward(inputs=clipped)
        if self.config.train.grad_clip is not None:
            nn.utils.clip_grad_norm_([p for p in clipped if p.grad is not None], self.config.train.grad_clip)
        self.w_optimizer.step()
        return {
            "train_loss": (ce_total / k).detach(),
            "distill_loss": (kd_total / k).detach(),
            "train_acc": (acc_total / k).detach(),
        }

    def alpha_step_k(self, batch: Batch, subgraphs: list[dict[str, Any]]) -> StepFigures:
        """Adam on α with the mean validation CE over the sub-graphs."""
        x, y = batch
        self.a_optimizer.zero_grad(set_to_none=True)
        loss: Tensor = x.new_zeros(())
        acc: Tensor = x.new_zeros(())
        for weights in subgraphs:
            logits = self.net(x, weights)
            loss = loss + self.criterion(logits, y)
            acc = acc + accuracy(logits, y)
        loss = loss / len(subgraphs)
        loss.backward(inputs=self.alpha_backward_inputs())
        self.a_optimizer.step()
        return {"valid_loss": loss.detach(), "valid_acc": (acc / len(subgraphs)).detach()}

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "implementation": "unofficial (no public code): see docs/methods.md for paper vs ours per choice",
            "sampler": "Gumbel-top-k: one Gumbel draw per α matrix, sub-graph j = j-th op without replacement, "
            "straight-through softmax over the ops left; unchosen weights added (gradient to every α entry)",
            "dropblock_identity": f"chosen skip_connect on stride-1 edges dropped for the whole batch with "
            f"p = {self.args.drop_identity}, kept ones scaled 1/(1-p); every training forward, not evaluation",
            "distillation": "no-grad super-net forward (softmax(α), every op, train mode) as soft targets; "
            "weight loss = mean over sub-graphs of CE + λ T² KL(teacher || sub-graph); α loss: CE only"
            if self.args.distill_weight > 0
            else "off",
            "tau": f"linear {self.args.tau_max} -> {self.args.tau_min} over the epochs (GDAS's schedule)",
            "step_order": "weights first, then α, fresh draws each (GDAS's order)",
            "evaluation_mixing": "noise-free argmax-α single path, straight-through softmax(α/τ)",
            "genotype": "the space's rule on softmax(α) (DARTS rule; NB201 argmax per edge)",
        }
