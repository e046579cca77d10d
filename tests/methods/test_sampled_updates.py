"""How the sampled methods update the weights of ops a step did not sample, against steps computed by hand.

The originals ran under PyTorch < 2, whose `optimizer.zero_grad()` zeroes gradients in place (0.3.1:
`p.grad.data.zero_()`; 1.x: `p.grad.detach_(); p.grad.zero_()`; only `set_to_none=True`, PyTorch 2's default,
drops them). A weight that has had a gradient once therefore keeps a zero one, and SGD (PyTorch 1.x
`torch/optim/sgd.py`: d = grad + wd·p; buf = d the first time, else m·buf + d; Nesterov: d + m·buf, else buf;
p −= lr·that) moves it at every step by its weight decay and momentum:

- GDAS (xautodl `exps/NAS-Bench-201-algos/GDAS.py` lines 50-55 and 65-69): only the sampled op runs, so a
  weight gets its first gradient when its op is first sampled, in the weight step or in the α step, whose
  `arch_loss.backward()` (line 68) fills the gradient of every weight the α loss reaches.
- RandomNAS (RobustDARTS `src/search/model_search.py` lines 22-23 and 118-131, `darts_wrapper_discrete.py`
  lines 110-116): every op of every edge runs, times its 0/1 weight, so every weight has a (zero) gradient
  at every step and every BatchNorm updates its running statistics.

The expected weights below are computed from these formulas and the weights before the step, not from the
optimiser's state.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest
import torch
from torch import nn

from nasbench_harness.config import SuiteConfig
from nasbench_harness.methods import gdas as gdas_module
from nasbench_harness.methods import random_ws as random_ws_module
from nasbench_harness.methods.gdas import Draw, Gdas, gumbel_subgraphs
from nasbench_harness.methods.random_ws import RandomWS
from nasbench_harness.mixing import MixedEdge
from nasbench_harness.spaces import get_space
from nasbench_harness.suite_expansion import expand_suite
from nasbench_harness.testing import TINY_NETWORK, random_batch, round_trip


def suite_config(method: str, space: str, **train: object):
    """The method's run config as a `profile: tiny` suite resolves it (its defaults layers applied)."""
    suite = {"name": "t", "profile": "tiny", "methods": [method], "spaces": [space], "datasets": ["cifar10"]}
    return expand_suite(SuiteConfig.model_validate({**suite, "seeds": [0], "train": train}))[0]


def build(cls: type, config) -> object:
    torch.manual_seed(0)
    mixer = cls.mixer(cls.Args.model_validate(config.method_args))
    net = get_space(config.space).build_supernet(num_classes=10, mixer=mixer, **TINY_NETWORK[config.space]).double()
    return cls(net, config, torch.device("cpu"))


