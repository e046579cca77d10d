"""SDARTS-RS and SDARTS-ADV (Chen & Hsieh, ICML 2020): DARTS whose weight step sees perturbed mixing weights.

From its code (github:xiangning-chen/SmoothDARTS at d3dbfed; DARTS family `sota/cnn/train_search.py`,
NAS-Bench-201 `nasbench201/train_search.py`, both with `attacker/perturb.py` and `optimizers/darts/architect.py`):

1. The α step is plain first-order DARTS on the α batch (`--unrolled` is never passed), before the
   weight step in both scripts (sota/cnn/train_search.py lines 213-215, nasbench201/train_search.py 227-229).
2. The weight step mixes with A' instead of softmax(α): the code overwrites α by A = softmax(α)
   (`softmax_arch_parameters`, sota/cnn/model_search.py lines 160-163), perturbs it in place, runs the
   forward with those values as the mixing weights (`updateType='weight'`), steps the weights and restores α
   (train_search.py lines 218-234). So the perturbation is on softmax(α), not on α.
3. RS (`Random_alpha`, perturb.py lines 47-50): A' = clip(A + U(−ε, ε)).
   ADV (`Linf_PGD_alpha`, lines 11-44): in eval mode (BatchNorms on their running statistics, see 7), from
   the random start above, 7 steps of signed gradient ascent on the training loss (`Linf_SGD`:
   p −= lr·sign(∇(−L)), linf_sgd.py line 72) with step size 2ε/7, each followed by the ε-ball clamp of
   A' − A and `clip`; if the loss at the end is below the loss at A, A' = A (lines 40-42).
4. `clip` (model_search.py lines 170-177) is the code's projection onto the simplex: per edge, clamp to
   [0, 1], put 1 on the row's argmax if the row is then all zero, divide by the row sum. It is not the
   Euclidean projection, and the renormalisation can move A' out of the ε-ball around A: the ball bounds the
   perturbation before `clip`.
5. ε at epoch e (0-based) of E: 0.03 + (ε_max − 0.03)·e/E, ε_max = 0.3 (train_search.py lines 169-171, parser
   line 57), the same for RS and ADV.
6. The learning rate: both scripts call `scheduler.step()` at the start of every epoch (sota/cnn/train_search.py
   lines 158-160, nasbench201/train_search.py lines 158-160) and import `torch.utils.tensorboard` (line 27 /
   line 26), which PyTorch has from 1.1 on (the author ran 1.3.0: xiangning-chen/SmoothDARTS issue #4); under
   PyTorch >= 1.1 the constructor has already taken step 0, so epoch e trains at the cosine's lr(e + 1) and the
   last epoch at lr_min (`train.lr_epoch: next`; `current` is DARTS' lr(e)).
7. The clip norm covers `model.parameters()` (train_search.py line 232): the weights on the DARTS family
   (α there are plain Variables), weights and the mixing-weight gradient ∂L/∂A' on NAS-Bench-201 (α is an
   nn.Parameter of its Network, nasbench201/model.py line 158, and its gradient was zeroed right after the α
   step, line 229). `train.clip_scope: all` reproduces the latter.
7. The NB201 search network keeps BatchNorm running statistics: `Network(..., affine=False,
   track_running_stats=True)` (nasbench201/model.py line 128, the same line in β-DARTS), built by
   train_search.py line 116 without overriding it. So ADV's eval-mode attack and the supernet evaluation
   normalise with running statistics there, as in the code (`network.track_running_stats: false`, the
   harness's NB201 space default, is an option: eval mode then uses batch statistics).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import torch
from pydantic import PositiveFloat, PositiveInt
from torch import Tensor, nn
from torch.nn import functional as F

from nasbench_harness.methods.base import Batch, StepFigures, accuracy, register_method
from nasbench_harness.methods.order import OrderArgs, OrderedDarts
from nasbench_harness.mixing import MixedEdge

Perturbation = Literal["none", "random", "pgd_linf"]
#: ε at epoch 0 of both scripts (train_search.py line 170: `0.03 + (args.epsilon_alpha - 0.03) * epoch / args.epochs`).
EPSILON_START = 0.03

#: SmoothDARTS' NAS-Bench-201 script (nasbench201/train_search.py): 100 epochs (line 41), weight decay 3e-4
#: (line 38), plain momentum SGD (lines 120-124), CIFAR-10 train split in halves (lines 138, 143-151) with a
#: fresh random α batch per step (line 223), clip over all parameters (line 246), and a search network whose
#: BatchNorms keep running statistics (nasbench201/model.py line 128: `affine=False, track_running_stats=True`,
#: not overridden by train_search.py line 116). β-DARTS' NB201 script is the same (Beta-DARTS
#: nasbench201/train_search.py lines 37, 40, 115, 119-123, 138-153, 225, 248; nasbench201/model.py line 128).
NB201_SMOOTH_CONFIG: dict[str, dict[str, Any]] = {
    "train": {"epochs": 100, "weight_decay": 3e-4, "nesterov": False, "clip_scope": "all"},
    "data": {"split": "half", "valid_sampling": "darts_fresh_batch"},
    "network": {"track_running_stats": True},
}


class PerturbArgs(OrderArgs):
    #: First order in every SmoothDARTS script; `second` is DARTS' unrolled α step (an option).
    order: Literal["first", "second"] = "first"
    #: ε at the last epoch's end (`--epsilon_alpha`, parser default 0.3); ε ramps up from 0.03.
    epsilon_max: PositiveFloat = 0.3


class AdvArgs(PerturbArgs):
    #: PGD steps (`Linf_PGD_alpha(steps=7)`); step size 2ε/steps.
    pgd_steps: PositiveInt = 7
    #: Start the attack from a uniform point of the ε-ball (`random_start=True`).
    random_start: bool = True


def epsilon_at(epsilon_max: float, epoch: int, epochs: int) -> float:
    """ε of `epoch` (0-based): 0.03 + (ε_max − 0.03)·epoch/epochs; it never reaches ε_max, as in the code."""
    return EPSILON_START + (epsilon_max - EPSILON_START) * epoch / epochs


def clip_to_simplex(weights: Tensor) -> Tensor:
    """SmoothDARTS' `clip`, per row: clamp to [0, 1]; an all-zero row gets 1 at its argmax (before the
    clamp); divide by the row sum. Vectorised, no host synchronisation."""
    top = F.one_hot(weights.argmax(dim=-1), weights.shape[-1]).to(weights.dtype)
    clamped = weights.clamp(0.0, 1.0)
    empty = clamped.sum(dim=-1, keepdim=True) == 0
    clamped = torch.where(empty, top, clamped)
    return clamped / clamped.sum(dim=-1, keepdim=True)


def random_perturbation(base: dict[str, Tensor], epsilon: float) -> dict[str, Tensor]:
    """`Random_alpha`: clip(A + U(−ε, ε)) per cell type (torch's global generator, which checkpoints carry)."""
    return {t: clip_to_simplex(a + torch.empty_like(a).uniform_(-epsilon, epsilon)) for t, a in base.items()}


class PerturbedDarts(OrderedDarts):
    """First-order DARTS with SmoothDARTS' weight step; `perturbation` decides how A' is drawn."""

    Args = PerturbArgs
    args: PerturbArgs
    perturbation: ClassVar[Perturbation] = "none"
    #: α first on every space (both SmoothDARTS scripts), also on NB201 where first-order DARTS goes weights first.
    original_step_order: ClassVar[dict[str, str]] = {}
    #: SmoothDARTS' DARTS space (`s5`) has `none` commented out: sota/cnn/spaces.py line 81.
    paper_spaces: ClassVar[Mapping[str, str | None]] = {"darts": "darts_nonone"}
    #: PyTorch >= 1.1 `scheduler.step()` before each epoch (module docstring, item 6).
    defaults: ClassVar[dict[str, Any]] = {"train": {"lr_epoch": "next"}}
    family_defaults: ClassVar[dict[str, dict[str, Any]]] = {"nb201": NB201_SMOOTH_CONFIG}

    @property
    def step_order(self) -> str:
        return self.config.train.step_order or "alpha_first"

    @property
    def perturbation_kind(self) -> Perturbation:
        return self.perturbation

    @property
    def epsilon(self) -> float:
        return epsilon_at(self.args.epsilon_max, self.epoch, self.config.train.epochs)

    def perturbed_weights(self, batch: Batch, base: dict[str, Tensor]) -> tuple[dict[str, Tensor], StepFigures]:
        """A' for the weight step from A = softmax(α) (detached), with figures about the perturbation."""
        if self.perturbation_kind == "random":
            return random_perturbation(base, self.epsilon), {"epsilon": self.epsilon}
        return base, {}

    def weight_step(self, batch: Batch) -> StepFigures:
        """SGD on the weights at the perturbed mixing weights A'; with `clip_scope: all` the clip norm also
        counts ∂L/∂A' (SmoothDARTS' NB201 Network holds α, overwritten by A', among its parameters)."""
        base = {t: w.detach() for t, w in self.net.softmax_weights().items()}
        mixing, figures = self.perturbed_weights(batch, base)
        clip_all = self.config.train.clip_scope == "all"
        mixing = {t: w.detach().requires_grad_(clip_all) for t, w in mixing.items()}
        self.zero_weight_grads()
        x, y = batch
        logits = self.net(x, mixing)
        loss = self.criterion(logits, y)
        weights = self.net.weight_parameters()
        clipped = weights + (list(mixing.values()) if clip_all else [])
        loss.backward(inputs=clipped)
        if self.config.train.grad_clip is not None:
            nn.utils.clip_grad_norm_([p for p in clipped if p.grad is not None], self.config.train.grad_clip)
        self.w_optimizer.step()
        return {"train_loss": loss.detach(), "train_acc": accuracy(logits, y), **figures}

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "perturbation": self.perturbation_kind,
            "perturbed": "softmax(alpha) in the weight step only; the alpha step mixes with softmax(alpha)",
            "epsilon_schedule": f"{EPSILON_START} + (epsilon_max - {EPSILON_START}) * epoch / epochs",
            "projection": "per edge clamp to [0, 1], argmax = 1 if all zero, divide by the row sum (SmoothDARTS clip)",
            "clip_norm_covers": "weights and dL/dA'" if self.config.train.clip_scope == "all" else "weights",
        }


