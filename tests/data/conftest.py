"""Writers for the official file formats (for datasets not in the reference data) and small datasets."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from nasbench_harness.data import Dataset, load_dataset


def _write_pickle_batch(path: Path, data: np.ndarray, labels: np.ndarray, label_key: str = "labels") -> None:
    """A batch as the official pickles are: protocol 2, `data` N x 3072 uint8, labels as a list of ints."""
    path.parent.mkdir(parents=True, exist_ok=True)
    batch = {"batch_label": "synthetic", "data": data, label_key: [int(v) for v in labels]}
    path.write_bytes(pickle.dumps(batch, protocol=2))


def _write_svhn_mat(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    """SVHN's layout: X is H x W x 3 x N uint8, y is N x 1 with 1..10 (10 = digit 0)."""
    from scipy.io import savemat

    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(path, {"X": x, "y": y.reshape(-1, 1).astype(np.uint8)})


@pytest.fixture
def write_batch() -> Callable[..., None]:
    """Writes a batch in the official pickle format (CIFAR, downsampled ImageNet)."""
    return _write_pickle_batch


@pytest.fixture
def write_mat() -> Callable[..., None]:
    """Writes an SVHN .mat file."""
    return _write_svhn_mat


@pytest.fixture
def make_svhn(tmp_path: Path) -> Callable[..., dict[str, tuple[np.ndarray, np.ndarray]]]:
    def make(sizes: dict[str, int], seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        rng = np.random.default_rng(seed)
        written = {}
        for split, n in sizes.items():
            x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
            y = rng.integers(1, 11, n)
            y[:2] = [10, 1]
            _write_svhn_mat(tmp_path / "svhn" / f"{split}_32x32.mat", x, y)
            written[split] = (x, y)
        return written

    return make


@pytest.fixture
def make_imagenet16(tmp_path: Path) -> Callable[..., dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Ten train batches and val_data with 1-based labels over 1000 classes (about a third kept)."""

    def make(per_file: int = 30, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        rng = np.random.default_rng(seed)
        written = {}
        for name in [f"train_data_batch_{i}" for i in range(1, 11)] + ["val_data"]:
            data = rng.integers(0, 256, (per_file, 3 * 16 * 16), dtype=np.uint8)
            labels = np.where(
                rng.random(per_file) < 0.3, rng.integers(1, 121, per_file), rng.integers(1, 1001, per_file)
            )
            labels[:2] = [1, 1000]
            _write_pickle_batch(tmp_path / "ImageNet16" / name, data, labels)
            written[name] = (data, labels)
        return written

    return make


@pytest.fixture(scope="session")
def cifar10(reference_data_dir: Path) -> Dataset:
    return load_dataset("cifar10", reference_data_dir, download=False)


def synthetic_dataset(
    n: int = 256, size: int = 32, pad: int = 4, seed: int = 0, constant: int | None = None
) -> Dataset:
    """Random (or constant) images whose label is their index, so a batch tells which images it holds."""
    gen = torch.Generator().manual_seed(seed)
    if constant is None:
        images = torch.randint(0, 256, (n, 3, size, size), generator=gen, dtype=torch.uint8)
    else:
        images = torch.full((n, 3, size, size), constant, dtype=torch.uint8)
    return Dataset(
        name="synthetic",
        train_images=images,
        train_labels=torch.arange(n),
        test_images=images[:10].clone(),
        test_labels=torch.arange(10),
        num_classes=n,
        mean=(0.5, 0.4, 0.3),
        std=(0.25, 0.2, 0.3),
        crop_padding=pad,
        image_size=size,
        source_files=[],
    )


@pytest.fixture
def synthetic() -> Callable[..., Dataset]:
    return synthetic_dataset
