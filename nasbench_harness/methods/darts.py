"""DARTS (Liu et al., ICLR 2019): softmax over all ops, alternating α and weight steps.

First order: α follows ∇α L_valid at the current weights. Second order: α follows the gradient of
L_valid at the one-step look-ahead weights w' = w − ξ(m + ∇w L_train + λw), with the implicit
Hessian-vector product by central finite differences (R = 0.01/‖∇w' L_valid‖), ξ = the current
weight learning rate, as in the paper's code.

Step order (`train.step_order`, None = the original code for the space): α first, then the weights, in
DARTS (cnn/train_search.py lines 147-155) and in xautodl's second-order DARTS-V2 on NAS-Bench-201
(DARTS-V2.py lines 141-167); weights first, then α, in xautodl's first-order DARTS-V1 on NAS-Bench-201
(DARTS-V1.py lines 52-73).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor
from torch.func import functional_call

from nasbench_harness.methods.base import Batch, Method, StepFigures, accuracy, register_method

#: How the second-order step approximates the Hessian-vector product (recorded in the metadata).
HESSIAN_VECTOR_PRODUCT = "finite difference, R=0.01/|v|"


@register_method("darts")
class Darts(Method):
    #: The original code's step order per space, where it is not α first.
    original_step_order: ClassVar[dict[str, str]] = {"nb201": "weights_first"}
    capturable: ClassVar[bool] = True
    packable: ClassVar[bool] = True

    @property
    def step_order(self) -> str:
        return self.config.train.step_order or self.original_step_order.get(self.config.space, "alpha_first")

    def step(self, train: Batch, valid: Batch) -> StepFigures:
        if self.step_order == "weights_first":
            weights = self.weight_step(train)
            return {**self.alpha_step(train, valid), **weights}
        return {**self.alpha_step(train, valid), **self.weight_step(train)}

    def alpha_step(self, train: Batch, valid: Batch) -> StepFigures:
        return self.first_order_alpha_step(valid)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "order": "first", "step_order": self.step_order}


@register_method("darts_2nd")
class Darts2nd(Darts):
    """Second-order DARTS: the α gradient through one unrolled weight step (finite-difference Hessian term)."""

    original_step_order: ClassVar[dict[str, str]] = {}

    def alpha_step(self, train: Batch, valid: Batch) -> StepFigures:
        return second_order_alpha_step(self, train, valid)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "order": "second", "hessian_vector_product": HESSIAN_VECTOR_PRODUCT}


def second_order_alpha_step(
    method: Method, train: Batch, valid: Batch, weight_decay: float | None = None
) -> StepFigures:
    """Adam on α with the unrolled gradient (shared by every method with a second-order option)."""
    method.a_optimizer.zero_grad(set_to_none=True)
    grads, loss, logits = unrolled_alpha_grad(method, train, valid, weight_decay=weight_decay)
    for alpha, grad in zip(method.net.arch_parameters(), grads):
        alpha.grad = grad
    method.a_optimizer.step()
    return {"valid_loss": loss.detach(), "valid_acc": accuracy(logits, valid[1])}


def unrolled_alpha_grad(
    method: Method, train: Batch, valid: Batch, r: float = 0.01, weight_decay: float | None = None
) -> tuple[list[Tensor], Tensor, Tensor]:
    """DARTS' approximate architecture gradient at the look-ahead weights.

    `weight_decay` is the λ of the look-ahead step (the original Architect's `network_weight_decay`);
    None: the weight optimizer's current one (R-DARTS(L2) replaces it by its strength).
    """
    net = method.net
    names = [n for n, p in net.named_parameters() if not n.startswith("alphas.")]
    weights = [p for n, p in net.named_parameters() if not n.startswith("alphas.")]
    alphas = net.arch_parameters()
    eta = method.lr
    momentum = method.config.train.momentum
    weight_decay = method.weight_decay if weight_decay is None else weight_decay

    train_loss, _ = method.forward_loss(train)
    grads = torch.autograd.grad(train_loss, weights)
    unrolled = {}
    with torch.no_grad():
        for name, w, g in zip(names, weights, grads):
            buffer = method.w_optimizer.state.get(w, {}).get("momentum_buffer")
            moment = buffer * momentum if buffer is not None else torch.zeros_like(w)
            unrolled[name] = (w - eta * (moment + g + weight_decay * w)).requires_grad_()
    # The look-ahead network gets its own BN buffers, as the paper's `model.new()` copy does.
    buffers = {n: b.clone() for n, b in net.named_buffers()}
    params = {**unrolled, **{f"alphas.{k}": a for k, a in net.alphas.items()}}
    logits = functional_call(net, {**params, **buffers}, (valid[0], method.mixing_weights()))
    valid_loss = method.criterion(logits, valid[1])
    alpha_grads_and_vector = torch.autograd.grad(valid_loss, alphas + [unrolled[n] for n in names])
    dalpha = list(alpha_grads_and_vector[: len(alphas)])
    vector = alpha_grads_and_vector[len(alphas) :]
    hessian = hessian_vector_product(method, weights, vector, train, r)
    return [da - eta * h for da, h in zip(dalpha, hessian)], valid_loss.detach(), logits.detach()


def hessian_vector_product(
    method: Method, weights: list[Tensor], vector: tuple[Tensor, ...], train: Batch, r: float
) -> list[Tensor]:
    """(∇α L_train(w + εv) − ∇α L_train(w − εv)) / 2ε with ε = r/‖v‖.

    ε stays a device tensor (the shifts are `w += (±ε)·v`), so the step never waits for the GPU."""
    eps = r / torch.cat([v.flatten() for v in vector]).norm()
    alphas = method.net.arch_parameters()

    def shift(scale: Tensor) -> None:
        with torch.no_grad():
            torch._foreach_add_(weights, torch._foreach_mul(list(vector), scale))

    def shifted_alpha_grad(scale: Tensor) -> tuple[Tensor, ...]:
        shift(scale)
        loss, _ = method.forward_loss(train)
        return torch.autograd.grad(loss, alphas)

    grads_pos = shifted_alpha_grad(eps)
    grads_neg = shifted_alpha_grad(-2.0 * eps)
    shift(eps)
    return [(p - n) / (2 * eps) for p, n in zip(grads_pos, grads_neg)]
