"""The batched search pipeline: correct augmentations, and batches that depend only on (seed, epoch)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nasbench_harness.data import PairedBatches, eval_batches, search_split
from nasbench_harness.errors import ConfigError


def _denormalise(x: torch.Tensor, ds) -> torch.Tensor:
    mean = torch.tensor(ds.mean).view(1, 3, 1, 1)
    std = torch.tensor(ds.std).view(1, 3, 1, 1)
    return ((x * std + mean) * 255).round()


def _collect(batches: PairedBatches, epoch: int, start_step: int = 0) -> list[torch.Tensor]:
    return [t for pair in batches.epoch(epoch, start_step) for batch in pair for t in batch]


def test_shapes_and_length(synthetic) -> None:
    ds = synthetic(n=300)
    batches = PairedBatches(ds, search_split(300, "half", 0), batch_size=32, seed=0)
    assert len(batches) == 5  # ceil(150 / 32): the last, smaller batch is kept (DARTS: 391 steps, not 390)
    pairs = list(batches.epoch(0))
    assert len(pairs) == len(batches)
    (x, y), (xv, yv) = pairs[0]
    assert x.shape == xv.shape == (32, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.device.type == "cpu" and torch.isfinite(x).all() and x.is_contiguous() and xv.is_contiguous()
    (x, _), (xv, _) = pairs[-1]
    assert len(x) == 150 - 4 * 32 and len(xv) == 32  # DARTS' α batch stays full
    assert len(PairedBatches(ds, search_split(300, "half", 0), batch_size=32, drop_last=True)) == 150 // 32


def test_batches_come_from_their_halves_without_repeats(synthetic) -> None:
    ds = synthetic(n=200)
    split = search_split(200, "nb201", seed=1)
    batches = PairedBatches(ds, split, batch_size=16, seed=4, augment=False)
    train_seen = torch.cat([y for (_, y), _ in batches.epoch(0)]).numpy()
    valid_seen = torch.cat([yv for _, (_, yv) in batches.epoch(0)]).numpy()
    assert len(set(train_seen)) == len(train_seen) == 100 and set(train_seen) <= set(split.train_idx)
    assert set(valid_seen) <= set(split.valid_idx)
    (x, y), _ = next(iter(batches.epoch(0)))
    assert torch.equal(_denormalise(x, ds), ds.train_images[y].float())  # no augmentation: just normalised


def test_valid_stream_cycles_when_smaller(synthetic) -> None:
    ds = synthetic(n=100)
    split = search_split(100, "half", 0)
    small = type(split)(split.train_idx, split.valid_idx[:10], "half", 0)
    batches = PairedBatches(ds, small, batch_size=25, augment=False, valid_sampling="permutation")
    ys = [yv for _, (_, yv) in batches.epoch(0)]
    counts = np.bincount(torch.cat(ys).numpy(), minlength=100)[split.valid_idx[:10]]
    assert counts.sum() == 50 and counts.min() == 5  # every valid image once per lap


def _crops(padded: torch.Tensor, pad: int, size: int):
    for oy in range(2 * pad + 1):
        for ox in range(2 * pad + 1):
            crop = padded[:, oy : oy + size, ox : ox + size]
            yield (oy, ox, False), crop
            yield (oy, ox, True), crop.flip(-1)


def test_crop_and_flip_are_padded_crops(synthetic) -> None:
    ds = synthetic(n=64, pad=4)
    batches = PairedBatches(ds, search_split(64, "full", 0), batch_size=32, seed=2, cutout_length=0)
    padded = F.pad(ds.train_images, (4, 4, 4, 4)).float()
    seen = set()
    for (x, y), _ in batches.epoch(0):
        for image, label in zip(_denormalise(x, ds), y):
            matches = [choice for choice, crop in _crops(padded[label], 4, 32) if torch.equal(image, crop)]
            assert len(matches) == 1
            seen.add(matches[0])
    assert len({m[:2] for m in seen}) > 10 and {m[2] for m in seen} == {False, True}


def test_imagenet16_padding(synthetic) -> None:
    ds = synthetic(n=40, size=16, pad=2)
    (x, _), _ = next(iter(PairedBatches(ds, search_split(40, "half", 0), batch_size=20).epoch(0)))
    assert x.shape == (20, 3, 16, 16)


def test_cutout_zeroes_a_clipped_square(synthetic) -> None:
    ds = synthetic(n=128, constant=200)  # constant images: after normalisation only cutout gives zeros
    split = search_split(128, "full", 0)
    batches = PairedBatches(ds, split, batch_size=64, seed=0, cutout_length=8, cutout_prob=1.0)
    for (x, _), (xv, _) in batches.epoch(0):
        for image in torch.cat([x, xv]):
            hole = image == 0
            assert torch.equal(hole[0], hole[1]) and torch.equal(hole[0], hole[2])
            rows = torch.nonzero(hole[0].any(1)).flatten()
            cols = torch.nonzero(hole[0].any(0)).flatten()
            assert len(rows) and hole[0].sum() == len(rows) * len(cols)  # one filled rectangle
            assert rows.max() - rows.min() + 1 == len(rows) and len(rows) <= 8 and len(cols) <= 8
            if rows.min() > 0 and rows.max() < 31:
                assert len(rows) == 8  # clipped only at the borders


def test_cutout_probability_and_shared_randomness(synthetic) -> None:
    ds = synthetic(n=512, constant=200)
    split = search_split(512, "full", 0)
    batches = PairedBatches(ds, split, batch_size=64, seed=3, cutout_length=8)
    without = _collect(batches, 1)  # DARTS searches use no cutout: probability 0 unless a method sets it
    assert all((t != 0).all() for t in without[::2])
    batches.cutout_prob = 0.5
    half = _collect(batches, 1)
    holed = torch.cat([(t == 0).flatten(1).any(1) for t in half[::2]]).float().mean()
    assert 0.35 < holed < 0.65
    for a, b in zip(without, half):  # same crops, flips and order: only the holes differ
        assert torch.equal(torch.where(b == 0, b, a), b) if a.dtype == torch.float32 else torch.equal(a, b)


def test_same_seed_same_batches_and_epochs_differ(synthetic) -> None:
    ds = synthetic(n=256)
    split = search_split(256, "nb201", 0)
    make = lambda seed: PairedBatches(ds, split, batch_size=32, seed=seed, cutout_prob=0.5)  # noqa: E731
    first, again, other_seed = make(0), make(0), make(1)
    e0 = _collect(first, 0)
    assert all(torch.equal(a, b) for a, b in zip(e0, _collect(again, 0)))
    assert not torch.equal(e0[0], _collect(first, 1)[0])
    assert not torch.equal(e0[0], _collect(other_seed, 0)[0])


def test_epoch_is_independent_of_history_and_resumable_mid_epoch(synthetic) -> None:
    ds = synthetic(n=256)
    split = search_split(256, "half", 0)
    used = PairedBatches(ds, split, batch_size=16, seed=7, cutout_prob=0.5)
    for e in range(3):
        _collect(used, e)
    fresh = PairedBatches(ds, split, batch_size=16, seed=7, cutout_prob=0.5)
    epoch3 = _collect(used, 3)
    assert all(torch.equal(a, b) for a, b in zip(epoch3, _collect(fresh, 3)))
    tail = _collect(fresh, 3, start_step=5)
    assert len(tail) == len(epoch3) - 5 * 4 and all(torch.equal(a, b) for a, b in zip(epoch3[5 * 4 :], tail))
    assert _collect(fresh, 3, start_step=len(fresh)) == []


def test_real_cifar10_epoch(cifar10) -> None:
    batches = PairedBatches(cifar10, search_split(cifar10.num_train, "half", 0), batch_size=64, seed=0)
    assert len(batches) == -(-2585 // 64)
    stats = torch.stack([x.mean() for (x, _), _ in batches.epoch(0)])
    assert torch.isfinite(stats).all() and stats.mean().abs() < 0.5  # roughly normalised


def test_eval_batches(synthetic) -> None:
    ds = synthetic(n=70)
    out = list(eval_batches(ds.train_images, ds.train_labels, 32, mean=ds.mean, std=ds.std))
    assert [len(y) for _, y in out] == [32, 32, 6]
    assert torch.equal(torch.cat([y for _, y in out]), ds.train_labels)
    assert torch.equal(_denormalise(torch.cat([x for x, _ in out]), ds), ds.train_images.float())


def test_bad_settings(synthetic) -> None:
    ds = synthetic(n=40)
    split = search_split(40, "half", 0)
    too_big = PairedBatches(ds, split, batch_size=64, drop_last=True)
    assert len(too_big) == 0 and list(too_big.epoch(0)) == []
    with pytest.raises(ConfigError, match="valid_sampling"):
        PairedBatches(ds, split, valid_sampling="darts")
    with pytest.raises(ConfigError, match="exceed synthetic's 30 images"):
        PairedBatches(synthetic(n=30), split, batch_size=8)
    batches = PairedBatches(ds, split, batch_size=8)
    batches.cutout_prob = 1.5
    with pytest.raises(ConfigError, match="cutout_prob"):
        batches.epoch(0)
    batches.cutout_prob = 0.0
    with pytest.raises(ConfigError, match="start_step"):
        batches.epoch(0, start_step=99)


def test_the_permutation_order_walks_the_alpha_half_once_per_epoch(synthetic) -> None:
    """Λ-DARTS' α order (sota/cnn/train_search.py: `valid_queue = iter(valid_queue)` once per epoch, line 213;
    `next(valid_queue)` per step, line 223), halves of equal size (50 and 50 images, batch 16): per epoch every
    α image once, in batches of the weight batches' sizes (16, 16, 16, 2), a fresh order each epoch."""
    ds = synthetic(n=100)
    batches = PairedBatches(
        ds, search_split(100, "half", 0), batch_size=16, augment=False, valid_sampling="permutation"
    )
    orders = []
    for epoch in range(2):
        pairs = list(batches.epoch(epoch))
        assert [len(v[1]) for _, v in pairs] == [len(t[1]) for t, _ in pairs] == [16, 16, 16, 2]
        seen = torch.cat([v[1] for _, v in pairs])
        assert sorted(seen.tolist()) == sorted(search_split(100, "half", 0).valid_idx.tolist())
        orders.append(seen.tolist())
    assert orders[0] != orders[1]


