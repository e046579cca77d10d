"""Λ-DARTS (Movahedi et al., ICLR 2023): DARTS whose weight update aligns the cells' α-gradients.

From its code (github:dr-faustus/Lambda-DARTS at c7ac3ba; DARTS family `sota/cnn/train_search.py`
lines 227-250 and `model_search.py` lines 127-283; NAS-Bench-201 `NAS-Bench201/exps/algos/DARTS-V1.py`
lines 38-51 and `lib/models/cell_searchs/search_model_darts_v1.py` lines 84-145):

1. The α step is plain DARTS (first order in every script: `--unrolled` is never passed), on the
   α batch; on the DARTS family before the weight step, on NAS-Bench-201 after it (DARTS-V1.py).
2. Weight step, on the training batch: every searched cell mixes with its own copy A_l of softmax(α);
   one backward of L_train gives the weight gradient and g_l = ∂L_train/∂A_l for every cell.
3. p_l = ∂R/∂g_l over the aligned cells (normal cells on the DARTS family, p = 0 for reduction cells,
   `model_search.py` lines 263-265; all cells on NAS-Bench-201), R the mean pairwise cosine (`corr`)
   or its sign-aware variant (`signcorr`, DARTS family only in the original), see
   `perturbation_directions`.
4. ε = ε₀ / ‖p‖ over the concatenated p of all cells; two more passes on the same batch, in train mode
   (so BatchNorm statistics move as in the original), give ∇_w L at A_l − εp_l and at A_l + εp_l; their
   difference over 2ε, times λ_t = λ·epoch/(epochs − 1), is added to the weight gradient before the
   clip: (∇_w L(A − εp) − ∇_w L(A + εp)) / 2ε ≈ −∇_w Σ_l g_lᵀp_l = −∇_w R, so SGD descends L − λ_t R.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import torch
from pydantic import PositiveFloat
from torch import Tensor, nn

from nasbench_harness.config import RunConfig
from nasbench_harness.methods.base import Batch, StepFigures, accuracy, register_method
from nasbench_harness.methods.order import OrderArgs, OrderedDarts
from nasbench_harness.metrics.grad_corr import aligned_cells, mean_pairwise_cosine
from nasbench_harness.spaces import Supernet

Kind = Literal["corr", "signcorr"]

#: Per space family, the reference scripts' values of λ and ε₀, with their source.
FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    "darts": {
        "lambda_": 0.25,
        "epsilon_0": 1e-3,
        "source": "run_search.sh lines 6-8, 13 (the repository's one DARTS-family search script)",
    },
    "nb201": {
        "lambda_": 0.25,
        "epsilon_0": 1e-4,
        "source": "NAS-Bench201/scripts-search/algos/DARTS-V1.sh lines 34-35, 43",
    },
}


class LambdaArgs(OrderArgs):
    #: The α step: first order in all of Λ-DARTS' scripts; `second` is DARTS' unrolled step (an option).
    order: Literal["first", "second"] = "first"
    #: R: mean pairwise cosine (`corr`, the only one on NAS-Bench-201 in the original, and the one
    #: run_search.sh passes) or its sign-aware variant (`signcorr`).
    regulariser: Kind = "corr"
    #: Strength at the last epoch (warm-up λ·epoch/(epochs−1)); None: the space family's script value.
    lambda_: PositiveFloat | None = None
    #: Finite-difference step ε = ε₀/‖p‖; None: the space family's script value.
    epsilon_0: PositiveFloat | None = None


def perturbation_directions(grads: list[Tensor], kind: Kind) -> list[Tensor]:
    """p_l = ∂R/∂g_l for the flattened per-cell gradients g_1..g_L (no ε scaling).

    `corr`: R = (1/P) Σ_{i<j} cos(g_i, g_j), P = L(L−1)/2, so p_l = (1/P)(I − u_l u_lᵀ) Σ_j u_j / ‖g_l‖
    with u = g/‖g‖ (`model_search.py` lines 245-250; the j = l term vanishes under the projection).
    `signcorr`: R = (1/P) Σ_{i<j} g_iᵀg_j / (|g_i|ᵀ|g_j|), |·| elementwise, so
    p_l = (1/P) Σ_{j≠l} (1 − (g_lᵀg_j / |g_l|ᵀ|g_j|) sign(g_l) sign(g_j)) g_j / |g_l|ᵀ|g_j|
    (lines 251-260).
    """
    n = len(grads)
    if n < 2:
        raise ValueError(f"the Λ-DARTS regulariser needs at least 2 cell gradients, got {n}")
    if kind not in ("corr", "signcorr"):
        raise ValueError(f"regulariser kind must be 'corr' or 'signcorr', got {kind!r}")
    if any(g.dim() != 1 for g in grads):
        raise ValueError("perturbation_directions takes flattened (1-D) per-cell gradients")
    pair_weight = 1.0 / (n * (n - 1) / 2)
    if kind == "corr":
        norms = [g.norm() for g in grads]
        units = [g / norm for g, norm in zip(grads, norms)]
        total = torch.stack(units).sum(dim=0)
        return [pair_weight * (total - u * (u @ total)) / norm for u, norm in zip(units, norms)]
    directions = []
    for i, g in enumerate(grads):
        direction = torch.zeros_like(g)
        for j, other in enumerate(grads):
            if i == j:
                continue
            abs_dot = g.abs() @ other.abs()
            cosine = (g @ other) / abs_dot
            direction = direction + (1 - cosine * g.sign() * other.sign()) * other / abs_dot
        directions.append(pair_weight * direction)
    return directions


def lambda_at(lambda_: float, epoch: int, epochs: int) -> float:
    """The warm-up of both scripts: λ·epoch/(epochs − 1) (train_search.py line 169, DARTS-V1.py line 197);
    a one-epoch run has no ramp to climb and gets 0 at its only epoch."""
    return lambda_ * epoch / (epochs - 1) if epochs > 1 else 0.0


def space_family(net: Supernet) -> str:
    family = str(net.describe()["family"])
    if family not in FAMILY_DEFAULTS:
        raise ValueError(f"Λ-DARTS has no reference defaults for space family {family!r} (known: darts, nb201)")
    return family


@register_method("lambda_darts")
class LambdaDarts(OrderedDarts):
    """Λ-DARTS; the DARTS step order and α step, the regularised weight step below."""

    Args = LambdaArgs
    args: LambdaArgs
    family_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        # run_search.sh line 13 (batch 96; its λ and ε₀ are FAMILY_DEFAULTS["darts"]); the α batches walk once
        # per epoch through the α half: `valid_queue = iter(valid_queue)` per epoch, `next(valid_queue)` per
        # step (sota/cnn/train_search.py lines 213, 223), halves of equal size: `valid_sampling: permutation`.
        "darts": {"train": {"batch_size": 96}, "data": {"valid_sampling": "permutation"}},
        # Λ-DARTS' own NB201 search config (NAS-Bench201/configs/nas-benchmark/algos/DARTS.config): 100 epochs,
        # weight decay 3e-4, no Nesterov, where xautodl's current config has 50, 5e-4, Nesterov; α lr 1e-4:
        # NAS-Bench201/scripts-search/algos/DARTS-V1.sh line 43 (DARTS family: 3e-4, run_search.sh line 9).
        "nb201": {"train": {"epochs": 100, "weight_decay": 3e-4, "nesterov": False, "arch_lr": 1e-4}},
    }
    #: Λ-DARTS' DARTS space (`s5`) has `none` commented out: sota/cnn/spaces.py lines 80-92.
    paper_spaces: ClassVar[Mapping[str, str | None]] = {"darts": "darts_nonone"}

    def __init__(self, net: Supernet, config: RunConfig, device: torch.device):
        super().__init__(net, config, device)
        self.family = space_family(net)
        reference = FAMILY_DEFAULTS[self.family]
        self.lambda_max = self.args.lambda_ if self.args.lambda_ is not None else reference["lambda_"]
        self.epsilon_0 = self.args.epsilon_0 if self.args.epsilon_0 is not None else reference["epsilon_0"]
        self.arch_lr = config.train.arch_lr
        self.cells = aligned_cells(net)

    @property
    def lambda_(self) -> float:
        return lambda_at(self.lambda_max, self.epoch, self.config.train.epochs)

    @property
    def regularised(self) -> bool:
        """The regulariser needs two aligned cells (a 3-layer DARTS test network has one normal cell)."""
        return len(self.cells) >= 2

    def weight_step(self, batch: Batch) -> StepFigures:
        """SGD on the weights with the Λ-DARTS term added to their gradient, then the clip (as the base)."""
        net = self.net
        self.zero_weight_grads()
        weights = net.weight_parameters()
        clip_all = self.config.train.clip_scope == "all"
        alphas = net.arch_parameters() if clip_all else []
        # With clip_scope "all" the copies hang off softmax(α), so the training loss reaches α as in
        # xautodl; else they are plain copies of its value (the DARTS-family code copies α's data).
        shared = net.per_cell(None if clip_all else {t: w.detach() for t, w in net.softmax_weights().items()})
        copies = [w.clone() for w in shared]
        if not clip_all:
            for copy in copies:
                copy.requires_grad_()
        x, y = batch
        logits = net(x, copies)
        loss = self.criterion(logits, y)
        grads = torch.autograd.grad(loss, weights + copies + alphas, allow_unused=True, materialize_grads=True)
        weight_grads = list(grads[: len(weights)])
        cell_grads = [g.detach() for g in grads[len(weights) : len(weights) + len(copies)]]
        aligned = [cell_grads[i].reshape(-1) for i in self.cells]
        stats = {"lambda": self.lambda_}
        correlation = mean_pairwise_cosine(aligned)
        if self.regularised:  # as the original's train_corr; 0 where a cell's gradient is exactly zero
            stats["train_grad_corr"] = 0.0 if correlation is None else correlation
        applied = 0.0
        if self.regularised and correlation is not None:
            directions = perturbation_directions(aligned, self.args.regulariser)
            perturbation = [torch.zeros_like(w) for w in shared]
            for i, p in zip(self.cells, directions):
                perturbation[i] = p.reshape(shared[i].shape)
            norm = float(torch.cat([p.reshape(-1) for p in perturbation]).norm())
            if norm > 0 and torch.isfinite(torch.tensor(norm)):
                eps = self.epsilon_0 / norm
                base = [w.detach() for w in shared]
                injected = regulariser_gradient(self, batch, base, perturbation, eps)
                weight_grads = [g + self.lambda_ * r for g, r in zip(weight_grads, injected)]
                applied = 1.0
        stats["reg_applied"] = applied
        for w, g in zip(weights, weight_grads):
            w.grad = g
        for a, g in zip(alphas, grads[len(weights) + len(copies) :]):
            a.grad = g if a.grad is None else a.grad + g
        clipped = weights + alphas
        if self.config.train.grad_clip is not None:
            nn.utils.clip_grad_norm_(clipped, self.config.train.grad_clip)
        self.w_optimizer.step()
        return {"train_loss": loss.detach(), "train_acc": accuracy(logits, y), **stats}

    def describe(self) -> dict[str, Any]:
        reference = FAMILY_DEFAULTS[self.family]
        return {
            **super().describe(),
            "space_family": self.family,
            "regulariser": self.args.regulariser,
            "lambda": self.lambda_max,
            "lambda_warmup": "lambda * epoch / (epochs - 1)",
            "epsilon_0": self.epsilon_0,
            "epsilon": "epsilon_0 / |p| over the concatenated directions of all cells",
            "arch_lr": self.arch_lr,
            "defaults_from": reference["source"],
            "aligned_cells": self.cells,
            "regulariser_active": self.regularised,
            "cell_gradients": "dL_train/dA_l on the weight batch, before the weight step, "
            "one copy of softmax(α) per cell",
            "injection": "grad_w += lambda * (grad_w L(A - eps p) - grad_w L(A + eps p)) / (2 eps), same batch, "
            "train mode, before the gradient clip",
        }


def regulariser_gradient(
    method: LambdaDarts, batch: Batch, base: list[Tensor], perturbation: list[Tensor], eps: float
) -> list[Tensor]:
    """(∇_w L(A − εp) − ∇_w L(A + εp)) / 2ε ≈ −∇_w Σ_l g_lᵀp_l, per weight tensor (`get_reg_grads`)."""
    weights = method.net.weight_parameters()
    x, y = batch

    def grads_at(sign: float) -> tuple[Tensor, ...]:
        shifted = [a + sign * eps * p for a, p in zip(base, perturbation)]
        loss = method.criterion(method.net(x, shifted), y)
        return torch.autograd.grad(loss, weights, allow_unused=True, materialize_grads=True)

    minus, plus = grads_at(-1.0), grads_at(1.0)
    return [(m - p) / (2 * eps) for m, p in zip(minus, plus)]
