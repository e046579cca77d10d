"""DrNAS' distinguishing mechanics: Dirichlet(ELU(α)+1) samples on the simplex, fresh at every forward,
with pathwise gradients to the concentrations; the KL regulariser of its code; its per-space defaults."""

from __future__ import annotations

import pytest
import torch

from nasbench_harness.testing import random_batch, tiny_method


@pytest.mark.parametrize("space", ["nb201", "darts", "s1"])
def test_samples_lie_on_the_simplex_and_are_drawn_afresh(space):
    method = tiny_method("drnas", space)
    first, second = method.mixing_weights(), method.mixing_weights()
    for t, w in first.items():
        assert w.shape == method.net.alphas[t].shape
        assert bool((w >= 0).all())
        torch.testing.assert_close(w.sum(-1), torch.ones(w.shape[0]))
        assert not torch.equal(w, second[t]), "a new sample per forward"


def test_samples_follow_the_dirichlet_of_the_elu_concentrations():
    method = tiny_method("drnas", "nb201")
    with torch.no_grad():
        method.net.alphas["cell"].copy_(torch.tensor([0.0, 1.0, 2.0, -0.5, 0.5]).expand(6, 5))
    concentration = torch.tensor([1.0, 2.0, 3.0, float(torch.exp(torch.tensor(-0.5))), 1.5])  # ELU(α) + 1
    torch.testing.assert_close(method.arch_state()["concentration.cell"][0], concentration)
    torch.manual_seed(0)
    mean = torch.stack([method.mixing_weights()["cell"].detach() for _ in range(4000)]).mean(dim=(0, 1))
    torch.testing.assert_close(mean, concentration / concentration.sum(), atol=4e-3, rtol=0)


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_pathwise_gradients_reach_every_concentration(space):
    method = tiny_method("drnas", space)
    loss, _ = method.forward_loss(random_batch(0))
    grads = torch.autograd.grad(loss, method.net.arch_parameters())
    for g in grads:
        assert bool(torch.isfinite(g).all()) and bool((g != 0).all())


def closed_form_kl(c: torch.Tensor) -> torch.Tensor:
    """KL(Dir(c) || Dir(1)) per row, written out."""
    c0 = c.sum(-1)
    k = torch.tensor(float(c.shape[-1]))
    return (
        torch.lgamma(c0)
        - torch.lgamma(c).sum(-1)
        - torch.lgamma(k)
        + ((c - 1) * (torch.digamma(c) - torch.digamma(c0)[..., None])).sum(-1)
    )


def test_the_kl_regulariser_is_added_to_the_alpha_loss_and_replaces_weight_decay():
    method = tiny_method("drnas", "darts", reg_type="kl", reg_scale=0.5)
    assert method.a_optimizer.param_groups[0]["weight_decay"] == 0.0
    with torch.no_grad():
        for a in method.net.alphas.values():
            a.normal_()
    expected = 0.5 * sum(closed_form_kl(torch.nn.functional.elu(a) + 1).sum() for a in method.net.alphas.values())
    torch.testing.assert_close(method.kl_regulariser(), expected)

    alphas = [a.detach().clone() for a in method.net.arch_parameters()]
    rng = torch.get_rng_state()
    method.alpha_step(random_batch(1))
    step_grads = [a.grad.clone() for a in method.net.arch_parameters()]
    with torch.no_grad():
        for a, saved in zip(method.net.arch_parameters(), alphas):
            a.copy_(saved)
    torch.set_rng_state(rng)
    loss, _ = method.forward_loss(random_batch(1))
    ce = torch.autograd.grad(loss, method.net.arch_parameters())
    kl = torch.autograd.grad(method.kl_regulariser(), method.net.arch_parameters())
    for got, c, k in zip(step_grads, ce, kl):
        torch.testing.assert_close(got, c + k)


def test_l2_is_adam_weight_decay_reg_scale():
    method = tiny_method("drnas", "nb201", reg_scale=2e-3)
    assert method.a_optimizer.param_groups[0]["weight_decay"] == 2e-3


def test_defaults_per_space_family():
    from nasbench_harness.config import SuiteConfig
    from nasbench_harness.suite_expansion import expand_suite

    suite = SuiteConfig.model_validate(
        {"name": "x", "methods": ["drnas"], "spaces": ["nb201", "darts"], "datasets": ["cifar10"], "seeds": [0]}
    )
    nb201, darts = expand_suite(suite)
    assert (nb201.train.epochs, nb201.train.batch_size, nb201.train.lr, nb201.train.arch_lr) == (100, 64, 0.025, 3e-4)
    assert (nb201.data.split, nb201.network["track_running_stats"], nb201.train.clip_scope) == ("half", True, "all")
    assert nb201.method_args == {"reg_type": "l2", "reg_scale": 1e-3, "k": 1, "warmup_epochs": 0}
    assert (darts.train.epochs, darts.train.lr, darts.train.lr_min, darts.train.arch_lr) == (50, 0.1, 0.0, 6e-4)
    assert (darts.network["channels"], darts.network["layers"]) == (36, 20)
    assert darts.method_args == {"reg_type": "l2", "reg_scale": 1e-3, "k": 4, "warmup_epochs": 10}


def test_partial_channels_on_the_darts_family():
    method = tiny_method("drnas", "s3", k=4)
    assert method.net.mixer.channel_divisor == 4
    assert tiny_method("drnas", "nb201").net.mixer.dense
