"""Λ-DARTS: the regulariser's directions, the finite-difference injection, λ's warm-up, which cells are
perturbed, the `grad_corr` metric, and a short run on each of the six spaces."""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path

import pytest
import torch

from nasbench_harness.config import RunConfig, TrainConfig
from nasbench_harness.engine import run_suite
from nasbench_harness.methods import lambda_darts
from nasbench_harness.methods.lambda_darts import LambdaDarts, lambda_at, perturbation_directions
from nasbench_harness.metrics.grad_corr import aligned_cells, mean_pairwise_cosine, per_cell_gradients
from nasbench_harness.spaces import get_space


def regulariser(grads: list[torch.Tensor], kind: str) -> torch.Tensor:
    """R written out directly: the mean over pairs of the cosine, or of gᵢᵀgⱼ / |gᵢ|ᵀ|gⱼ|."""
    terms = []
    for a, b in combinations(grads, 2):
        if kind == "corr":
            terms.append(a @ b / (a.norm() * b.norm()))
        else:
            terms.append(a @ b / (a.abs() @ b.abs()))
    return torch.stack(terms).mean()


@pytest.mark.parametrize("kind", ["corr", "signcorr"])
@pytest.mark.parametrize("cells", [2, 3, 6])
def test_directions_are_the_gradient_of_the_regulariser(kind, cells):
    g = torch.Generator().manual_seed(cells)
    grads = [torch.randn(14 * 7, generator=g, dtype=torch.float64).requires_grad_() for _ in range(cells)]
    expected = torch.autograd.grad(regulariser(grads, kind), grads)
    got = perturbation_directions([x.detach() for x in grads], kind)
    for e, p in zip(expected, got):
        torch.testing.assert_close(p, e, rtol=1e-10, atol=1e-12)


def test_directions_reject_bad_input():
    with pytest.raises(ValueError, match="at least 2"):
        perturbation_directions([torch.ones(3)], "corr")
    with pytest.raises(ValueError, match="'corr' or 'signcorr'"):
        perturbation_directions([torch.ones(3), torch.ones(3)], "cos")


def make_method(space: str, network: dict, **train) -> LambdaDarts:
    torch.manual_seed(0)
    config = RunConfig(
        method="lambda_darts", space=space, dataset="cifar10", seed=0, train=TrainConfig(batch_size=4, **train)
    )
    net = get_space(space).build_supernet(num_classes=10, **network)
    return LambdaDarts(net, config, torch.device("cpu"))


