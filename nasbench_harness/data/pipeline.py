"""The search input pipeline: whole dataset on the device, every augmentation batched, no workers.

The training set lives on the device as one zero-padded uint8 tensor, next to a mirrored copy for
horizontal flips. A random crop of image i at offset (oy, ox) is then one contiguous byte range of that
buffer read with fixed strides, so a whole batch of crops is a single `index_select` of byte windows plus
an `as_strided` view; float conversion with normalisation and a multiplicative cutout mask follow. That
is a handful of kernels per step for the weight and architecture batches together, no per-sample Python
and no host→device copies after construction, so the GPU never waits for data.

Reproducibility: every random number of epoch `e` comes from a CPU generator seeded by (seed, e) and is
drawn up front, in a fixed order, independently of `cutout_prob`. `epoch(e)` is therefore a pure function
of (seed, e, cutout_prob, split, settings) — identical on CPU and GPU, and after a crash-resume — and
`epoch(e, start_step=k)` yields exactly steps k.. of it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from nasbench_harness.data.dataset import Dataset
from nasbench_harness.data.splits import SearchSplit
from nasbench_harness.errors import ConfigError

Batch = tuple[torch.Tensor, torch.Tensor]


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A CPU generator for (seed, epoch); SeedSequence decorrelates neighbouring seeds and epochs."""
    state = np.random.SeedSequence([seed, epoch]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def _normaliser(mean: Sequence[float], std: Sequence[float], device: torch.device) -> tuple[torch.Tensor, ...]:
    """(scale, shift) with x_uint8 * scale - shift == (x / 255 - mean) / std, shaped to broadcast over NCHW."""
    mean_t = torch.tensor(mean, dtype=torch.float32)
    std_t = torch.tensor(std, dtype=torch.float32)
    scale = (1.0 / (255.0 * std_t)).view(1, -1, 1, 1).to(device)
    shift = (mean_t / std_t).view(1, -1, 1, 1).to(device)
    return scale, shift


class PairedBatches:
    """DARTS-style (weight batch, architecture batch) pairs for a search epoch.

    `len()` is the steps per epoch, `len(split.train_idx) // batch_size` (drop_last, as DARTS; 0 when the
    weight half is smaller than a batch). Valid batches walk through fresh permutations of
    `split.valid_idx`, cycling as often as needed. Both streams get the train transform (random crop with
    zero padding, horizontal flip, cutout with probability `cutout_prob`, applied after normalisation as in
    DARTS); `augment=False` turns all of it off. `cutout_prob` defaults to 0 because DARTS searches use no
    cutout; a method may set it between epochs (R-DARTS ramps it). Device memory: the padded training set,
    twice when augmenting (the mirrored copy), e.g. 480 MB for CIFAR-10.
    """

    def __init__(
        self,
        ds: Dataset,
        split: SearchSplit,
        batch_size: int = 64,
        device: torch.device | str = "cpu",
        seed: int = 0,
        augment: bool = True,
        cutout_length: int = 16,
        cutout_prob: float = 0.0,
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be positive, got {batch_size}")
        if seed < 0:
            raise ConfigError(f"seed must be non-negative, got {seed}")
        if cutout_length < 0:
            raise ConfigError(f"cutout_length must be non-negative, got {cutout_length}")
        for label, idx in (("train", split.train_idx), ("valid", split.valid_idx)):
            if len(idx) == 0:
                raise ConfigError(f"the {label} half of the search split is empty")
            if idx.min() < 0 or idx.max() >= ds.num_train:
                raise ConfigError(f"the {label} indices of the split exceed {ds.name}'s {ds.num_train} images")
        self.dataset = ds
        self.split = split
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.seed = seed
        self.augment = augment
        self.cutout_length = cutout_length
        self.cutout_prob = cutout_prob
        self._train_idx = torch.from_numpy(split.train_idx).long()
        self._valid_idx = torch.from_numpy(split.valid_idx).long()
        self._size = size = ds.image_size
        self._pad = pad = ds.crop_padding if augment else 0
        self._side = side = size + 2 * pad
        padded = F.pad(ds.train_images, (pad, pad, pad, pad))
        if augment:
            padded = torch.cat([padded, padded.flip(-1)])  # image i mirrored is image num_train + i
        # Crop windows: the bytes from a crop's first pixel to its last, one window per possible start.
        self._window = 2 * side * side + (size - 1) * side + size
        self._windows = padded.to(self.device).view(-1).unfold(0, self._window, 1)
        self._labels = ds.train_labels
        self._scale, self._shift = _normaliser(ds.mean, ds.std, self.device)
        self._pixels = torch.arange(size)

    def __len__(self) -> int:
        return len(self._train_idx) // self.batch_size

    def epoch(self, epoch: int, start_step: int = 0) -> Iterator[tuple[Batch, Batch]]:
        """Yield ((x_train, y_train), (x_valid, y_valid)) for steps `start_step`.. of epoch `epoch`."""
        if not 0.0 <= self.cutout_prob <= 1.0:
            raise ConfigError(f"cutout_prob must lie in [0, 1], got {self.cutout_prob}")
        steps = len(self)
        if not 0 <= start_step <= steps:
            raise ConfigError(f"start_step must lie in 0..{steps}, got {start_step}")
        if epoch < 0:
            raise ConfigError(f"epoch must be non-negative, got {epoch}")
        return self._iterate(epoch, start_step, self.cutout_prob)

    def _iterate(self, epoch: int, start_step: int, cutout_prob: float) -> Iterator[tuple[Batch, Batch]]:
        if start_step == len(self):  # nothing left (or a weight half smaller than one batch)
            return
        starts, labels, keep = self._plan(epoch, cutout_prob)
        size, batch = self._size, self.batch_size
        strides = (self._window, self._side * self._side, self._side, 1)
        for k in range(start_step, len(self)):
            crops = torch.index_select(self._windows, 0, starts[k])
            x = crops.as_strided((2 * batch, 3, size, size), strides).float()
            x.mul_(self._scale).sub_(self._shift)
            if keep is not None:
                rows, cols = keep[0][k], keep[1][k]
                x.mul_((1.0 - rows[:, :, None] * cols[:, None, :])[:, None])
            y = labels[k]
            yield (x[:batch], y[:batch]), (x[batch:], y[batch:])

    def _plan(
        self, epoch: int, cutout_prob: float
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
        """Every random choice of the epoch, turned into per-step device tensors: window starts [steps, 2B],
        labels [steps, 2B] and the cutout rows/columns [steps, 2B, S] (None without cutout).

        Columns 0..B-1 of each step are the weight batch, B..2B-1 the architecture batch, so both are made
        by the same kernels."""
        gen = epoch_generator(self.seed, epoch)
        steps, batch = len(self), self.batch_size
        count = steps * batch
        train = self._train_idx[torch.randperm(len(self._train_idx), generator=gen)[:count]]
        laps = math.ceil(count / len(self._valid_idx))
        valid_perms = [torch.randperm(len(self._valid_idx), generator=gen) for _ in range(laps)]
        valid = self._valid_idx[torch.cat(valid_perms)[:count]]
        index = torch.cat([train.view(steps, batch), valid.view(steps, batch)], dim=1)
        shape, size, pad, side = index.shape, self._size, self._pad, self._side
        offset_y = torch.randint(0, 2 * pad + 1, shape, generator=gen)
        offset_x = torch.randint(0, 2 * pad + 1, shape, generator=gen)
        flip = torch.randint(0, 2, shape, generator=gen).bool()
        centre_y = torch.randint(0, size, shape, generator=gen)
        centre_x = torch.randint(0, size, shape, generator=gen)
        apply = torch.rand(shape, generator=gen) < cutout_prob
        labels = self._labels[index].to(self.device)
        if not self.augment:
            return (index * 3 * side * side).to(self.device), labels, None
        # A flipped crop at column offset ox is the mirrored image's crop at offset 2 * pad - ox.
        image = index + flip * len(self._labels)
        column = torch.where(flip, 2 * pad - offset_x, offset_x)
        starts = (image * 3 * side * side + offset_y * side + column).to(self.device)
        if self.cutout_length == 0 or cutout_prob == 0.0:
            return starts, labels, None
        # DARTS cutout: a length x length square centred on a uniform pixel, clipped at the borders.
        half = self.cutout_length // 2
        rows = (self._pixels >= (centre_y - half)[..., None]) & (self._pixels < (centre_y + half)[..., None])
        cols = (self._pixels >= (centre_x - half)[..., None]) & (self._pixels < (centre_x + half)[..., None])
        rows &= apply[..., None]
        return starts, labels, (rows.float().to(self.device), cols.float().to(self.device))


def eval_batches(
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int = 256,
    *,
    device: torch.device | str = "cpu",
    mean: Sequence[float],
    std: Sequence[float],
) -> Iterator[Batch]:
    """Normalised float batches in order, without augmentation (evaluation of a trained network)."""
    if batch_size < 1:
        raise ConfigError(f"batch_size must be positive, got {batch_size}")
    device = torch.device(device)
    scale, shift = _normaliser(mean, std, device)
    for start in range(0, len(labels), batch_size):
        x = images[start : start + batch_size].to(device, non_blocking=True)
        y = labels[start : start + batch_size].to(device, non_blocking=True)
        yield x.float().mul_(scale).sub_(shift), y
