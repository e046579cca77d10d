"""Every registered space: α shapes, forward/backward, and the fast path equal to the op-by-op path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from nasbench_harness.errors import SpaceError
from nasbench_harness.mixing import Mixer, PartialChannels, SampledSum, WeightedSum
from nasbench_harness.spaces import get_space
from nasbench_harness.spaces.fused import FusedCell

#: The shapes the papers give (reference.md §1); a new space only gets the generic checks.
EXPECTED_SHAPES = {
    "darts": {"normal": (14, 8), "reduce": (14, 8)},
    "darts_nonone": {"normal": (14, 7), "reduce": (14, 7)},
    "s1": {"normal": (14, 2), "reduce": (14, 2)},
    "s2": {"normal": (14, 2), "reduce": (14, 2)},
    "s3": {"normal": (14, 3), "reduce": (14, 3)},
    "s4": {"normal": (14, 2), "reduce": (14, 2)},
    "nb201": {"cell": (6, 5)},
}


def test_known_spaces_registered():
    from nasbench_harness.spaces import list_spaces

    assert set(EXPECTED_SHAPES) <= set(list_spaces())


def test_alpha_shapes(space, build_tiny):
    shapes = space.alpha_shapes()
    if space.name in EXPECTED_SHAPES:
        assert shapes == EXPECTED_SHAPES[space.name]
    for cell_type, (rows, cols) in shapes.items():
        assert len(space.edge_ops[cell_type]) == rows
        assert all(len(names) == cols for names in space.edge_ops[cell_type])
    net = build_tiny(space)
    assert {t: tuple(a.shape) for t, a in net.alphas.items()} == shapes
    assert set(net.searched_cell_types) == set(shapes)


def test_check_alphas_names_expected_shape(space):
    good = {t: np.zeros(s) for t, s in space.alpha_shapes().items()}
    assert set(space.check_alphas(good)) == set(good)
    cell_type, (rows, cols) = next(iter(space.alpha_shapes().items()))
    bad = {**good, cell_type: np.zeros((rows, cols + 1))}
    with pytest.raises(SpaceError, match=rf"expects \({rows}, {cols}\)"):
        space.check_alphas(bad)
    with pytest.raises(SpaceError, match=f"'{cell_type}' \\({rows}, {cols}\\)"):
        space.check_alphas({t: a for t, a in good.items() if t != cell_type} | {"other": good[cell_type]})
    with pytest.raises(SpaceError, match="NaN"):
        space.check_alphas({**good, cell_type: np.full((rows, cols), np.nan)})


def test_forward_backward_all_grads_finite(space, build_tiny, batch):
    net = build_tiny(space, num_classes=7)
    x = batch()
    logits = net(x)
    assert logits.shape == (3, 7)
    F.cross_entropy(logits, torch.tensor([0, 1, 2])).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
    assert {id(p) for p in net.arch_parameters()} == {id(a) for a in net.alphas.values()}
    assert len(net.weight_parameters()) + len(net.arch_parameters()) == len(list(net.parameters()))
    assert all(a.grad.abs().sum() > 0 for a in net.arch_parameters())


def _run(net, x, weights=None, seed=1, create_graph=False):
    torch.manual_seed(seed)  # S4's noise and drop-path draw from the global generator
    out = net(x, weights)
    loss = (out**2).sum()
    params = list(net.parameters())
    grads = torch.autograd.grad(loss, params, create_graph=create_graph)
    return out, dict(zip([n for n, _ in net.named_parameters()], grads)), loss


def _pair(space, build_tiny, **kw):
    naive = build_tiny(space, fused=False, channels_last=False, **kw).double()
    fast = build_tiny(space, **kw).double()
    fast.load_state_dict(naive.state_dict())
    assert fast.describe()["fused"] and not naive.describe()["fused"]
    return naive, fast


def _assert_same(a, b):
    torch.testing.assert_close(a[0], b[0], rtol=1e-9, atol=1e-10)
    for name in a[1]:
        torch.testing.assert_close(a[1][name], b[1][name], rtol=1e-8, atol=1e-10, msg=name)


@pytest.mark.parametrize("mode", ["train", "train_drop_path", "eval"])
def test_fast_path_equals_op_by_op(space, build_tiny, batch, mode):
    naive, fast = _pair(space, build_tiny)
    x = batch(dtype=torch.float64)
    for net in (naive, fast):
        net.train(mode != "eval")
        if mode == "train_drop_path":
            if not hasattr(net, "drop_path_prob"):
                pytest.skip("no drop-path in this network family")
            net.drop_path_prob = 0.3
        _run(net, x)  # one forward moves the BN running statistics; eval then uses them
    _assert_same(_run(naive, x), _run(fast, x))
    fast_state = fast.state_dict()
    for key, value in naive.state_dict().items():
        torch.testing.assert_close(fast_state[key], value, rtol=1e-9, atol=1e-12, msg=key)


@pytest.mark.parametrize("affine, track", [(False, True), (True, False), (True, True)])
def test_nb201_fast_path_under_every_bn_setting(build_tiny, batch, affine, track):
    """Search BN settings are a recorded choice; conv biases (present when BN is not affine) included."""
    naive, fast = _pair(get_space("nb201"), build_tiny, affine=affine, track_running_stats=track)
    x = batch(dtype=torch.float64)
    for mode in ("train", "eval"):
        naive.train(mode == "train")
        fast.train(mode == "train")
        _assert_same(_run(naive, x), _run(fast, x))


def test_fast_path_per_cell_weights(space, build_tiny, batch):
    """Λ-DARTS hands one weight matrix per searched cell; gradients w.r.t. each must agree."""
    naive, fast = _pair(space, build_tiny)
    x = batch(dtype=torch.float64)
    results = []
    for net in (naive, fast):
        weights = [
            torch.softmax(net.alphas[t] + 0.1 * i, dim=-1).detach().requires_grad_()
            for i, t in enumerate(net.searched_cell_types)
        ]
        torch.manual_seed(1)
        loss = (net(x, weights) ** 2).sum()
        results.append(torch.autograd.grad(loss, weights))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-10)


def test_fast_path_double_backward(space, build_tiny, batch):
    """Second-order DARTS and the R-DARTS Hessian differentiate α gradients again."""
    naive, fast = _pair(space, build_tiny)
    x = batch(dtype=torch.float64)
    hvps = []
    for net in (naive, fast):
        alphas = net.arch_parameters()
        torch.manual_seed(1)
        loss = F.cross_entropy(net(x), torch.tensor([0, 1, 2]))
        grads = torch.autograd.grad(loss, alphas, create_graph=True)
        v = [torch.ones_like(g) for g in grads]
        hvps.append(torch.autograd.grad(grads, alphas, grad_outputs=v))
    for a, b in zip(*hvps):
        torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-10)


class _CustomMixer(Mixer):
    name = "custom"

    def __call__(self, x, edge, weights):
        return super().__call__(x, edge, weights) * 1.0


@pytest.mark.parametrize(
    "mixer", [SampledSum(), PartialChannels(2), _CustomMixer()], ids=["sampled", "partial", "custom"]
)
def test_other_mixers_fall_back_to_op_by_op(space, build_tiny, batch, mixer, monkeypatch):
    net = build_tiny(space, mixer=mixer)
    assert not net.uses_fused_path and net.describe()["fused"] is False

    def fail(*args, **kwargs):
        raise AssertionError("fast path used with a mixer it does not support")

    monkeypatch.setattr(FusedCell, "forward", fail)
    weights = None
    if isinstance(mixer, SampledSum):  # GDAS-style one-hot weights
        weights = {
            t: F.one_hot(torch.zeros(s[0], dtype=torch.long), s[1]).float() for t, s in space.alpha_shapes().items()
        }
    assert torch.isfinite(net(batch(), weights)).all()


def test_dense_mixers_take_fast_path(space, build_tiny, batch, monkeypatch):
    for mixer in (None, WeightedSum(), Mixer()):
        net = build_tiny(space, mixer=mixer)
        assert net.uses_fused_path and net.describe()["fused"] is True
    calls = []
    original = FusedCell.forward
    monkeypatch.setattr(FusedCell, "forward", lambda self, *a: calls.append(1) or original(self, *a))
    net(batch())
    assert len(calls) == len(net.searched_cell_types)


def test_describe_records_path_and_layout(space, build_tiny):
    described = build_tiny(space, fused=False, channels_last=False).describe()
    assert described["fused"] is False and described["channels_last"] is False
    assert described["layout"] == "channels_first"
    default = build_tiny(space)
    assert default.describe()["layout"] == "channels_last"  # the CPU's faster layout
    assert default.layout_for(torch.device("cuda")) == "channels_first"  # channels-last costs 20 % on CUDA
    x = torch.randn(2, 3, 8, 8)
    assert default.to_layout(x).is_contiguous(memory_format=torch.channels_last)
    assert build_tiny(space, channels_last=True).layout_for(torch.device("cuda")) == "channels_last"


def test_genotype_from_supernet(space, build_tiny):
    net = build_tiny(space)
    with torch.no_grad():
        for alpha in net.alphas.values():
            alpha.copy_(torch.randn(alpha.shape, generator=torch.Generator().manual_seed(3)))
    expected = space.derive({t: a.detach().numpy() for t, a in net.alphas.items()})
    assert net.genotype() == expected
    assert space.parse_genotype(str(expected)) == expected


def test_registry_unknown_space_suggests():
    from nasbench_harness.errors import ConfigError

    with pytest.raises(ConfigError, match="Did you mean 'nb201'"):
        get_space("nb210")