def batch(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = random_batch(seed)
    return x.double(), y


def op_params(net: nn.Module, op: int) -> list[torch.Tensor]:
    """Every parameter of op `op` on every edge (NB201: op 2 = nor_conv_1x1, 3 = nor_conv_3x3)."""
    return [p for m in net.modules() if isinstance(m, MixedEdge) for p in m.ops[op].parameters()]


def forced(alphas: Mapping[str, torch.Tensor], op: int, tau: float) -> Draw:
    """A GDAS draw choosing `op` on every edge, straight-through weights from α as the method's."""
    hard, chosen = {}, {}
    for t, alpha in alphas.items():
        bias = torch.zeros_like(alpha)
        bias[:, op] = 100.0
        mats, index, _ = gumbel_subgraphs(alpha + bias, tau, 1, noise=False)
        hard[t], chosen[t] = mats, index.tolist()
    return Draw(hard, chosen)


def gdas_two_steps(monkeypatch, zero_grad: str | None = None, kill_after_first: bool = False, keep_grads: bool = True):
    """Two GDAS steps on NB201: step 1 trains op 2 and takes its α step on op 3; step 2 samples op 1 (skip)
    in both. Returns the method and op 2's and op 3's weights before, after step 1 and after step 2."""
    config = suite_config("gdas", "nb201", **({} if zero_grad is None else {"zero_grad": zero_grad}))
    method = build(Gdas, config)
    plans = iter([(2, 3), (1, 1)])

    def draws(alphas, tau, k, n, noise=True):
        weight_op, alpha_op = next(plans)
        return [forced(alphas, weight_op, tau), forced(alphas, alpha_op, tau)]

    monkeypatch.setattr(gdas_module, "draw_subgraphs", draws)
    snap = lambda: [[p.detach().clone() for p in op_params(method.net, op)] for op in (2, 3)]  # noqa: E731
    before = snap()
    method.step(batch(0), batch(1))
    first = snap()
    if kill_after_first:  # a checkpoint round trip, as a resumed run's
        state = round_trip({"net": method.net.state_dict(), "method": method.state_dict()})
        if not keep_grads:
            state["method"].pop("weight_grads_kept")
        method = build(Gdas, config)
        method.net.load_state_dict(state["net"])
        method.load_state_dict(state["method"])
    method.step(batch(2), batch(3))
    return method, before, first, snap()


def test_gdas_defaults_to_the_pytorch_1x_update_of_unsampled_weights(monkeypatch):
    method, before, first, second = gdas_two_steps(monkeypatch)  # the method's default
    train = method.config.train
    assert (train.zero_grad, train.nesterov, train.weight_decay, train.momentum) == ("zeros", True, 5e-4, 0.9)
    lr, wd, m = train.lr, train.weight_decay, train.momentum
    conv1, conv3 = 0, 1
    for p0, p1, p2 in zip(before[conv1], first[conv1], second[conv1]):
        # Step 1 trained op 2 (Nesterov, first step: buf = d1, p1 = p0 − lr(1 + m) d1); step 2 did not sample it:
        # d2 = wd·p1, buf2 = m·d1 + d2, p2 = p1 − lr(d2 + m·buf2).
        assert not torch.equal(p0, p1)
        d1 = (p0 - p1) / (lr * (1 + m))
        d2 = wd * p1
        torch.testing.assert_close(p2, p1 - lr * (d2 + m * (m * d1 + d2)), rtol=1e-10, atol=1e-14)
    for p0, p1, p2 in zip(before[conv3], first[conv3], second[conv3]):
        # Op 3 ran in step 1's α step only: no gradient at step 1's weight step (not moved), a zero one since.
        assert torch.equal(p0, p1)
        torch.testing.assert_close(p2, p1 - lr * (1 + m) * wd * p1, rtol=1e-10, atol=1e-14)
        assert not torch.equal(p1, p2)


def test_gdas_with_gradients_set_to_none_steps_the_sampled_weights_only(monkeypatch):
    _, before, first, second = gdas_two_steps(monkeypatch, "to_none")
    assert all(torch.equal(a, b) for a, b in zip(first[0], second[0]))  # op 2: sampled in step 1 only
    assert all(torch.equal(a, b) for a, b in zip(before[1], second[1]))  # op 3: in an α step only


@pytest.mark.parametrize("keep_grads", [True, False])
def test_which_weights_have_a_gradient_survives_a_checkpoint(monkeypatch, keep_grads):
    *_, uninterrupted = gdas_two_steps(monkeypatch)
    *_, resumed = gdas_two_steps(monkeypatch, kill_after_first=True, keep_grads=keep_grads)
    same = all(torch.equal(a, b) for op_a, op_b in zip(uninterrupted, resumed) for a, b in zip(op_a, op_b))
    assert same == keep_grads


def fixed_arch(space: str, op: int) -> dict[str, list[list[int]]]:
    """A DARTS-family architecture: per node its first two inputs, op `op` on each (S3: 2 = sep_conv_3x3)."""
    arch, offset, chosen = {}, 0, []
    for node in range(4):
        chosen += [[offset, op], [offset + 1, op]]
        offset += node + 2
    for cell_type in get_space(space).edge_ops:
        arch[cell_type] = [list(pair) for pair in chosen]
    return arch


def random_ws_two_steps(monkeypatch, **args: object):
    """Two RandomNAS steps on S3, both on the same architecture (edges 0, 1, 2, 3, 5, 6, 9, 10 with
    sep_conv_3x3); edge 4's sep_conv_3x3 is never sampled."""
    train = args.pop("train", {})
    suite = {"name": "t", "profile": "tiny", "methods": ["random_ws"], "spaces": ["s3"], "datasets": ["cifar10"]}
    config = expand_suite(SuiteConfig.model_validate({**suite, "seeds": [0], "train": train, "method_args": args}))[0]
    method = build(RandomWS, config)
    monkeypatch.setattr(random_ws_module, "sample_arch", lambda space, generator=None: fixed_arch("s3", 2))
    cell = method.net.cells[0]
    unsampled = cell.edges[4].ops[2]
    sampled = cell.edges[0].ops[2]
    snap = lambda op: [p.detach().clone() for p in op.parameters()]  # noqa: E731
    history = [(snap(unsampled), snap(sampled))]
    for step in range(2):
        method.step(batch(2 * step), batch(2 * step + 1))
        history.append((snap(unsampled), snap(sampled)))
    return method, unsampled, history


def test_random_ws_runs_every_op_times_its_weight_and_steps_every_weight(monkeypatch):
    method, unsampled, history = random_ws_two_steps(monkeypatch)
    train = method.config.train
    assert method.args.training_forward == "all_ops" and train.zero_grad == "zeros" and not train.nesterov
    lr, wd, m = train.lr, train.weight_decay, train.momentum
    (p0, _), (p1, _), (p2, _) = history
    for a0, a1, a2 in zip(p0, p1, p2):
        # Its gradient is exactly 0 (its output times weight 0): d = wd·p; buf1 = d1, p1 = p0 − lr·d1;
        # buf2 = m·buf1 + d2, p2 = p1 − lr·buf2.
        torch.testing.assert_close(a1, a0 - lr * wd * a0, rtol=1e-12, atol=1e-15)
        torch.testing.assert_close(a2, a1 - lr * (m * wd * a0 + wd * a1), rtol=1e-12, atol=1e-15)
    # Every BatchNorm of every op ran in training mode at both steps, sampled or not (selection reads them).
    norms = [
        m
        for e in method.net.modules()
        if isinstance(e, MixedEdge)
        for m in e.modules()
        if isinstance(m, nn.BatchNorm2d)
    ]
    assert norms and all(int(n.num_batches_tracked) == 2 for n in norms if n.track_running_stats)
    assert any(n.track_running_stats for n in norms)


def test_random_ws_sampled_forward_is_an_option(monkeypatch):
    method, unsampled, history = random_ws_two_steps(
        monkeypatch, training_forward="sampled", train={"zero_grad": "to_none"}
    )
    (p0, s0), (p1, s1), (p2, s2) = history
    assert all(torch.equal(a, b) for a, b in zip(p0, p2))  # never sampled: never stepped
    assert not any(torch.equal(a, b) for a, b in zip(s0, s1))  # sampled: trained
    norms = [m for m in unsampled.modules() if isinstance(m, nn.BatchNorm2d) and m.track_running_stats]
    assert norms and all(int(n.num_batches_tracked) == 0 for n in norms)
