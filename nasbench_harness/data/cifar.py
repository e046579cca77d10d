"""CIFAR-10 and CIFAR-100 from the official python-pickle archives (any prefix of each batch works)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import numpy as np

from nasbench_harness.data.formats import checked_labels, read_pickle_dict, rows_to_images
from nasbench_harness.data.registry import DatasetSpec, register_dataset


class _CifarSpec(DatasetSpec):
    image_size = 32
    crop_padding = 4
    label_key: ClassVar[str]
    train_names: ClassVar[tuple[str, ...]]
    test_names: ClassVar[tuple[str, ...]]
    archive: ClassVar[str]

    def how_to_obtain(self) -> str:
        return (
            f"run `nasbench data download {self.name}`, or download {self.archive} from "
            f"https://www.cs.toronto.edu/~kriz/cifar.html and unpack it in the data directory"
        )

    def split_files(self, root: Path, options: Mapping[str, bool]) -> dict[str, list[Path]]:
        folder = root / self.folder
        return {
            "train": [folder / n for n in self.train_names],
            "test": [folder / n for n in self.test_names],
        }

    def read_file(self, path: Path) -> tuple[np.ndarray, np.ndarray]:
        batch = read_pickle_dict(path, ("data", self.label_key), f"{self.name} python-pickle batch")
        images = rows_to_images(path, batch["data"], self.image_size)
        labels = checked_labels(path, batch[self.label_key], len(images), 0, self.num_classes - 1, self.label_key)
        return images, labels


@register_dataset("cifar10")
class Cifar10(_CifarSpec):
    num_classes = 10
    # The DARTS constants (computed on the full CIFAR-10 training set), so results compare with the papers.
    mean = (0.49139968, 0.48215827, 0.44653124)
    std = (0.24703233, 0.24348505, 0.26158768)
    folder = "cifar-10-batches-py"
    label_key = "labels"
    train_names = tuple(f"data_batch_{i}" for i in range(1, 6))
    test_names = ("test_batch",)
    official_counts = {**{name: 10_000 for name in train_names}, "test_batch": 10_000}
    archive = "cifar-10-python.tar.gz"


@register_dataset("cifar100")
class Cifar100(_CifarSpec):
    num_classes = 100
    mean = (0.5071, 0.4865, 0.4409)
    std = (0.2673, 0.2564, 0.2762)
    folder = "cifar-100-python"
    label_key = "fine_labels"
    train_names = ("train",)
    test_names = ("test",)
    official_counts = {"train": 50_000, "test": 10_000}
    archive = "cifar-100-python.tar.gz"
