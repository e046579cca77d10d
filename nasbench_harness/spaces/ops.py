"""The DARTS-family op library, layer for layer as in DARTS / RobustDARTS `operations.py`.

Search-time ops are built with `affine=False` BatchNorms; convolutions never carry a bias. A pool
inside a mixed edge is followed by a non-affine BatchNorm (RobustDARTS `MixedOp`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool = True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class DilConv(nn.Sequential):
    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int,
        stride: int,
        padding: int,
        dilation: int,
        affine: bool = True,
    ):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride=stride, padding=padding, dilation=dilation, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, padding=0, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class SepConv(nn.Sequential):
    """Two stacked (ReLU, depthwise, pointwise, BN) blocks; only the first one strides."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool = True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride=stride, padding=padding, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_in, 1, padding=0, bias=False),
            nn.BatchNorm2d(c_in, affine=affine),
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride=1, padding=padding, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, padding=0, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class Identity(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x


class Zero(nn.Module):
    """The `none` op: zeros of the (strided) output shape."""

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class Noise(nn.Module):
    """RobustDARTS S4's `noise` op: fresh N(0, 1) noise of the output's shape; the input is ignored."""

    def __init__(self, stride: int, mean: float = 0.0, std: float = 1.0):
        super().__init__()
        self.stride, self.mean, self.std = stride, mean, std

    def forward(self, x: Tensor) -> Tensor:
        shape = x[:, :, :: self.stride, :: self.stride].shape
        # Drawn in the standard layout whatever x's memory format, so a seed gives the same noise
        # on the channels-last fast path as on the op-by-op path.
        noise = torch.empty(shape, dtype=x.dtype, device=x.device).normal_(self.mean, self.std)
        return noise.contiguous(memory_format=torch.channels_last) if _channels_last(x) else noise


def _channels_last(x: Tensor) -> bool:
    return x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


class FactorizedReduce(nn.Module):
    """Stride-2 reduction by two offset 1x1 convolutions, concatenated."""

    def __init__(self, c_in: int, c_out: int, affine: bool = True):
        super().__init__()
        if c_out % 2:
            raise ValueError(f"FactorizedReduce needs an even output width, got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, padding=0, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, padding=0, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: Tensor) -> Tensor:
        return self.reduce(self.relu(x))

    def reduce(self, h: Tensor) -> Tensor:
        """Everything after the ReLU (the fused path shares one ReLU between edges)."""
        return self.bn(torch.cat([self.conv_1(h), self.conv_2(h[:, :, 1:, 1:])], dim=1))


OpFactory = Callable[[int, int, bool], nn.Module]

DARTS_OPS: dict[str, OpFactory] = {
    "none": lambda c, stride, affine: Zero(stride),
    "noise": lambda c, stride, affine: Noise(stride),
    "avg_pool_3x3": lambda c, stride, affine: nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False),
    "max_pool_3x3": lambda c, stride, affine: nn.MaxPool2d(3, stride=stride, padding=1),
    "skip_connect": lambda c, stride, affine: Identity() if stride == 1 else FactorizedReduce(c, c, affine),
    "sep_conv_3x3": lambda c, stride, affine: SepConv(c, c, 3, stride, 1, affine),
    "sep_conv_5x5": lambda c, stride, affine: SepConv(c, c, 5, stride, 2, affine),
    "dil_conv_3x3": lambda c, stride, affine: DilConv(c, c, 3, stride, 2, 2, affine),
    "dil_conv_5x5": lambda c, stride, affine: DilConv(c, c, 5, stride, 4, 2, affine),
}


class PoolBN(nn.Sequential):
    """A pool followed by a non-affine BN: how a mixed edge holds its pools (RobustDARTS `MixedOp`)."""

    def __init__(self, pool: nn.Module, channels: int):
        super().__init__(pool, nn.BatchNorm2d(channels, affine=False))


def build_darts_op(name: str, channels: int, stride: int, affine: bool = False) -> nn.Module:
    """One candidate op of a mixed edge; pools get the trailing non-affine BN of the search code."""
    op = DARTS_OPS[name](channels, stride, affine)
    return PoolBN(op, channels) if "pool" in name else op
