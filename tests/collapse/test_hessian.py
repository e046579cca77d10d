"""The eigenvalue metric: exact = an independent dense Hessian, fast = exact within tolerance, no side effects."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from collapse_support import run_config, tiny_batch, tiny_net
from torch.func import functional_call

from nasbench_harness.data import Dataset, PairedBatches, search_split
from nasbench_harness.methods.darts import Darts
from nasbench_harness.metrics import EpochState, hessian
from nasbench_harness.metrics.hessian import (
    EigenResult,
    alpha_hessian,
    dominant_eigenvalue,
    eigenvalue,
    lanczos_max_eigenvalue,
)

WD = 1e-3
_EXACT: dict[str, torch.Tensor] = {}


def exact_hessian(space: str) -> torch.Tensor:
    """Computed once per space: the row-by-row Hessian is the slow part of these tests."""
    if space not in _EXACT:
        _EXACT[space] = alpha_hessian(tiny_net(space), tiny_batch(), arch_weight_decay=WD)
    return _EXACT[space]


def reference_hessian(space: str) -> torch.Tensor:
    """torch.autograd.functional.hessian of L(α) + wd/2·|α|² as a function of the concatenated α."""
    net = tiny_net(space)
    x, y = tiny_batch()
    names = list(net.alphas)
    shapes = [net.alphas[n].shape for n in names]
    net.train()

    def loss(flat: torch.Tensor) -> torch.Tensor:
        parts = torch.split(flat, [s.numel() for s in shapes])
        alphas = {f"alphas.{n}": p.view(s) for n, p, s in zip(names, parts, shapes)}
        logits = functional_call(net, alphas, (x,))
        return torch.nn.functional.cross_entropy(logits, y) + 0.5 * WD * flat.pow(2).sum()

    flat = torch.cat([a.detach().reshape(-1) for a in net.arch_parameters()])
    return torch.autograd.functional.hessian(loss, flat, vectorize=True)


# s3 (two cell types, 84 entries) takes half a minute on two cores: -m slow; nb201 in the default run
@pytest.mark.parametrize("space", ["nb201", pytest.param("s3", marks=pytest.mark.slow)])
def test_exact_matches_an_independent_dense_hessian(space):
    exact, reference = exact_hessian(space), reference_hessian(space)
    entries = {"nb201": 6 * 5, "s3": 2 * 14 * 3}[space]  # edges x ops (x 2 cell types on the DARTS family)
    assert exact.shape == (entries, entries)
    assert torch.allclose(exact, reference, rtol=1e-9, atol=1e-12)
    value = dominant_eigenvalue(tiny_net(space), tiny_batch(), "exact", arch_weight_decay=WD).value
    assert value == pytest.approx(torch.linalg.eigvalsh(reference)[-1].item(), rel=1e-10)


def test_the_tiny_spectra_are_negative_dominant():
    """α ~ N(0, 1) gives eigenvalues larger in magnitude below zero: the largest algebraic one is wanted."""
    spectrum = torch.linalg.eigvalsh(exact_hessian("nb201"))
    assert spectrum[0].abs() > spectrum[-1] > 0


@pytest.mark.parametrize("space", ["nb201", "s2", "s3", pytest.param("darts", marks=pytest.mark.slow)])
def test_fast_agrees_with_exact_within_its_tolerance(space):
    tol = 1e-3
    exact = torch.linalg.eigvalsh(exact_hessian(space))[-1].item()
    fast = dominant_eigenvalue(tiny_net(space), tiny_batch(), "fast", arch_weight_decay=WD, tol=tol)
    assert fast.converged and fast.products < exact_hessian(space).shape[0]
    assert fast.value == pytest.approx(exact, rel=tol)


def test_lanczos_returns_the_largest_algebraic_eigenvalue():
    """Eigenvalues -10, -3, 0.1, 0.5, 2 and a bulk near 0: power iteration would answer -10."""
    gen = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(40, 40, generator=gen, dtype=torch.float64))
    spectrum = torch.cat([torch.tensor([-10.0, -3.0, 0.1, 0.5, 2.0]), 1e-3 * torch.randn(35, generator=gen)])
    matrix = q @ torch.diag(spectrum.double()) @ q.T
    value, products, converged = lanczos_max_eigenvalue(lambda v: matrix @ v, 40, tol=1e-12, generator=gen)
    assert converged and value == pytest.approx(2.0, rel=1e-9)


@pytest.mark.parametrize(("space", "mode"), [("s3", "fast"), ("nb201", "exact")])
def test_a_measurement_leaves_no_trace(space, mode):
    net = tiny_net(space)
    net.drop_path_prob = 0.3  # DARTS family: drop-path draws random numbers in train mode
    net.eval()
    buffers = {k: b.clone() for k, b in net.named_buffers()}
    rng = torch.get_rng_state()
    dominant_eigenvalue(net, tiny_batch(), mode)
    assert all(not m.training for m in net.modules())
    assert all(torch.equal(b, buffers[k]) for k, b in net.named_buffers())
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(p.grad is None for p in net.parameters())


def test_loss_independent_of_alpha_gives_the_weight_decay():
    """Fixed one-hot mixing (random_ws): the Hessian is wd·I, not an error."""
    net = tiny_net("nb201")
    one_hot = {"cell": torch.eye(5, dtype=torch.float64)[[1, 2, 3, 4, 0, 1]]}
    for mode in ("exact", "fast"):
        assert dominant_eigenvalue(net, tiny_batch(), mode, mixing=lambda: one_hot, arch_weight_decay=WD).value == (
            pytest.approx(WD)
        )


def _state(epoch: int, epochs: int, mode: str, every: int = 2) -> EpochState:
    config = run_config("darts", metrics={"eigenvalue": mode, "eigenvalue_every": every}, train={"epochs": epochs})
    net = tiny_net("nb201", alpha_scale=None)
    return EpochState(
        config,
        Darts(net, config, torch.device("cpu")),
        epoch,
        epoch == epochs - 1,
        net.genotype(),
        tiny_batch(),
        Path("."),
        {},
    )


def test_metric_follows_the_robustdarts_schedule(monkeypatch):
    """epoch % every == 0 and the last epoch (RobustDARTS train_search.py), None elsewhere."""
    state = _state(0, 4, "exact")
    row = eigenvalue(state)
    expected = dominant_eigenvalue(state.method.net, tiny_batch(), "exact", arch_weight_decay=1e-3).value
    assert row["eigenvalue"] == pytest.approx(expected, rel=1e-12)
    assert state.provenance["eigenvalue"]["mode"] == "exact"
    assert "+ arch_weight_decay = 0.001" in state.provenance["eigenvalue"]["diagonal"]
    off = _state(0, 4, "off")
    assert eigenvalue(off)["eigenvalue"] is None and off.provenance["eigenvalue"] == {"mode": "off"}

    monkeypatch.setattr(hessian, "dominant_eigenvalue", lambda *a, **k: EigenResult(1.0, "fast", 1, True, 0.0))
    computed = [e for e in range(7) if eigenvalue(_state(e, 7, "fast", every=3))["eigenvalue"] is not None]
    assert computed == [0, 3, 6]
    computed = [e for e in range(6) if eigenvalue(_state(e, 6, "fast", every=4))["eigenvalue"] is not None]
    assert computed == [0, 4, 5]


def test_several_batches_are_the_epochs_last_alpha_batches(monkeypatch):
    """eigenvalue_batches = 2: the epoch's last two α batches, regenerated from the run's batches."""
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (64, 3, 8, 8), generator=gen, dtype=torch.uint8)
    labels = torch.randint(0, 10, (64,), generator=gen)
    ds = Dataset("synthetic", images, labels, images[:0], labels[:0], 10, (0.5,) * 3, (0.25,) * 3, 1, 8, [])
    batches = PairedBatches(ds, search_split(64, "half", 0), batch_size=8)
    state = _state(3, 6, "exact")
    state.config = run_config("darts", metrics={"eigenvalue": "exact", "eigenvalue_every": 1, "eigenvalue_batches": 2})
    state.method.batches = batches
    seen = []

    def recording(net, batch, mode, **kwargs):
        seen.append(batch)
        return EigenResult(1.0, mode, 1, True, 0.0)

    monkeypatch.setattr(hessian, "dominant_eigenvalue", recording)
    eigenvalue(state)
    last_two = [valid for _, valid in list(batches.epoch(3))[-2:]]
    assert len(seen) == 1 and len(seen[0]) == 2
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(seen[0], last_two))
