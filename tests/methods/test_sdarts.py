"""SDARTS-RS/ADV: the code's simplex `clip`, the ε schedule, perturbations inside the ε-ball (before the
projection) and on the simplex (after it), and ADV's attack raising the training loss."""

from __future__ import annotations

import pytest
import torch

from nasbench_harness.methods import sdarts
from nasbench_harness.methods.sdarts import clip_to_simplex, epsilon_at, random_perturbation
from nasbench_harness.testing import random_batch, seed_all, tiny_method


def code_clip(weights: torch.Tensor) -> torch.Tensor:
    """SmoothDARTS' `clip` (sota/cnn/model_search.py lines 170-177), row by row as written there."""
    out = weights.clone()
    for line in out:
        max_index = line.argmax()
        line.clamp_(0, 1)
        if line.sum() == 0.0:
            line[max_index] = 1.0
        line.div_(line.sum())
    return out


def test_clip_is_the_codes_clip():
    g = torch.Generator().manual_seed(0)
    weights = torch.rand(14, 8, generator=g) * 1.6 - 0.3
    weights[3] = -torch.rand(8, generator=g)  # a row that clamps to all zeros: its argmax gets 1
    got = clip_to_simplex(weights)
    torch.testing.assert_close(got, code_clip(weights))
    assert got[3].tolist() == code_clip(weights)[3].tolist() and got[3].max() == 1.0


def test_epsilon_ramps_from_003_and_never_reaches_its_maximum():
    assert epsilon_at(0.3, 0, 50) == pytest.approx(0.03)
    assert epsilon_at(0.3, 25, 50) == pytest.approx(0.03 + 0.27 * 0.5)
    assert epsilon_at(0.3, 49, 50) == pytest.approx(0.03 + 0.27 * 49 / 50)
    method = tiny_method("sdarts_rs", "nb201")
    method.set_epoch(7, 0.01)
    assert method.epsilon == pytest.approx(epsilon_at(0.3, 7, method.config.train.epochs))


