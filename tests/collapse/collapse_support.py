"""Tiny float64 supernets and run configurations shared by the collapse tests (imported by name)."""

from __future__ import annotations

from typing import Any

import torch

from nasbench_harness.config import DataConfig, MetricsConfig, RunConfig, TrainConfig
from nasbench_harness.mixing import Mixer
from nasbench_harness.spaces import Supernet, get_space
from nasbench_harness.testing import TINY_NETWORK


def tiny_net(space: str, seed: int = 0, alpha_scale: float | None = 1.0, mixer: Mixer | None = None) -> Supernet:
    """A float64 supernet; α drawn at `alpha_scale` (a non-trivial spectrum) or left at its init (None)."""
    torch.manual_seed(seed)
    net = get_space(space).build_supernet(num_classes=10, mixer=mixer, **TINY_NETWORK[space]).double()
    if alpha_scale is not None:
        with torch.no_grad():
            for alpha in net.arch_parameters():
                alpha.normal_(0.0, alpha_scale)
    return net


def tiny_batch(seed: int = 0, n: int = 4, size: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=gen, dtype=torch.float64), torch.randint(0, 10, (n,), generator=gen)


def run_config(method: str, space: str = "nb201", **sections: Any) -> RunConfig:
    """A tiny run on the real CIFAR-10 sample: 32 weight images, batch 8 (4 steps per epoch)."""
    return RunConfig(
        method=method,
        space=space,
        dataset="cifar10",
        seed=sections.pop("seed", 0),
        train=TrainConfig(**{"epochs": 2, "batch_size": 8, **sections.pop("train", {})}),
        data=DataConfig(**{"limit_train": 64, "limit_test": 32, "eval_batch_size": 32, **sections.pop("data", {})}),
        metrics=MetricsConfig(**{"eigenvalue": "fast", "ground_truth": False, **sections.pop("metrics", {})}),
        network=sections.pop("network", TINY_NETWORK[space]),
        method_args=sections.pop("method_args", {}),
    )
