"""GDAS: one op per edge, straight-through gradient to every α entry, τ schedule, resampling, its genotype rule."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nasbench_harness.methods import gdas as gdas_module
from nasbench_harness.methods.gdas import Gdas, draw_subgraphs, gdas_darts_genotype, linear_tau
from nasbench_harness.mixing import MixedEdge
from nasbench_harness.spaces import get_space
from nasbench_harness.suite_expansion import expand_suite
from nasbench_harness.testing import random_batch, tiny_method


def op_calls(net) -> list[list[int]]:
    """Per MixedEdge (module order), forward calls per op, recorded by hooks."""
    edges = [m for m in net.modules() if isinstance(m, MixedEdge)]
    calls = [[0] * len(e.ops) for e in edges]
    for e, edge in enumerate(edges):
        for i, op in enumerate(edge.ops):
            op.register_forward_hook(lambda *_, e=e, i=i: calls[e].__setitem__(i, calls[e][i] + 1))
    return calls


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_one_op_per_edge_per_forward(space):
    method = tiny_method("gdas", space)
    calls = op_calls(method.net)
    draw = draw_subgraphs(dict(method.net.alphas.items()), 1.0, 1, 1)[0]
    method.net(random_batch(0)[0], draw.subgraph(0, method.add_unchosen))
    edges = [m for m in method.net.modules() if isinstance(m, MixedEdge)]
    rows = [row for t in method.net.searched_cell_types for row in draw.chosen[t]]
    for edge, row, counts in zip(edges, rows, calls):
        (op,) = row
        expected = [0] * len(counts)
        if op not in edge.zero_ops:
            expected[op] = 1
        assert counts == expected


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_gradient_reaches_every_alpha_entry(space):
    method = tiny_method("gdas", space)
    method.tau = 1.0
    draw = draw_subgraphs(dict(method.net.alphas.items()), method.tau, 1, 1)[0]
    loss = method.criterion(method.net(random_batch(0)[0], draw.subgraph(0, method.add_unchosen)), random_batch(0)[1])
    grads = dict(zip(method.net.alphas, torch.autograd.grad(loss, method.net.arch_parameters())))
    for t, g in grads.items():
        for e, (op,) in enumerate(draw.chosen[t]):
            if space == "darts" and method.net.space.edge_ops[t][e][op] == "none":
                # The NASNet form (search_cells.py lines 180-181) multiplies the chosen op's zeros only.
                assert (g[e] == 0).all()
                continue
            assert (g[e] != 0).all(), f"an α entry of {t} edge {e} got no gradient"


def test_tau_is_linear_from_max_to_min():
    method = tiny_method("gdas", "nb201")
    epochs = method.config.train.epochs
    method.set_epoch(0, 0.025)
    assert method.tau == 10.0
    method.set_epoch(epochs - 1, 0.025)
    assert method.tau == pytest.approx(0.1)
    assert linear_tau(1, 3, 10.0, 0.1) == pytest.approx(5.05)


def test_a_non_finite_draw_is_drawn_again(monkeypatch):
    original, calls = gdas_module.gumbel_subgraphs, []

    def first_infinite(alpha, tau, k, noise=True):
        hard, index, finite = original(alpha, tau, k, noise)
        calls.append(1)
        return hard, index, finite & torch.tensor(len(calls) > 1)

    monkeypatch.setattr(gdas_module, "gumbel_subgraphs", first_infinite)
    draw_subgraphs({"cell": torch.zeros(6, 5)}, 1.0, 1, 1)
    assert len(calls) == 2


def test_evaluation_uses_the_argmax_path_without_noise():
    method = tiny_method("gdas", "nb201")
    with torch.no_grad():
        method.net.alphas["cell"].copy_(torch.randn(6, 5))
    state = torch.random.get_rng_state()
    weights = method.mixing_weights()["cell"]
    assert torch.equal(torch.random.get_rng_state(), state), "evaluation mixing consumed random numbers"
    assert [row[0] for row in weights.chosen] == method.net.alphas["cell"].argmax(1).tolist()
    torch.testing.assert_close(
        weights.weights.detach(), torch.nn.functional.one_hot(method.net.alphas["cell"].argmax(1), 5).float()
    )


def test_darts_genotype_takes_the_two_strongest_pairs_even_from_one_input():
    space = get_space("darts")
    alphas = {t: np.zeros(s) for t, s in space.alpha_shapes().items()}
    ops = space.edge_ops["normal"][0]
    alphas["normal"][0, ops.index("sep_conv_3x3")] = 8.0  # node 0, input 0: two strong ops
    alphas["normal"][0, ops.index("sep_conv_5x5")] = 7.9
    alphas["normal"][1, ops.index("dil_conv_3x3")] = 0.5
    genotype = gdas_darts_genotype(space, alphas)
    assert genotype.normal[:2] == (("sep_conv_3x3", 0), ("sep_conv_5x5", 0))
    # The DARTS rule would take one op per input instead.
    assert space.derive(alphas).normal[:2] == (("sep_conv_3x3", 0), ("dil_conv_3x3", 1))


def test_step_is_weights_first_then_alpha(monkeypatch):
    method = tiny_method("gdas", "nb201")
    order = []
    monkeypatch.setattr(method, "weight_step", lambda batch, w: order.append("w") or {})
    monkeypatch.setattr(method, "first_order_alpha_step", lambda batch, w: order.append("a") or {})
    method.step(random_batch(0), random_batch(1))
    assert order == ["w", "a"]


def test_script_defaults_per_space():
    from nasbench_harness.config import SuiteConfig

    suite = SuiteConfig.model_validate(
        {"name": "g", "methods": ["gdas"], "spaces": ["nb201", "darts"], "datasets": ["cifar10"], "seeds": [0]}
    )
    nb201, darts = expand_suite(suite)
    assert (nb201.train.epochs, nb201.train.batch_size, nb201.train.nesterov) == (250, 64, True)
    assert (darts.train.batch_size, darts.train.clip_scope, darts.network["layers"]) == (256, "all", 6)
    assert isinstance(Gdas, type)