def batch(seed: int, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(4, 3, 8, 8, generator=g, dtype=dtype), torch.randint(0, 10, (4,), generator=g)


def test_injection_is_the_mixed_second_derivative():
    """(∇w L(A−εp) − ∇w L(A+εp))/2ε against −∇w Σ gₗᵀpₗ by double backprop, p held fixed (float64)."""
    method = make_method("nb201", {"channels": 4, "cells_per_stage": 2})
    net = method.net.double()
    x, y = batch(0, torch.float64)
    base = [w.detach() for w in net.per_cell(None)]
    copies = [w.clone().requires_grad_() for w in base]
    loss = method.criterion(net(x, copies), y)
    grads = torch.autograd.grad(loss, copies, create_graph=True)
    directions = perturbation_directions([g.detach().reshape(-1) for g in grads], "corr")
    directions = [p.reshape(b.shape) for p, b in zip(directions, base)]
    mixed = sum((g * p).sum() for g, p in zip(grads, directions))
    weights = net.weight_parameters()
    exact = torch.autograd.grad(mixed, weights, allow_unused=True, materialize_grads=True)
    norm = torch.cat([p.reshape(-1) for p in directions]).norm().item()
    got = lambda_darts.regulariser_gradient(method, (x, y), base, directions, 1e-4 / norm)
    flat_exact = torch.cat([e.reshape(-1) for e in exact])
    flat_got = torch.cat([g.reshape(-1) for g in got])
    assert flat_exact.norm() > 0
    torch.testing.assert_close(flat_got, -flat_exact, rtol=1e-5, atol=1e-7 * flat_exact.norm().item())


def test_weight_update_adds_lambda_times_the_injection(monkeypatch):
    """Plain SGD, no clip: Δw = −lr (∇w L + λ_t · injection), λ_t at the epoch."""
    network = {"channels": 4, "cells_per_stage": 2}
    method = make_method("nb201", network, momentum=0.0, weight_decay=0.0, grad_clip=None)
    method.set_epoch(3, 0.1)
    captured = {}
    original = lambda_darts.regulariser_gradient

    def spy(*args):
        captured["injection"] = original(*args)
        return captured["injection"]

    monkeypatch.setattr(lambda_darts, "regulariser_gradient", spy)
    x, y = batch(1)
    weights = method.net.weight_parameters()
    before = [w.detach().clone() for w in weights]
    plain = torch.autograd.grad(method.forward_loss((x, y))[0], weights, allow_unused=True, materialize_grads=True)
    stats = method.weight_step((x, y))
    lam = 0.25 * 3 / 49
    assert stats["lambda"] == pytest.approx(lam) and stats["reg_applied"] == 1.0
    for w, b, g, r in zip(weights, before, plain, captured["injection"]):
        torch.testing.assert_close(w.detach(), b - 0.1 * (g + lam * r), rtol=1e-4, atol=1e-6)
    assert any(r.abs().max() > 0 for r in captured["injection"])


def test_lambda_warm_up():
    assert [lambda_at(0.125, e, 5) for e in range(5)] == [0.0, 0.125 / 4, 0.125 / 2, 0.125 * 3 / 4, 0.125]
    assert lambda_at(0.25, 0, 1) == 0.0
    method = make_method("darts", {"channels": 4, "layers": 5}, epochs=11)
    for epoch, expected in [(0, 0.0), (5, 0.125), (10, 0.25)]:  # run_search.sh line 6: λ 0.25
        method.set_epoch(epoch, 0.025)
        assert method.lambda_ == pytest.approx(expected)


def test_defaults_per_space_family():
    nb201 = make_method("nb201", {"channels": 4, "cells_per_stage": 1})
    assert (nb201.lambda_max, nb201.epsilon_0) == (0.25, 1e-4)
    assert nb201.cells == [0, 1, 2] and nb201.args.order == "first" and nb201.step_order == "weights_first"
    darts = make_method("s3", {"channels": 4, "layers": 5})
    # run_search.sh, the one DARTS-family script: lambda_=0.25, epsilon_0=0.001 (lines 6-7), corr (line 8),
    # arch_learning_rate 0.0003 (line 9); not the parser's 0.125 / 1e-4 (train_search.py lines 60-61).
    assert (darts.lambda_max, darts.epsilon_0, darts.arch_lr) == (0.25, 1e-3, 3e-4)
    assert darts.args.regulariser == "corr"
    assert darts.step_order == "alpha_first"
    assert json.loads(json.dumps(darts.describe()))["defaults_from"].startswith("run_search.sh")


def test_reduction_cells_are_not_perturbed(monkeypatch):
    """DARTS family: p = 0 on the reduction cells, and their gradients do not enter the normal cells' p."""
    method = make_method("darts", {"channels": 4, "layers": 5})
    types = method.net.searched_cell_types
    assert types == ("normal", "reduce", "normal", "reduce", "normal")
    assert aligned_cells(method.net) == [0, 2, 4]
    captured = {}
    original = lambda_darts.regulariser_gradient

    def spy(method_, batch_, base, perturbation, eps):
        captured["p"] = [p.clone() for p in perturbation]
        return original(method_, batch_, base, perturbation, eps)

    monkeypatch.setattr(lambda_darts, "regulariser_gradient", spy)
    method.set_epoch(1, 0.025)
    x, y = batch(2)
    grads = per_cell_gradients(method.net, (x, y), None)
    method.weight_step((x, y))
    for i in (1, 3):
        assert torch.count_nonzero(captured["p"][i]) == 0
    normal = perturbation_directions([grads[i].reshape(-1) for i in (0, 2, 4)], "corr")
    for i, p in zip((0, 2, 4), normal):
        assert torch.count_nonzero(captured["p"][i]) > 0
        torch.testing.assert_close(captured["p"][i].reshape(-1), p, rtol=1e-4, atol=1e-7)


def test_mean_pairwise_cosine():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    assert mean_pairwise_cosine([a, a, b]) == pytest.approx(1 / 3)
    assert mean_pairwise_cosine([a]) is None
    assert mean_pairwise_cosine([a, torch.zeros(2)]) is None


SMOKE = """\
name: lambda-smoke
profile: tiny
methods: [lambda_darts, darts]
spaces: [nb201, darts, s1, s2, s3, s4]
datasets: [cifar10]
seeds: [0]
network: {layers: 5}
train: {epochs: 2, batch_size: 16}
data: {limit_train: 32, limit_test: 16}
metrics: {ground_truth: false}
"""


@pytest.mark.slow
def test_six_space_smoke_run(tmp_path: Path, reference_data_dir):
    """One short run per space on real CIFAR-10: finishes, logs λ, the per-step and the epoch grad_corr."""
    suite = tmp_path / "suite.yaml"
    suite.write_text(SMOKE)
    outcomes = run_suite(
        suite, results_dir=str(tmp_path / "r"), data_dir=str(reference_data_dir), device="cpu", report=lambda m: None
    )
    assert [o.status for o in outcomes] == ["finished"] * 12
    for outcome in outcomes:
        rows = [json.loads(line) for line in (outcome.directory / "metrics.jsonl").read_text().splitlines()]
        assert all(-1.0 <= r["grad_corr"] <= 1.0 for r in rows), outcome.directory
        if outcome.config.method == "lambda_darts":
            assert [r["lambda"] for r in rows] == [0.0, 0.25]
            assert all(r["reg_applied"] == 1.0 and -1.0 <= r["train_grad_corr"] <= 1.0 for r in rows)
            metadata = json.loads((outcome.directory / "metadata.json").read_text())
            assert metadata["method"]["regulariser_active"] is True


def test_nb201_suite_defaults_are_lambda_darts_own_config(tmp_path) -> None:
    """Λ-DARTS' NAS-Bench201/configs/nas-benchmark/algos/DARTS.config: 100 epochs, wd 3e-4, no Nesterov;
    DARTS keeps xautodl's (50, 5e-4, Nesterov); a suite section still wins."""
    from nasbench_harness.suite_expansion import expand_suite, load_suite

    suite = tmp_path / "s.yaml"
    suite.write_text("name: t\nmethods: [lambda_darts, darts]\nspaces: [nb201, s3]\ndatasets: [cifar10]\nseeds: [0]\n")
    runs = {(r.method, r.space): r.train for r in expand_suite(load_suite(suite), suite)}
    lam, darts = runs[("lambda_darts", "nb201")], runs[("darts", "nb201")]
    assert (lam.epochs, lam.weight_decay, lam.nesterov, lam.arch_lr) == (100, 3e-4, False, 1e-4)
    assert (darts.epochs, darts.weight_decay, darts.nesterov) == (50, 5e-4, True)
    assert runs[("lambda_darts", "s3")].epochs == 50
    suite.write_text(suite.read_text() + "train: {epochs: 7}\n")
    runs = {(r.method, r.space): r.train for r in expand_suite(load_suite(suite), suite)}
    assert runs[("lambda_darts", "nb201")].epochs == 7
    suite.write_text(suite.read_text() + "overrides: {methods: {lambda_darts: {train: {arch_lr: 5.0e-4}}}}\n")
    runs = {(r.method, r.space): r.train for r in expand_suite(load_suite(suite), suite)}
    assert runs[("lambda_darts", "nb201")].arch_lr == 5e-4  # a user's α lr takes effect


def test_darts_family_suite_defaults_are_run_search_sh(tmp_path) -> None:
    """run_search.sh line 13 passes --batch_size 96 with its λ and ε₀; sota/cnn/train_search.py walks the α
    half once per epoch (`valid_queue = iter(valid_queue)` at line 213, `next(valid_queue)` per step at line
    223): `valid_sampling: permutation`. A suite's own keys win over both."""
    from nasbench_harness.suite_expansion import expand_suite, load_suite

    suite = tmp_path / "s.yaml"
    suite.write_text("name: t\nmethods: [lambda_darts]\nspaces: [s3, darts, nb201]\ndatasets: [cifar10]\nseeds: [0]\n")
    runs = {r.space: r for r in expand_suite(load_suite(suite), suite)}
    for space in ("s3", "darts"):
        assert runs[space].train.batch_size == 96 and runs[space].data.valid_sampling == "permutation"
        assert runs[space].train.arch_lr == 3e-4 and runs[space].method_args["regulariser"] == "corr"
    assert runs["nb201"].train.batch_size == 64 and runs["nb201"].data.valid_sampling == "nb201_random"
    suite.write_text(suite.read_text() + "data: {valid_sampling: darts_fresh_batch}\ntrain: {batch_size: 64}\n")
    runs = {r.space: r for r in expand_suite(load_suite(suite), suite)}
    assert (runs["s3"].train.batch_size, runs["s3"].data.valid_sampling) == (64, "darts_fresh_batch")
