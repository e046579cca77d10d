"""β-DARTS: the α gradient is that of L_valid + λ_e·mean_edges logsumexp(α), computed here independently,
and λ_e follows the code's 50·e/100."""

from __future__ import annotations

import math

import pytest
import torch

from nasbench_harness.methods.beta_darts import beta_regulariser
from nasbench_harness.testing import random_batch, tiny_method


def independent_beta(alphas: list[torch.Tensor]) -> torch.Tensor:
    """The paper's L_β written out: log Σ_k exp(α_ek) per edge e, averaged over every edge of every cell type."""
    terms = [torch.log(torch.exp(row).sum()) for alpha in alphas for row in alpha]
    return sum(terms) / len(terms)


def test_regulariser_value():
    g = torch.Generator().manual_seed(0)
    alphas = {"normal": torch.randn(14, 8, generator=g), "reduce": 3 * torch.randn(14, 8, generator=g)}
    torch.testing.assert_close(beta_regulariser(alphas), independent_beta(list(alphas.values())))


@pytest.mark.parametrize("space", ["nb201", "darts", "s2"])
def test_alpha_gradient_is_the_autograd_of_the_formula(monkeypatch, space):
    method = tiny_method("beta_darts", space)
    method.set_epoch(30, 0.01)
    lam = 50 * 30 / 100
    assert method.lambda_ == pytest.approx(lam)
    with torch.no_grad():  # spread α, so the β term's gradient is not uniform across ops
        for alpha in method.net.arch_parameters():
            alpha.copy_(torch.randn(alpha.shape, generator=torch.Generator().manual_seed(alpha.numel())))
    valid = random_batch(5)
    alphas = method.net.arch_parameters()
    x, y = valid
    loss = torch.nn.functional.cross_entropy(method.net(x, None), y) + lam * independent_beta(alphas)
    expected = torch.autograd.grad(loss, alphas)

    monkeypatch.setattr(method.a_optimizer, "step", lambda: None)
    figures = method.alpha_step(random_batch(4), valid)
    for alpha, grad in zip(alphas, expected):
        torch.testing.assert_close(alpha.grad, grad, rtol=1e-5, atol=1e-7)
    assert float(figures["beta_term"]) == pytest.approx(float(independent_beta(alphas).detach()), rel=1e-6)
    assert float(figures["beta_lambda"]) == lam


def test_lambda_ramp_is_the_codes_and_optionally_the_runs():
    method = tiny_method("beta_darts", "nb201")
    for epoch, lam in [(0, 0.0), (1, 0.5), (99, 49.5)]:
        method.set_epoch(epoch, 0.01)
        assert method.lambda_ == pytest.approx(lam)
    method.args = method.args.model_copy(update={"ramp_epochs": None})
    method.set_epoch(5, 0.01)
    assert method.lambda_ == pytest.approx(50 * 5 / method.config.train.epochs)
    assert not math.isclose(method.lambda_, 50 * 5 / 100)


def test_second_order_is_refused():
    from pydantic import ValidationError

    from nasbench_harness.methods.beta_darts import BetaArgs

    with pytest.raises(ValidationError, match="order"):
        BetaArgs(order="second")
