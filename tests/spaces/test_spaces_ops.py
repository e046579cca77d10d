"""Every op of both libraries: output shapes at stride 1 and 2, BN settings, the fused BN helper."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nasbench_harness.spaces.fused import batch_norm
from nasbench_harness.spaces.nb201_ops import NB201_OPS, ResNetBasicBlock, build_nb201_op
from nasbench_harness.spaces.ops import DARTS_OPS, build_darts_op

X = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("name", sorted(DARTS_OPS))
def test_darts_op_shapes(name, stride):
    op = build_darts_op(name, 4, stride)
    out = op(X)
    assert out.shape == (2, 4, 8 // stride, 8 // stride)
    for module in op.modules():
        if isinstance(module, nn.BatchNorm2d):
            assert not module.affine and module.track_running_stats  # search-time BN
        if isinstance(module, nn.Conv2d):
            assert module.bias is None
    if name == "none":
        assert not out.any()
    if name == "skip_connect" and stride == 1:
        assert out is X


@pytest.mark.parametrize("name", sorted(NB201_OPS))
@pytest.mark.parametrize("affine", [False, True])
def test_nb201_op_shapes(name, affine):
    op = build_nb201_op(name, 4, 4, 1, affine, track_running_stats=False)
    assert op(X).shape == X.shape
    for module in op.modules():
        if isinstance(module, nn.Conv2d):  # xautodl: a conv has a bias exactly when its BN is not affine
            assert (module.bias is not None) == (not affine)
        if isinstance(module, nn.BatchNorm2d):
            assert module.affine == affine and not module.track_running_stats


def test_nb201_resnet_block_at_stride_2():
    block = ResNetBasicBlock(4, 8, 2)
    assert block(X).shape == (2, 8, 4, 4)
    assert isinstance(block.downsample[0], nn.AvgPool2d) and block.downsample[1].bias is None


def test_noise_ignores_input_and_is_layout_independent():
    op = build_darts_op("noise", 4, 2)
    torch.manual_seed(0)
    a = op(X)
    torch.manual_seed(0)
    b = op(X.contiguous(memory_format=torch.channels_last) * 5)
    assert a.shape == (2, 4, 4, 4)
    torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("track", [False, True])
@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("training", [True, False])
def test_fused_batch_norm_matches_modules(affine, track, momentum, training):
    """One BN over concatenated channels = each module's own BN, buffers included."""

    def make() -> list[nn.BatchNorm2d]:
        return [nn.BatchNorm2d(4, affine=affine, track_running_stats=track, momentum=momentum) for _ in range(3)]

    modules, fused_modules = make(), make()
    generator = torch.Generator().manual_seed(1)
    for a, b in zip(modules, fused_modules):
        for tensor_a, tensor_b in zip([*a.parameters(), *a.buffers()], [*b.parameters(), *b.buffers()]):
            with torch.no_grad():
                if tensor_a.is_floating_point():
                    tensor_a.copy_(torch.rand(tensor_a.shape, generator=generator) + 0.5)
                tensor_b.copy_(tensor_a)
        a.train(training)
        b.train(training)
    x = torch.randn(5, 12, 3, 3, generator=generator)
    for _ in range(2):  # the second call sees updated running statistics and num_batches_tracked
        expected = torch.cat([m(part) for m, part in zip(modules, x.split(4, dim=1))], dim=1)
        torch.testing.assert_close(batch_norm(fused_modules, x), expected)
    for a, b in zip(modules, fused_modules):
        for key, value in a.state_dict().items():
            torch.testing.assert_close(b.state_dict()[key], value)


def test_cancelled_shift_gets_zero_gradient():
    """A conv bias before a batch-statistics BN: left out of the input, same output, gradient 0."""
    bns = [nn.BatchNorm2d(4, affine=False, track_running_stats=False) for _ in range(2)]
    x = torch.randn(5, 8, 3, 3, dtype=torch.float64, requires_grad=True)
    shift = torch.randn(8, dtype=torch.float64, requires_grad=True)
    expected = torch.cat([bn(part) for bn, part in zip(bns, (x + shift[:, None, None]).split(4, dim=1))], dim=1)
    out = batch_norm(bns, x, cancelled=shift)
    torch.testing.assert_close(out, expected)
    (grad_ref,) = torch.autograd.grad((expected**3).sum(), shift)
    (grad,) = torch.autograd.grad((out**3).sum(), shift)
    torch.testing.assert_close(grad, grad_ref, atol=1e-12, rtol=0)
    assert not grad.any()