@register_method("sdarts_rs")
class SdartsRs(PerturbedDarts):
    """SDARTS-RS: uniform noise in the ε-ball around softmax(α), projected back onto the simplex."""

    perturbation: ClassVar[Perturbation] = "random"


@register_method("sdarts_adv")
class SdartsAdv(PerturbedDarts):
    """SDARTS-ADV: an L∞ PGD attack on the training loss within the ε-ball around softmax(α)."""

    Args = AdvArgs
    args: AdvArgs
    perturbation: ClassVar[Perturbation] = "pgd_linf"

    def perturbed_weights(self, batch: Batch, base: dict[str, Tensor]) -> tuple[dict[str, Tensor], StepFigures]:
        perturbed, gain = pgd_linf(self, batch, base, self.epsilon, self.args.pgd_steps, self.args.random_start)
        return perturbed, {"epsilon": self.epsilon, "adv_loss_gain": gain}

    def describe(self) -> dict[str, Any]:
        edges = [e for e in self.net.modules() if isinstance(e, MixedEdge)]
        tracked = any(isinstance(m, nn.BatchNorm2d) and m.track_running_stats for e in edges for m in e.modules())
        return {
            **super().describe(),
            "attack": "eval mode; random start; signed-gradient ascent on the training loss, step 2*eps/steps; "
            "eps-ball clamp then clip after each step; reverted to softmax(alpha) if the loss fell",
            "attack_cell_bn": "running statistics (eval mode; the cells' BatchNorms track them, as in SmoothDARTS' "
            "search networks: nasbench201/model.py line 128 on NB201)"
            if tracked
            else "batch statistics (eval mode, but the cells' BatchNorms track no running statistics)",
        }


