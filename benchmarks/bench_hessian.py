"""The eigenvalue metric: `fast` (Lanczos on Hessian-vector products) against `exact` (RobustDARTS' dense
row-by-row Hessian), on the DARTS space (224 α entries) and on S2 (56), the same minibatch for both.

Run (pyproject's addopts skip benchmarks; --benchmark-only overrides that):

    NASBENCH_DATA=../shared/data python -m pytest benchmarks/bench_hessian.py --benchmark-enable --benchmark-only -s

Target: `fast` at least 10x faster than `exact` with a relative error under 1%. The error is asserted; the
speed-up is printed and stored in `extra_info`, never asserted (it depends on the machine). Measured: met
on DARTS; S2 reaches about 5x: 56 α entries make exact cost 56 backward passes while Lanczos needs about
10 products at tol 1e-3 (looser tolerances stop on plateaus, up to 5% off). The supernet size is
`NASBENCH_BENCH_HESSIAN="channels,layers,batch"`; the default 8,5,16 keeps the exact Hessian to minutes
on one CPU core (the search network, 16,8,64, needs a GPU: one exact row is a full double backward).
The batch holds the first CIFAR-10 training images when the data directory has them, else random images;
weights and α are at their initialisation (what epoch 0 of a search measures), float32, train mode.
"""

from __future__ import annotations

import os
import time

import pytest
import torch

from nasbench_harness.data import load_dataset
from nasbench_harness.errors import HarnessError
from nasbench_harness.metrics.hessian import dominant_eigenvalue
from nasbench_harness.spaces import get_space

TARGET_SPEEDUP = 10.0
MAX_RELATIVE_ERROR = 1e-2
ARCH_WEIGHT_DECAY = 1e-3
TOL = 1e-3  # MetricsConfig.eigenvalue_tol's default

# One thread: stable numbers on a shared machine; both modes run the same kernels.
torch.set_num_threads(1)


def _size() -> tuple[int, int, int]:
    channels, layers, batch = (int(v) for v in os.environ.get("NASBENCH_BENCH_HESSIAN", "8,5,16").split(","))
    return channels, layers, batch


def _batch(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        ds = load_dataset("cifar10", None, download=False, limit_train=size, limit_test=1)
    except HarnessError:
        gen = torch.Generator().manual_seed(0)
        return torch.randn(size, 3, 32, 32, generator=gen), torch.randint(0, 10, (size,), generator=gen)
    mean, std = torch.tensor(ds.mean).view(1, 3, 1, 1), torch.tensor(ds.std).view(1, 3, 1, 1)
    return (ds.train_images.float() / 255 - mean) / std, ds.train_labels


@pytest.mark.parametrize("space", ["darts", "s2"])
def test_fast_against_exact(benchmark, space: str) -> None:
    channels, layers, batch_size = _size()
    torch.manual_seed(0)
    net = get_space(space).build_supernet(num_classes=10, channels=channels, layers=layers)
    batch = _batch(batch_size)
    start = time.perf_counter()
    exact = dominant_eigenvalue(net, batch, "exact", arch_weight_decay=ARCH_WEIGHT_DECAY)
    exact_seconds = time.perf_counter() - start

    fast = benchmark.pedantic(
        dominant_eigenvalue,
        args=(net, batch, "fast"),
        kwargs={"arch_weight_decay": ARCH_WEIGHT_DECAY, "tol": TOL},
        rounds=3,
        iterations=1,
    )
    speedup = exact_seconds / benchmark.stats.stats.min
    error = abs(fast.value - exact.value) / abs(exact.value)
    benchmark.extra_info.update(
        size=f"C={channels}, layers={layers}, batch={batch_size}",
        alpha_entries=exact.products,
        exact_seconds=round(exact_seconds, 2),
        exact_value=exact.value,
        fast_value=fast.value,
        fast_products=fast.products,
        relative_error=error,
        speedup=round(speedup, 1),
        target_speedup=TARGET_SPEEDUP,
    )
    print(
        f"\n{space} (C={channels}, {layers} layers, batch {batch_size}, {exact.products} α entries): exact "
        f"{exact_seconds:.1f}s ({exact.value:.6g}), fast {benchmark.stats.stats.min:.1f}s with {fast.products} "
        f"products ({fast.value:.6g}): {speedup:.1f}x, relative error {error:.1e}"
    )
    assert error < MAX_RELATIVE_ERROR  # accuracy is machine-independent; the speed-up is only reported