def record_projections(monkeypatch) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Every (input, output) of the projection the perturbations go through."""
    calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def spy(weights: torch.Tensor) -> torch.Tensor:
        out = clip_to_simplex(weights)
        calls.append((weights.detach().clone(), out.detach().clone()))
        return out

    monkeypatch.setattr(sdarts, "clip_to_simplex", spy)
    return calls


def assert_in_ball_then_on_simplex(calls, base: dict[str, torch.Tensor], epsilon: float) -> None:
    assert calls
    bases = list(base.values())  # the projections run cell type by cell type, in α's order
    for i, (before, after) in enumerate(calls):
        centre = bases[i % len(bases)]
        assert (before - centre).abs().max() <= epsilon + 1e-6, "perturbation outside the ε-ball before the projection"
        assert (after >= 0).all() and (after <= 1).all()
        torch.testing.assert_close(after.sum(-1), torch.ones(after.shape[0]))


def softmax_base(method) -> dict[str, torch.Tensor]:
    return {t: w.detach() for t, w in method.net.softmax_weights().items()}


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_random_perturbation_inside_the_ball_then_on_the_simplex(monkeypatch, space):
    calls = record_projections(monkeypatch)
    method = tiny_method("sdarts_rs", space)
    method.set_epoch(30, 0.01)
    base = softmax_base(method)
    perturbed, figures = method.perturbed_weights(random_batch(0), base)
    assert figures["epsilon"] == method.epsilon
    assert_in_ball_then_on_simplex(calls, base, method.epsilon)
    # The noise fills the ball (ε is the one applied, not a smaller one) and A' differs from A.
    spread = max(float((before - centre).abs().max()) for centre, (before, _) in zip(base.values(), calls))
    assert spread > 0.8 * method.epsilon
    assert all(not torch.equal(perturbed[t], base[t]) for t in base)


def test_random_perturbation_uses_the_global_generator():
    base = {"cell": torch.softmax(torch.randn(6, 5), -1)}
    torch.manual_seed(3)
    first = random_perturbation(base, 0.2)
    torch.manual_seed(3)
    torch.testing.assert_close(random_perturbation(base, 0.2), first)


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_adv_every_step_inside_the_ball_then_on_the_simplex(monkeypatch, space):
    calls = record_projections(monkeypatch)
    method = tiny_method("sdarts_adv", space)
    method.set_epoch(30, 0.01)
    base = softmax_base(method)
    method.perturbed_weights(random_batch(0), base)
    # The random start and one projection per PGD step, per cell type.
    assert len(calls) == (1 + method.args.pgd_steps) * len(base)
    assert_in_ball_then_on_simplex(calls, base, method.epsilon)


def eval_loss(method, batch, weights) -> float:
    method.net.eval()
    with torch.no_grad():
        loss = method.criterion(method.net(batch[0], weights), batch[1])
    method.net.train()
    return float(loss)


@pytest.mark.parametrize("space", ["nb201", "darts", "s3"])
def test_adv_perturbation_raises_the_training_loss(space):
    method = tiny_method("sdarts_adv", space)
    method.set_epoch(40, 0.01)
    batch = random_batch(1)
    base = softmax_base(method)
    clean = eval_loss(method, batch, base)
    seed_all(0)
    perturbed, figures = method.perturbed_weights(batch, base)
    attacked = eval_loss(method, batch, perturbed)
    assert attacked > clean
    assert float(figures["adv_loss_gain"]) == pytest.approx(attacked - clean, rel=1e-4, abs=1e-6)
    # The attack beats random noise of the same radius on the same batch.
    seed_all(0)
    noisy = eval_loss(method, batch, random_perturbation(base, method.epsilon))
    assert attacked > noisy
    assert method.net.training, "the attack must hand the network back in train mode"


def test_weight_step_mixes_with_the_perturbed_weights(monkeypatch):
    """The weight step's loss is the loss at A' (train mode), not at softmax(α)."""
    method = tiny_method("sdarts_rs", "nb201")
    method.set_epoch(40, 0.01)
    batch = random_batch(2)
    seen = {}
    original = method.perturbed_weights

    def capture(b, base):
        perturbed, figures = original(b, base)
        seen["weights"] = {t: w.clone() for t, w in perturbed.items()}
        return perturbed, figures

    monkeypatch.setattr(method, "perturbed_weights", capture)
    state = {k: v.clone() for k, v in method.net.state_dict().items()}
    figures = method.weight_step(batch)
    method.net.load_state_dict(state)
    with torch.no_grad():
        expected = method.criterion(method.net(batch[0], seen["weights"]), batch[1])
        clean = method.criterion(method.net(batch[0], softmax_base(method)), batch[1])
    torch.testing.assert_close(figures["train_loss"], expected)
    assert not torch.isclose(figures["train_loss"], clean)


def test_adv_falls_back_to_softmax_alpha_when_the_attack_lowers_the_loss(monkeypatch):
    """`Linf_PGD_alpha` lines 40-42: if L(A') < L(A), A' = A. Here the loop's loss is negated, so the
    attack descends and must be reverted (the losses before and after the loop stay the true ones)."""
    method = tiny_method("sdarts_adv", "nb201")
    method.set_epoch(40, 0.01)
    method.args = method.args.model_copy(update={"random_start": False})
    calls = {"n": 0}
    true_criterion = method.criterion

    def flipped(logits, labels):
        calls["n"] += 1
        loss = true_criterion(logits, labels)
        return loss if calls["n"] in (1, method.args.pgd_steps + 2) else -loss

    monkeypatch.setattr(method, "criterion", flipped)
    base = softmax_base(method)
    perturbed, figures = method.perturbed_weights(random_batch(1), base)
    assert calls["n"] == method.args.pgd_steps + 2
    assert all(torch.equal(perturbed[t], base[t]) for t in base)
    assert float(figures["adv_loss_gain"]) == 0.0
