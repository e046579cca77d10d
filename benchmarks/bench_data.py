"""Augmented images per second on CPU: the batched search pipeline vs a per-sample DataLoader pipeline.

Run (pyproject's addopts skip benchmarks; --benchmark-only overrides that):

    python -m pytest benchmarks/bench_data.py --benchmark-only -p no:cacheprovider

Both pipelines do the same DARTS train transform on 32x32 images — zero-padded random crop (4), horizontal
flip, normalisation, cutout 16 with probability 1 — at batch size 64. The baseline is what a
torchvision-style pipeline does, written with torch ops on tensors (faster than torchvision's PIL path):
a Dataset whose __getitem__ transforms one image, and a DataLoader with num_workers=0. Images are
synthetic (4,096 random CIFAR-sized images): the work does not depend on the pixels.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from nasbench_harness.data import Dataset, PairedBatches, get_spec, search_split

NUM_IMAGES = 4096
BATCH = 64
PADDING = 4
CUTOUT = 16
TARGET_SPEEDUP = 5.0

# One thread for both pipelines: stable numbers on a shared machine, and the per-sample baseline cannot
# use more anyway. The batched pipeline only gains from more threads.
torch.set_num_threads(1)


def _dataset() -> Dataset:
    spec = get_spec("cifar10")
    images = torch.randint(0, 256, (NUM_IMAGES, 3, 32, 32), generator=torch.Generator().manual_seed(0)).byte()
    labels = torch.randint(0, 10, (NUM_IMAGES,), generator=torch.Generator().manual_seed(1))
    return Dataset(
        "synthetic-cifar10", images, labels, images[:0], labels[:0], 10, spec.mean, spec.std, PADDING, 32, []
    )


class PerSampleAugment(TorchDataset):
    """RandomCrop(32, padding=4) → RandomHorizontalFlip → ToTensor → Normalize → Cutout(16), one image a call."""

    def __init__(self, ds: Dataset) -> None:
        self.images, self.labels = ds.train_images, ds.train_labels
        self.mean = torch.tensor(ds.mean).view(3, 1, 1)
        self.std = torch.tensor(ds.std).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        img = F.pad(self.images[i], (PADDING,) * 4)
        top, left = (int(v) for v in torch.randint(0, 2 * PADDING + 1, (2,)))
        img = img[:, top : top + 32, left : left + 32]
        if torch.rand(()) < 0.5:
            img = img.flip(-1)
        x = (img.float() / 255 - self.mean) / self.std
        cy, cx = (int(v) for v in torch.randint(0, 32, (2,)))
        mask = torch.ones(32, 32)
        mask[max(cy - CUTOUT // 2, 0) : cy + CUTOUT // 2, max(cx - CUTOUT // 2, 0) : cx + CUTOUT // 2] = 0
        return x * mask, self.labels[i]


def per_sample_epoch(loader: DataLoader) -> int:
    return sum(len(y) for _, y in loader)


def batched_epoch(batches: PairedBatches) -> int:
    """Images produced in one epoch: both streams (weight and architecture batches) count."""
    return sum(len(y) + len(yv) for (_, y), (_, yv) in batches.epoch(0))


def _per_sample_loader() -> DataLoader:
    return DataLoader(PerSampleAugment(_dataset()), batch_size=BATCH, shuffle=True, drop_last=True, num_workers=0)


def _batched() -> PairedBatches:
    return PairedBatches(
        _dataset(), search_split(NUM_IMAGES, "full", 0), batch_size=BATCH, cutout_length=CUTOUT, cutout_prob=1.0
    )


def _best_rate(fn, arg, repeats: int) -> float:
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        images = fn(arg)
        rates.append(images / (time.perf_counter() - start))
    return max(rates)


def test_batched_pipeline(benchmark) -> None:
    batches = _batched()
    images = benchmark.pedantic(batched_epoch, args=(batches,), rounds=5, warmup_rounds=1)
    benchmark.extra_info["images_per_s"] = round(images / benchmark.stats.stats.min)


def test_per_sample_pipeline(benchmark) -> None:
    loader = _per_sample_loader()
    images = benchmark.pedantic(per_sample_epoch, args=(loader,), rounds=3, warmup_rounds=1)
    benchmark.extra_info["images_per_s"] = round(images / benchmark.stats.stats.min)


def test_speedup(benchmark) -> None:
    """Images per second of the batched pipeline over the per-sample one (target TARGET_SPEEDUP, reported)."""
    per_sample = _best_rate(per_sample_epoch, _per_sample_loader(), repeats=2)
    batches = _batched()
    images = benchmark.pedantic(batched_epoch, args=(batches,), rounds=5, warmup_rounds=1)
    batched = images / benchmark.stats.stats.min
    ratio = batched / per_sample
    benchmark.extra_info.update(
        batched_images_per_s=round(batched), per_sample_images_per_s=round(per_sample), speedup=round(ratio, 1)
    )
    print(
        f"\nbatched {batched:,.0f} img/s, per-sample {per_sample:,.0f} img/s, speedup {ratio:.1f}x "
        f"(target {TARGET_SPEEDUP:g}x)"
    )
