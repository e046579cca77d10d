"""The NAS-Bench-201 op library, as in the benchmark authors' `cell_operations.py`.

Differences from the DARTS library that change parameter counts and results: `nor_conv` is
ReLU-Conv-BN whose convolution has a bias exactly when the BN is not affine, pools carry no BN, and
`track_running_stats` is a constructor argument (a recorded search setting).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn


class NorConv(nn.Sequential):
    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int,
        stride: int,
        padding: int,
        affine: bool,
        track_running_stats: bool,
    ):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=not affine),
            nn.BatchNorm2d(c_out, affine=affine, track_running_stats=track_running_stats),
        )


class Pooling(nn.Module):
    """avg_pool_3x3; a 1x1 ReLU-Conv-BN first only where the width changes (never inside a cell)."""

    def __init__(self, c_in: int, c_out: int, stride: int, affine: bool, track_running_stats: bool):
        super().__init__()
        self.preprocess = None if c_in == c_out else NorConv(c_in, c_out, 1, 1, 0, affine, track_running_stats)
        self.pool = nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(x if self.preprocess is None else self.preprocess(x))


class Zero(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.c_out, self.stride = c_out, stride
        self.same_width = c_in == c_out

    def forward(self, x: Tensor) -> Tensor:
        if self.same_width:
            return x.mul(0.0) if self.stride == 1 else x[:, :, :: self.stride, :: self.stride].mul(0.0)
        shape = list(x.shape)
        shape[1] = self.c_out
        return x.new_zeros(shape)


class Identity(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x


class FactorizedReduce(nn.Module):
    def __init__(self, c_in: int, c_out: int, affine: bool, track_running_stats: bool):
        super().__init__()
        half = c_out // 2
        self.relu = nn.ReLU(inplace=False)
        self.convs = nn.ModuleList(
            [
                nn.Conv2d(c_in, half, 1, stride=2, bias=not affine),
                nn.Conv2d(c_in, c_out - half, 1, stride=2, bias=not affine),
            ]
        )
        self.pad = nn.ConstantPad2d((0, 1, 0, 1), 0)
        self.bn = nn.BatchNorm2d(c_out, affine=affine, track_running_stats=track_running_stats)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(x)
        y = self.pad(x)
        return self.bn(torch.cat([self.convs[0](x), self.convs[1](y[:, :, 1:, 1:])], dim=1))


class ResNetBasicBlock(nn.Module):
    """The stride-2 block between NAS-Bench-201 stages; shortcut = 2x2 avg-pool then 1x1 conv."""

    def __init__(self, c_in: int, c_out: int, stride: int, affine: bool = True, track_running_stats: bool = True):
        super().__init__()
        self.conv_a = NorConv(c_in, c_out, 3, stride, 1, affine, track_running_stats)
        self.conv_b = NorConv(c_out, c_out, 3, 1, 1, affine, track_running_stats)
        if stride == 2:
            self.downsample: nn.Module | None = nn.Sequential(
                nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
                nn.Conv2d(c_in, c_out, 1, stride=1, padding=0, bias=False),
            )
        elif c_in != c_out:
            self.downsample = NorConv(c_in, c_out, 1, 1, 0, affine, track_running_stats)
        else:
            self.downsample = None

    def forward(self, x: Tensor) -> Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        return residual + self.conv_b(self.conv_a(x))


NB201OpFactory = Callable[[int, int, int, bool, bool], nn.Module]

NB201_OPS: dict[str, NB201OpFactory] = {
    "none": lambda ci, co, s, a, t: Zero(ci, co, s),
    "skip_connect": lambda ci, co, s, a, t: Identity() if s == 1 and ci == co else FactorizedReduce(ci, co, a, t),
    "nor_conv_1x1": lambda ci, co, s, a, t: NorConv(ci, co, 1, s, 0, a, t),
    "nor_conv_3x3": lambda ci, co, s, a, t: NorConv(ci, co, 3, s, 1, a, t),
    "avg_pool_3x3": lambda ci, co, s, a, t: Pooling(ci, co, s, a, t),
}


def build_nb201_op(name: str, c_in: int, c_out: int, stride: int, affine: bool, track_running_stats: bool) -> nn.Module:
    return NB201_OPS[name](c_in, c_out, stride, affine, track_running_stats)