def pgd_linf(
    method: PerturbedDarts, batch: Batch, base: dict[str, Tensor], epsilon: float, steps: int, random_start: bool
) -> tuple[dict[str, Tensor], Tensor]:
    """`Linf_PGD_alpha` on the weight batch: A' maximising L_train within ‖A' − A‖∞ ≤ ε (before `clip`).

    Returns A' and the loss gain L(A') − L(A) it achieved (0 where the code falls back to A), both
    measured in eval mode as in the code."""
    net, (x, y) = method.net, batch
    training = net.training
    net.eval()
    try:
        with torch.no_grad():
            loss_before = method.criterion(net(x, base), y)
        step_size = 2 * epsilon / steps
        current = random_perturbation(base, epsilon) if random_start else dict(base)
        for _ in range(steps):
            leaves = {t: w.detach().requires_grad_() for t, w in current.items()}
            loss = method.criterion(net(x, leaves), y)
            grads = torch.autograd.grad(loss, list(leaves.values()))
            current = {}
            for (t, leaf), grad in zip(leaves.items(), grads):
                moved = leaf.detach() + step_size * grad.sign()
                current[t] = clip_to_simplex(base[t] + (moved - base[t]).clamp(-epsilon, epsilon))
        with torch.no_grad():
            loss_after = method.criterion(net(x, current), y)
    finally:
        net.train(training)
    kept = loss_after >= loss_before
    perturbed = {t: torch.where(kept, w, base[t]) for t, w in current.items()}
    return perturbed, torch.where(kept, loss_after - loss_before, torch.zeros_like(loss_after)).detach()
