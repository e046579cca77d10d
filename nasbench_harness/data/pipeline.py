"""The search input pipeline: whole dataset on the device, every augmentation batched, no workers.

The search images (the training set, plus the test images a split's architecture side names) live on
the device as one zero-padded uint8 tensor, next to a mirrored copy for
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


def epoch_generator(seed: int, epoch: int, stream: int = 0) -> torch.Generator:
    """A CPU generator for (seed, epoch); SeedSequence decorrelates neighbouring seeds and epochs. `stream` > 0
    names another sequence of the same (seed, epoch) (the validation walk), 0 the search epochs'."""
    entropy = [seed, epoch] if stream == 0 else [seed, epoch, stream]
    state = np.random.SeedSequence(entropy).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def _normaliser(mean: Sequence[float], std: Sequence[float], device: torch.device) -> tuple[torch.Tensor, ...]:
    """(scale, shift) with x_uint8 * scale - shift == (x / 255 - mean) / std, shaped to broadcast over NCHW."""
    mean_t = torch.tensor(mean, dtype=torch.float32)
    std_t = torch.tensor(std, dtype=torch.float32)
    scale = (1.0 / (255.0 * std_t)).view(1, -1, 1, 1).to(device)
    shift = (mean_t / std_t).view(1, -1, 1, 1).to(device)
    return scale, shift


#: How each step's architecture batch is drawn (see `PairedBatches`).
VALID_SAMPLING = ("darts_fresh_batch", "nb201_random", "permutation")