def test_the_validation_walk_is_a_running_iterator_over_the_alpha_half(synthetic) -> None:
    """RobustDARTS' RandomNAS selection reads `next(self.valid_iter)` (darts_wrapper_discrete.py lines 158-164):
    a DataLoader over the α half (SubsetRandomSampler: a fresh order per pass, the last batch smaller,
    args.py lines 164-167), started again when exhausted, with the training transform (args.py line 146)."""
    ds = synthetic(n=100)
    split = search_split(100, "half", 0)
    batches = PairedBatches(ds, split, batch_size=16, seed=3)
    per_pass = batches.valid_batches_per_pass()
    assert per_pass == 4  # 50 images: 16, 16, 16, 2
    walk = batches.valid_walk(0, 3 * per_pass)
    assert [len(y) for _, y in walk] == [16, 16, 16, 2] * 3
    passes = [torch.cat([y for _, y in walk[p * per_pass : (p + 1) * per_pass]]) for p in range(3)]
    for seen in passes:
        assert sorted(seen.tolist()) == sorted(split.valid_idx.tolist())  # each α image once per pass
    assert passes[0].tolist() != passes[1].tolist()
    # Running: batches 5.. of one walk are batches 5.. whatever the walk started with (a pure function).
    later = batches.valid_walk(5, 4)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(later, walk[5:9]))
    # The training transform: padded random crops and flips of the image (so not the image itself).
    pad, size = ds.crop_padding, ds.image_size
    x, y = walk[0]
    images = ds.train_images[y].float()
    padded = F.pad(images, (pad, pad, pad, pad))
    got = _denormalise(x, ds)
    for i in range(len(y)):
        crops = {
            (oy, ox, flip)
            for oy in range(2 * pad + 1)
            for ox in range(2 * pad + 1)
            for flip in (False, True)
            if torch.equal(got[i], (padded[i].flip(-1) if flip else padded[i])[:, oy : oy + size, ox : ox + size])
        }
        assert crops, f"image {i} of the walk is no padded crop of its image"
    assert not torch.equal(got, images)
    plain = batches.valid_walk(0, 1, augment=False)[0]
    assert torch.equal(plain[1], y) and torch.equal(_denormalise(plain[0], ds), images)
