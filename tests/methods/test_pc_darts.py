"""PC-DARTS' distinguishing mechanics: 1/K of the channels through the ops (with the original's bypass
and shuffle), β over each node's incoming edges scaling whole edges, β in the genotype rule, the freeze."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from nasbench_harness.methods.pc_darts import EdgeNormalisedChannels, node_edge_groups
from nasbench_harness.mixing import MixedEdge, channel_shuffle
from nasbench_harness.spaces import get_space
from nasbench_harness.spaces.ops import build_darts_op
from nasbench_harness.testing import check_method, random_batch, tiny_method


def channels_seen(method) -> list[tuple[int, int]]:
    """(edge input channels, channels each computed op received) over one forward."""
    seen: list[tuple[int, int]] = []
    mixer = method.net.mixer
    original = type(mixer).__call__

    def recording(self, x, edge, weights):
        handles = [
            op.register_forward_pre_hook(lambda _m, args: seen.append((x.shape[1], args[0].shape[1])))
            for op in edge.ops
        ]
        try:
            return original(self, x, edge, weights)
        finally:
            for h in handles:
                h.remove()

    type(mixer).__call__ = recording
    try:
        method.forward_loss(random_batch(0))
    finally:
        type(mixer).__call__ = original
    return seen


@pytest.mark.parametrize("space", ["nb201", "darts", "s3"])
def test_exactly_one_kth_of_the_channels_goes_through_the_ops(space):
    method = tiny_method("pc_darts", space)
    seen = channels_seen(method)
    assert seen, "no op ran"
    assert all(op == edge // 4 for edge, op in seen), sorted(set(seen))


def original_mixed_op(x, ops, weights, k):
    """PC-DARTS model_search.py MixedOp.forward (lines 40-57), written out."""
    part, rest = x[:, : x.shape[1] // k], x[:, x.shape[1] // k :]
    mixed = sum(w * op(part) for w, op in zip(weights, ops))
    rest = rest if mixed.shape[2] == x.shape[2] else F.max_pool2d(rest, 2, 2)
    return channel_shuffle(torch.cat([mixed, rest], dim=1), k)


@pytest.mark.parametrize("stride", [1, 2])
def test_edge_output_is_the_original_mixed_op_scaled_by_its_edge_weight(stride):
    names = get_space("darts").edge_ops["normal"][0]
    torch.manual_seed(3)
    edge = MixedEdge(names, [build_darts_op(name, 4, stride) for name in names], stride)
    x = torch.randn(2, 16, 8, 8)
    row = torch.softmax(torch.randn(len(edge.ops)), 0)
    edge.eval()
    expected = 0.3 * original_mixed_op(x, list(edge.ops), row, 4)
    got = EdgeNormalisedChannels(4)(x, edge, torch.cat([row, torch.tensor([0.3])]))
    torch.testing.assert_close(got, expected)


def test_beta_is_a_softmax_over_each_nodes_incoming_edges():
    method = tiny_method("pc_darts", "darts")
    assert node_edge_groups(get_space("darts")) == [[0, 1], [2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12, 13]]
    assert node_edge_groups(get_space("nb201")) == [[0], [1, 2], [3, 4, 5]]
    weights = method.mixing_weights()
    for t, w in weights.items():
        assert w.shape == (14, len(get_space("darts").edge_ops[t][0]) + 1)
        torch.testing.assert_close(w[:, :-1], torch.softmax(method.net.alphas[t], -1))
        for group in method.groups:
            torch.testing.assert_close(w[group, -1], torch.softmax(method.extra_arch[f"beta.{t}"][group], -1))


def original_parse(weights: np.ndarray, weights2: np.ndarray, ops: tuple[str, ...]) -> list[tuple[str, int]]:
    """PC-DARTS model_search.py genotype()._parse (lines 190-206), written out."""
    gene, start, n = [], 0, 2
    none = ops.index("none")
    for _ in range(4):
        w = weights[start : start + n] * weights2[start : start + n, None]
        edges = sorted(range(n), key=lambda x: -max(w[x][k] for k in range(len(w[x])) if k != none))[:2]
        for j in edges:
            best = max((k for k in range(len(w[j])) if k != none), key=lambda k: (w[j][k], -k))
            gene.append((ops[best], j))
        start, n = start + n, n + 1
    return gene


def test_beta_changes_the_chosen_edges_as_in_the_original_rule():
    method = tiny_method("pc_darts", "darts")
    ops = get_space("darts").edge_ops["normal"][0]
    sep = ops.index("sep_conv_3x3")
    with torch.no_grad():
        alpha, beta = method.net.alphas["normal"], method.extra_arch["beta.normal"]
        alpha.zero_()
        beta.zero_()
        # Node 1 (edges 2, 3, 4 from inputs 0, 1, 2): α prefers inputs 0 and 1, β puts its weight on input 2.
        alpha[2, sep], alpha[3, sep], alpha[4, sep] = 2.0, 1.9, 1.0
        beta[4] = 5.0
    alpha_only = dict(method.net.genotype().cells()["normal"][2:4])
    with_beta = method.genotype().cells()["normal"]
    assert sorted(j for _, j in method.net.genotype().cells()["normal"][2:4]) == [0, 1], alpha_only
    assert sorted(j for _, j in with_beta[2:4]) == [0, 2]
    softmax = torch.softmax(alpha, -1).detach().numpy()
    weights2 = method.edge_weights()["normal"].detach().numpy()
    assert list(with_beta) == original_parse(softmax, weights2, ops)


def test_alpha_and_beta_are_frozen_during_the_warmup_then_both_step():
    method = tiny_method("pc_darts", "nb201", warmup_epochs=1)
    before = [p.detach().clone() for p in method.arch_parameters()]
    method.set_epoch(0, 0.1)
    figures = method.step(random_batch(0), random_batch(1))
    assert "valid_loss" not in figures
    assert all(torch.equal(a, b) for a, b in zip(before, method.arch_parameters()))
    method.set_epoch(1, 0.1)
    method.step(random_batch(2), random_batch(3))
    assert all(not torch.equal(a, b) for a, b in zip(before, method.arch_parameters()))
    stepped = {id(p) for p in method.a_optimizer.param_groups[0]["params"]}
    assert {id(p) for p in method.arch_parameters()} == stepped and len(stepped) == 2


@pytest.mark.parametrize("space", ["nb201", "s2"])
def test_conforms_with_the_architecture_trained_from_the_first_epoch(space):
    """The conformance round trip with α and β stepping (the default warm-up keeps them frozen there)."""
    check_method("pc_darts", space, warmup_epochs=0)


def test_defaults_are_the_original_scripts():
    from nasbench_harness.config import SuiteConfig
    from nasbench_harness.suite_expansion import expand_suite

    suite = SuiteConfig.model_validate(
        {"name": "x", "methods": ["pc_darts"], "spaces": ["darts"], "datasets": ["cifar10"], "seeds": [0]}
    )
    (config,) = expand_suite(suite)
    train = config.train
    assert (train.batch_size, train.lr, train.lr_min, train.arch_lr, train.arch_weight_decay) == (
        256,
        0.1,
        0.0,
        6e-4,
        1e-3,
    )
    assert (train.epochs, train.grad_clip, train.weight_decay, train.arch_betas) == (50, 5.0, 3e-4, (0.5, 0.999))
    assert config.method_args == {"k": 4, "warmup_epochs": 15, "edge_normalisation": True, "zero_arch_grads": False}
    assert config.train.lr_epoch == "current"  # PyTorch 0.3.1 (README line 76): epoch e at lr(e)


def test_nb201_defaults_are_drnas_partial_channel_script():
    """The published NB201 row comes from DrNAS' 201-space/train_search.py with partial channels (f2caa4d):
    batch 64 (line 34), lr 0.025 → 0.001 (35-36), momentum 0.9 (37), weight decay 3e-4 (38), 100 epochs (41),
    train_portion 0.5 (49), α lr 3e-4 and weight decay 1e-3 (51-52), plain SGD (153-157), a fresh random α batch
    per step (260), no warm-up (264 commented out), no β (the cell has none), BatchNorm running statistics
    (search_model.py line 18), clip over model.parameters() with α's gradient zeroed first (266-273)."""
    from nasbench_harness.config import SuiteConfig
    from nasbench_harness.suite_expansion import expand_suite

    suite = SuiteConfig.model_validate(
        {"name": "x", "methods": ["pc_darts"], "spaces": ["nb201"], "datasets": ["cifar10"], "seeds": [0]}
    )
    (config,) = expand_suite(suite)
    train = config.train
    assert (train.batch_size, train.lr, train.lr_min, train.momentum, train.weight_decay, train.epochs) == (
        64,
        0.025,
        0.001,
        0.9,
        3e-4,
        100,
    )
    assert (train.arch_lr, train.arch_weight_decay, train.nesterov, train.clip_scope) == (3e-4, 1e-3, False, "all")
    assert (config.data.split, config.data.valid_sampling) == ("half", "darts_fresh_batch")
    assert config.network["track_running_stats"] is True
    assert config.method_args == {"k": 4, "warmup_epochs": 0, "edge_normalisation": False, "zero_arch_grads": True}


