"""`load_dataset`: official files → one uint8 image tensor per split, downloading on first use if allowed."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nasbench_harness.data.download import can_download, download_dataset, offline
from nasbench_harness.data.registry import DatasetSpec, get_spec
from nasbench_harness.datadir import resolve_data_dir
from nasbench_harness.errors import ConfigError, DataError


@dataclass(frozen=True, eq=False)
class Dataset:
    """A whole dataset in memory: images uint8 [N, 3, H, W] (one tensor per split, ready to move to a device
    in one copy) and int64 labels, with the constants the input pipeline needs."""

    name: str
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    num_classes: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    crop_padding: int
    image_size: int
    source_files: list[str]
    #: Each image's index in the official (complete) split, e.g. image j of CIFAR-10's data_batch_2 is
    #: 10000 + j: split files name images by it. None: the images are the official split's prefix.
    train_index: np.ndarray | None = field(default=None, repr=False)
    test_index: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for name, images in (("train_index", self.train_labels), ("test_index", self.test_labels)):
            if getattr(self, name) is None:
                object.__setattr__(self, name, np.arange(len(images), dtype=np.int64))
            elif len(getattr(self, name)) != len(images):
                raise DataError(
                    f"dataset {self.name}: {name} has {len(getattr(self, name))} entries for {len(images)} images"
                )

    @property
    def num_train(self) -> int:
        return len(self.train_labels)

    @property
    def num_test(self) -> int:
        return len(self.test_labels)

    def to_dict(self) -> dict[str, Any]:
        """Run metadata: what was loaded and from where (no pixels)."""
        return {
            "name": self.name,
            "num_train": self.num_train,
            "num_test": self.num_test,
            "num_classes": self.num_classes,
            "image_size": self.image_size,
            "source_files": list(self.source_files),
        }


def load_dataset(
    name: str,
    data_dir: str | os.PathLike[str] | None,
    *,
    download: bool = True,
    limit_train: int | None = None,
    limit_test: int | None = None,
    **options: object,
) -> Dataset:
    """Load dataset `name` from the data directory (option → $NASBENCH_DATA → per-user cache).

    Missing files are downloaded first unless `download=False` or $NASBENCH_OFFLINE is set; `limit_*` keep
    the first images of a split (and skip reading files past them). `options` are dataset switches, e.g.
    `extra=True` for SVHN.
    """
    spec = get_spec(name)
    opts = spec.resolve_options(options)
    for label, limit in (("limit_train", limit_train), ("limit_test", limit_test)):
        if limit is not None and limit < 0:
            raise ConfigError(f"{label} must be non-negative, got {limit}")
    root = resolve_data_dir(data_dir)
    missing = spec.missing_files(root, opts)
    if missing and download and not offline() and can_download(name):
        download_dataset(name, root, **opts)
        missing = spec.missing_files(root, opts)
    if missing:
        raise DataError(_missing_message(spec, root, missing, download))
    files = spec.split_files(root, opts)
    train_images, train_labels, train_index, train_read = _read_split(spec, files["train"], limit_train)
    test_images, test_labels, test_index, test_read = _read_split(spec, files["test"], limit_test)
    return Dataset(
        name=name,
        train_images=train_images,
        train_labels=train_labels,
        test_images=test_images,
        test_labels=test_labels,
        num_classes=spec.num_classes,
        mean=spec.mean,
        std=spec.std,
        crop_padding=spec.crop_padding,
        image_size=spec.image_size,
        source_files=[str(path) for path in train_read + test_read],
        train_index=train_index,
        test_index=test_index,
    )


def _missing_message(spec: DatasetSpec, root: Path, missing: list[Path], download: bool) -> str:
    shown = ", ".join(str(path.relative_to(root)) for path in missing[:4])
    more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
    why = ""
    if can_download(spec.name) and (not download or offline()):
        why = " (not downloaded: offline mode)" if offline() else " (not downloaded: download=False)"
    return (
        f"dataset {spec.name} not found in data directory {root}: missing {shown}{more}{why}. "
        f"To fix: {spec.how_to_obtain()}; or point --data-dir / $NASBENCH_DATA at a directory holding them."
    )


def _read_split(
    spec: DatasetSpec, files: list[Path], limit: int | None
) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, list[Path]]:
    """Images, labels and original indices of a split, and the files actually read (a limit can stop
    before the last). A file holding a prefix of an official file keeps the official file's numbering."""
    images: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    index: list[np.ndarray] = []
    read: list[Path] = []
    count = offset = 0
    for path in files:
        if limit is not None and count >= limit:
            break
        file_images, file_labels = spec.read_file(path)
        official = spec.official_counts.get(path.name, len(file_labels))
        if len(file_labels) > official:
            raise DataError(f"{path}: {len(file_labels)} images, more than the official file's {official}")
        images.append(file_images)
        labels.append(file_labels)
        index.append(offset + np.arange(len(file_labels), dtype=np.int64))
        read.append(path)
        count += len(file_labels)
        offset += official
    if count == 0 and limit != 0:
        raise DataError(f"dataset {spec.name}: no images in {', '.join(map(str, files))}")
    size = spec.image_size
    all_images = np.concatenate(images)[:limit] if images else np.empty((0, 3, size, size), np.uint8)
    all_labels = np.concatenate(labels)[:limit] if labels else np.empty(0, np.int64)
    all_index = np.concatenate(index)[:limit] if index else np.empty(0, np.int64)
    return (
        torch.from_numpy(np.ascontiguousarray(all_images)),
        torch.from_numpy(np.ascontiguousarray(all_labels)),
        all_index,
        read,
    )
