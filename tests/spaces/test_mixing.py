"""Sampled mixing: only the chosen ops run, no host synchronisation, the same values and gradients as the
per-edge `.nonzero().tolist()` form it replaces."""

from __future__ import annotations

import pytest
import torch
from conftest import tiny_batch
from torch import Tensor
from torch.nn import functional as F

from nasbench_harness.methods.gdas import draw_subgraphs
from nasbench_harness.mixing import MixedEdge, Mixer, PartialChannels, SampledSum, SampledWeights, WeightedSum


class NonzeroSampledSum(Mixer):
    """The form before: asks the device which weights are non-zero, on every edge of every forward."""

    def __call__(self, x: Tensor, edge: MixedEdge, weights: Tensor) -> Tensor:
        chosen = (weights.detach() != 0).nonzero().flatten().tolist()
        out: Tensor = edge.output_like(x)
        for i in chosen:
            if i not in edge.zero_ops:
                out = out + weights[i] * edge.ops[i](x)
        unchosen = [i for i in range(len(edge.ops)) if i not in chosen]
        if unchosen:
            out = out + weights[unchosen].sum()
        return out


def straight_through(space, seed: int = 0) -> tuple[dict[str, Tensor], dict[str, Tensor], dict[str, list[list[int]]]]:
    """α, GDAS straight-through one-hot weights of a random op per edge, and those ops per edge (host)."""
    g = torch.Generator().manual_seed(seed)
    alphas, hard, chosen = {}, {}, {}
    for t, shape in space.alpha_shapes().items():
        alphas[t] = torch.randn(shape, generator=g).requires_grad_()
        index = torch.randint(shape[1], (shape[0],), generator=g)
        probs = alphas[t].softmax(-1)
        hard[t] = F.one_hot(index, shape[1]).float() - probs.detach() + probs
        chosen[t] = [[int(i)] for i in index]
    return alphas, hard, chosen


def sampled(hard, chosen) -> dict[str, SampledWeights]:
    return {t: SampledWeights(hard[t], chosen[t]) for t in hard}


def count_op_calls(net) -> dict[tuple[int, int], int]:
    """(edge module number, op index) → forward calls, via hooks."""
    calls: dict[tuple[int, int], int] = {}
    edges = [m for m in net.modules() if isinstance(m, MixedEdge)]
    for e, edge in enumerate(edges):
        for i, op in enumerate(edge.ops):
            calls[(e, i)] = 0
            op.register_forward_hook(lambda *_, key=(e, i): calls.__setitem__(key, calls[key] + 1))
    return calls


def forbid_host_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on, any call that reads a tensor's values on the host fails the test."""

    def forbid(name):
        def fail(*args, **kwargs):
            raise AssertionError(f"host synchronisation: Tensor.{name} called during a sampled forward")

        return fail

    for name in ("tolist", "item", "nonzero", "__bool__", "__int__", "__float__", "__index__", "numpy"):
        monkeypatch.setattr(Tensor, name, forbid(name))


def test_sampled_forward_and_backward_ask_the_device_nothing(space, build_tiny, monkeypatch):
    torch.manual_seed(0)
    net = build_tiny(space, mixer=SampledSum())
    alphas, hard, chosen = straight_through(space)
    weights, x = sampled(hard, chosen), tiny_batch()
    forbid_host_reads(monkeypatch)
    loss = net(x, weights).sum()
    loss.backward()
    monkeypatch.undo()
    assert all(a.grad is not None for a in alphas.values())


def test_one_transfer_per_draw_of_every_cell_type(space, monkeypatch):
    alphas = {t: torch.randn(s) for t, s in space.alpha_shapes().items()}
    calls = []
    original = Tensor.tolist
    monkeypatch.setattr(Tensor, "tolist", lambda self: calls.append(1) or original(self))
    for name in ("item", "nonzero"):
        monkeypatch.setattr(Tensor, name, lambda *a, n=name: pytest.fail(f"Tensor.{n} in draw_subgraphs"))
    draws = draw_subgraphs(alphas, 1.0, 1, 2)
    assert len(calls) == 1 and len(draws) == 2


def test_sampled_form_equals_the_nonzero_form(space, build_tiny):
    torch.manual_seed(0)
    net = build_tiny(space, mixer=SampledSum())
    old = build_tiny(space, mixer=NonzeroSampledSum())
    old.load_state_dict(net.state_dict())
    x = tiny_batch()
    results = []
    for model, as_sampled in ((net, True), (old, False)):
        alphas, hard, chosen = straight_through(space)
        torch.manual_seed(1)  # the same draw of S4's noise op
        out = model(x, sampled(hard, chosen) if as_sampled else hard)
        grads = torch.autograd.grad(out.square().sum(), list(alphas.values()))
        results.append((out, grads))
    torch.testing.assert_close(results[0][0], results[1][0], rtol=0, atol=0)
    for new_grad, old_grad in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(new_grad, old_grad, rtol=0, atol=0)


@pytest.mark.parametrize("mixer", [SampledSum(), PartialChannels(2, inner=SampledSum())], ids=["sampled", "pc"])
def test_only_the_chosen_ops_run(space, build_tiny, mixer):
    torch.manual_seed(0)
    net = build_tiny(space, mixer=mixer)
    calls = count_op_calls(net)
    _, hard, chosen = straight_through(space)
    assert torch.isfinite(net(tiny_batch(), sampled(hard, chosen))).all()
    edges = [m for m in net.modules() if isinstance(m, MixedEdge)]
    per_cell = [chosen[t] for t in net.searched_cell_types]
    # Edges in module order: cell by cell, α row order within a cell.
    expected, e = {}, 0
    for cell_chosen in per_cell:
        for row in cell_chosen:
            for i in range(len(edges[e].ops)):
                expected[(e, i)] = int(i in row and i not in edges[e].zero_ops)
            e += 1
    assert calls == expected


def test_a_plain_row_gets_the_dense_weighted_sum(space, build_tiny):
    torch.manual_seed(0)
    net = build_tiny(space, mixer=SampledSum(), fused=False)
    dense = build_tiny(space, mixer=WeightedSum(), fused=False)
    dense.load_state_dict(net.state_dict())
    weights = {t: torch.rand(s) for t, s in space.alpha_shapes().items()}
    x = tiny_batch()
    torch.manual_seed(1)
    got = net(x, weights)
    torch.manual_seed(1)
    torch.testing.assert_close(got, dense(x, weights))


def test_sampled_weights_check_their_shape():
    with pytest.raises(ValueError, match="one index list per edge"):
        SampledWeights(torch.zeros(3, 4), [[0], [1]])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_no_synchronisation_on_cuda(space, build_tiny):
    torch.manual_seed(0)
    net = build_tiny(space, mixer=SampledSum()).cuda()
    alphas = {t: torch.randn(s, device="cuda", requires_grad=True) for t, s in space.alpha_shapes().items()}
    x = tiny_batch().cuda()
    draw = draw_subgraphs(alphas, 1.0, 1, 1)[0]  # the one transfer of a step
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        net(x, draw.subgraph(0, True)).sum().backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")