def test_the_nb201_weight_step_clips_alphas_training_gradient_only():
    """DrNAS' loop zeroes α's gradient after the α step (`architect.optimizer.zero_grad()`, line 267), so the
    clip over `model.parameters()` (line 273) counts α's training-loss gradient only."""
    method = tiny_method("pc_darts", "nb201", warmup_epochs=0, edge_normalisation=False, zero_arch_grads=True)
    method.config = method.config.model_copy(
        update={"train": method.config.train.model_copy(update={"clip_scope": "all", "grad_clip": 1e-3})}
    )
    method.net.double()
    weights = [w.detach().clone() for w in method.net.weight_parameters()]
    alpha = method.net.arch_parameters()[0]
    x, y = random_batch(0)
    x = x.double()
    loss = method.criterion(method.net(x, method.mixing_weights()), y)
    grads = torch.autograd.grad(loss, method.net.weight_parameters() + [alpha], allow_unused=True)
    norm = torch.cat([g.reshape(-1) for g in grads if g is not None]).norm()
    alpha.grad = torch.full_like(alpha, 1e3)  # what an α step would leave behind
    method.weight_step((x, y))
    scale = 1e-3 / (norm + 1e-6)  # clip_grad_norm_'s coefficient over the weights and α's training gradient
    moved = [w0 - w.detach() for w0, w in zip(weights, method.net.weight_parameters())]
    expected = [method.lr * scale * g for g in grads[:-1]]  # first SGD step, no weight decay on top of it:
    for got, want, w0 in zip(moved, expected, weights):
        torch.testing.assert_close(got, want + method.lr * method.weight_decay * w0, rtol=1e-9, atol=1e-15)