class PairedBatches:
    """(weight batch, architecture batch) pairs for a search epoch.

    The weight side walks a fresh permutation of `split.train_idx` each epoch in batches of `batch_size`;
    the last, smaller batch is kept unless `drop_last` (DARTS' train queue and NAS-Bench-201's search
    loader both keep it: 391 steps over 25k images at batch 64). The architecture batch of a step is drawn
    by `valid_sampling`:

    - "darts_fresh_batch": `batch_size` distinct images drawn afresh each step, always a full batch (DARTS'
      `next(iter(valid_queue))` on a SubsetRandomSampler, cnn/train_search.py line 143);
    - "nb201_random": one uniformly random image, with replacement, per weight image, so both batches have
      the same size (xautodl `SearchDataset.__getitem__`, lib/datasets/SearchDatasetWrap.py line 45);
    - "permutation": walk fresh permutations, one image per weight image (lower variance, no original).

    The architecture images come from the training set or, when `split.valid_source == "test"`, from the
    test images the split names (NAS-Bench-201's CIFAR-100/ImageNet16-120 `xvalid`): only those are copied
    to the device, after the training images, so no other test image can reach a search. Both streams get
    the train transform (random crop with zero padding, horizontal flip, cutout with probability
    `cutout_prob`, applied after normalisation as in DARTS); `augment=False` turns all of it off.
    `cutout_prob` defaults to 0 because DARTS searches use no cutout; a method may set it between epochs
    (R-DARTS ramps it). Device memory: the padded images, twice when augmenting (the mirrored copy), e.g.
    480 MB for CIFAR-10.
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
        drop_last: bool = False,
        valid_sampling: str = "darts_fresh_batch",
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be positive, got {batch_size}")
        if seed < 0:
            raise ConfigError(f"seed must be non-negative, got {seed}")
        if cutout_length < 0:
            raise ConfigError(f"cutout_length must be non-negative, got {cutout_length}")
        if valid_sampling not in VALID_SAMPLING:
            raise ConfigError(f"valid_sampling must be one of {', '.join(VALID_SAMPLING)}, got {valid_sampling!r}")
        valid_count = ds.num_test if split.valid_source == "test" else ds.num_train
        for label, idx, count in (("train", split.train_idx, ds.num_train), ("valid", split.valid_idx, valid_count)):
            if len(idx) == 0:
                raise ConfigError(f"the {label} half of the search split is empty")
            if idx.min() < 0 or idx.max() >= count:
                raise ConfigError(f"the {label} indices of the split exceed {ds.name}'s {count} images")
        self.dataset = ds
        self.split = split
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.seed = seed
        self.augment = augment
        self.cutout_length = cutout_length
        self.cutout_prob = cutout_prob
        self.drop_last = drop_last
        self.valid_sampling = valid_sampling
        images, labels = ds.train_images, ds.train_labels
        self._train_idx = torch.from_numpy(split.train_idx).long()
        self._valid_idx = torch.from_numpy(split.valid_idx).long()
        if split.valid_source == "test":  # the named test images only, stored after the training images
            valid_images, valid_labels = split.valid_images(ds)
            images, labels = torch.cat([images, valid_images]), torch.cat([labels, valid_labels])
            self._valid_idx = ds.num_train + torch.arange(len(split.valid_idx))
        self._count = len(labels)
        self._size = size = ds.image_size
        self._pad = pad = ds.crop_padding if augment else 0
        self._side = side = size + 2 * pad
        padded = F.pad(images, (pad, pad, pad, pad))
        if augment:
            padded = torch.cat([padded, padded.flip(-1)])  # image i mirrored is image count + i
        # Crop windows: the bytes from a crop's first pixel to its last, one window per possible start.
        self._window = 2 * side * side + (size - 1) * side + size
        self._windows = padded.to(self.device).view(-1).unfold(0, self._window, 1)
        self._labels = labels
        self._scale, self._shift = _normaliser(ds.mean, ds.std, self.device)
        self._pixels = torch.arange(size)
        #: The last pass of `valid_walk` ((pass, augment), window starts, labels): a walk reads a pass in order.
        self._walk_cache: tuple[tuple[int, bool], torch.Tensor, torch.Tensor] | None = None

    def __len__(self) -> int:
        n, batch = len(self._train_idx), self.batch_size
        return n // batch if self.drop_last else -(-n // batch)

    def describe(self) -> dict[str, object]:
        """Result-changing loop settings for the run metadata."""
        return {
            "steps_per_epoch": len(self),
            "batch_size": self.batch_size,
            "drop_last": self.drop_last,
            "valid_sampling": self.valid_sampling,
            "augment": self.augment,
        }

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
        sizes, starts, labels, keep = self._plan(epoch, cutout_prob)
        size = self._size
        strides = (self._window, self._side * self._side, self._side, 1)
        ends = torch.tensor(sizes).view(-1, 2).sum(1).cumsum(0).tolist()
        for k in range(start_step, len(self)):
            lo, hi = (ends[k - 1] if k else 0), ends[k]
            crops = torch.index_select(self._windows, 0, starts[lo:hi])
            x = crops.as_strided((hi - lo, 3, size, size), strides).float()
            x.mul_(self._scale).sub_(self._shift)
            if keep is not None:
                rows, cols = keep[0][lo:hi], keep[1][lo:hi]
                x.mul_((1.0 - rows[:, :, None] * cols[:, None, :])[:, None])
            y, n = labels[lo:hi], sizes[2 * k]
            yield (x[:n], y[:n]), (x[n:], y[n:])

    def valid_batches_per_pass(self) -> int:
        """Batches of `batch_size` in one pass over the α half, the last one smaller (a DataLoader's length)."""
        return -(-len(self._valid_idx) // self.batch_size)

    def valid_walk(self, start: int, count: int, augment: bool = True) -> list[Batch]:
        """Batches `start`..`start + count` of an endless walk over the α half: pass after pass, each a fresh
        permutation in batches of `batch_size` (the last of a pass smaller), every image with the train
        transform (random crop, flip; no cutout), as a running iterator over DARTS' `valid_queue` built on
        the training set (RobustDARTS `Helper.get_train_val_loaders`, args.py lines 144-169) that starts
        again when exhausted. A pure function of (seed, start, count, augment): pass p draws from its own
        generator. `augment=False`, or a pipeline built without augmentation: the images as they are."""
        per_pass, batch, size, side = self.valid_batches_per_pass(), self.batch_size, self._size, self._side
        out: list[Batch] = []
        for b in range(start, start + count):
            pass_index, k = divmod(b, per_pass)
            starts, labels = self._valid_pass(pass_index, augment and self.augment)
            crops = torch.index_select(self._windows, 0, starts[k * batch : (k + 1) * batch])
            x = crops.as_strided((crops.shape[0], 3, size, size), (self._window, side * side, side, 1)).float()
            out.append((x.mul_(self._scale).sub_(self._shift), labels[k * batch : (k + 1) * batch]))
        return out

    def _valid_pass(self, pass_index: int, augment: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Window starts and labels of pass `pass_index` of `valid_walk`, in walk order (the last pass cached)."""
        if self._walk_cache is not None and self._walk_cache[0] == (pass_index, augment):
            return self._walk_cache[1], self._walk_cache[2]
        gen = epoch_generator(self.seed, pass_index, stream=1)
        index = self._valid_idx[torch.randperm(len(self._valid_idx), generator=gen)]
        pad, side = self._pad, self._side
        offset_y = torch.randint(0, 2 * pad + 1, index.shape, generator=gen)
        offset_x = torch.randint(0, 2 * pad + 1, index.shape, generator=gen)
        flip = torch.randint(0, 2, index.shape, generator=gen).bool()
        if augment:
            column = torch.where(flip, 2 * pad - offset_x, offset_x)
            starts = (index + flip * self._count) * 3 * side * side + offset_y * side + column
        else:  # the centred window of the padded image is the image itself
            starts = index * 3 * side * side + pad * side + pad
        starts, labels = starts.to(self.device), self._labels[index].to(self.device)
        self._walk_cache = ((pass_index, augment), starts, labels)
        return starts, labels

    def _valid_draws(self, gen: torch.Generator, train_sizes: list[int]) -> torch.Tensor:
        """Positions in `_valid_idx` of every architecture image of the epoch, step after step."""
        n_valid = len(self._valid_idx)
        if self.valid_sampling == "darts_fresh_batch":
            batch = min(self.batch_size, n_valid)
            return torch.cat([torch.randperm(n_valid, generator=gen)[:batch] for _ in train_sizes])
        count = sum(train_sizes)
        if self.valid_sampling == "nb201_random":
            return torch.randint(0, n_valid, (count,), generator=gen)
        laps = math.ceil(count / n_valid)
        return torch.cat([torch.randperm(n_valid, generator=gen) for _ in range(laps)])[:count]

    def _plan(
        self, epoch: int, cutout_prob: float
    ) -> tuple[list[int], torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor] | None]:
        """Every random choice of the epoch: the sizes [train_0, valid_0, train_1, ...] of each step's two
        batches, and for the epoch's images laid out step after step (weight batch, then architecture
        batch) the window starts, labels and cutout rows/columns [n, S] (None without cutout)."""
        gen = epoch_generator(self.seed, epoch)
        steps, batch = len(self), self.batch_size
        order = self._train_idx[torch.randperm(len(self._train_idx), generator=gen)]
        train_sizes = [min(batch, len(order) - k * batch) for k in range(steps)]
        valid = self._valid_idx[self._valid_draws(gen, train_sizes)]
        valid_size = min(batch, len(self._valid_idx)) if self.valid_sampling == "darts_fresh_batch" else None
        sizes, parts, t, v = [], [], 0, 0
        for n in train_sizes:
            m = valid_size or n
            sizes += [n, m]
            parts += [order[t : t + n], valid[v : v + m]]
            t, v = t + n, v + m
        index = torch.cat(parts)
        shape, size, pad, side = index.shape, self._size, self._pad, self._side
        offset_y = torch.randint(0, 2 * pad + 1, shape, generator=gen)
        offset_x = torch.randint(0, 2 * pad + 1, shape, generator=gen)
        flip = torch.randint(0, 2, shape, generator=gen).bool()
        centre_y = torch.randint(0, size, shape, generator=gen)
        centre_x = torch.randint(0, size, shape, generator=gen)
        apply = torch.rand(shape, generator=gen) < cutout_prob
        labels = self._labels[index].to(self.device)
        if not self.augment:
            return sizes, (index * 3 * side * side).to(self.device), labels, None
        # A flipped crop at column offset ox is the mirrored image's crop at offset 2 * pad - ox.
        image = index + flip * self._count
        column = torch.where(flip, 2 * pad - offset_x, offset_x)
        starts = (image * 3 * side * side + offset_y * side + column).to(self.device)
        if self.cutout_length == 0 or cutout_prob == 0.0:
            return sizes, starts, labels, None
        # DARTS cutout: a length x length square centred on a uniform pixel, clipped at the borders.
        half = self.cutout_length // 2
        rows = (self._pixels >= (centre_y - half)[..., None]) & (self._pixels < (centre_y + half)[..., None])
        cols = (self._pixels >= (centre_x - half)[..., None]) & (self._pixels < (centre_x + half)[..., None])
        rows &= apply[..., None]
        return sizes, starts, labels, (rows.float().to(self.device), cols.float().to(self.device))


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
