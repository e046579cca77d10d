"""ImageNet16-120 (NAS-Bench-201): the 16x16 downsampled ImageNet pickles, restricted to classes 1..120."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from nasbench_harness.data.formats import checked_labels, read_pickle_dict, rows_to_images
from nasbench_harness.data.registry import DatasetSpec, register_dataset

IMAGENET_CLASSES = 1000


@register_dataset("imagenet16-120")
class ImageNet16(DatasetSpec):
    num_classes = 120
    image_size = 16
    crop_padding = 2
    # NAS-Bench-201's constants for ImageNet16-120, so accuracies are comparable with the benchmark.
    mean = (122.68 / 255, 116.66 / 255, 104.01 / 255)
    std = (63.22 / 255, 61.26 / 255, 65.09 / 255)
    folder = "ImageNet16"

    def how_to_obtain(self) -> str:
        return (
            "ImageNet16-120 has no official direct download. Get the 16x16 'Downsampled ImageNet' files "
            "Imagenet16_train.zip and Imagenet16_val.zip from https://image-net.org/download-images "
            "(free account; Chrabaszcz et al. 2017), or the ImageNet16 folder the NAS-Bench-201 authors share, "
            f"and unzip them so that {self.folder}/train_data_batch_1..10 and {self.folder}/val_data lie in the "
            "data directory"
        )

    def split_files(self, root: Path, options: Mapping[str, bool]) -> dict[str, list[Path]]:
        folder = root / self.folder
        return {
            "train": [folder / f"train_data_batch_{i}" for i in range(1, 11)],
            "test": [folder / "val_data"],
        }

    def read_file(self, path: Path) -> tuple[np.ndarray, np.ndarray]:
        batch = read_pickle_dict(path, ("data", "labels"), "downsampled-ImageNet 16x16 pickle")
        images = rows_to_images(path, batch["data"], self.image_size)
        labels = checked_labels(path, batch["labels"], len(images), 1, IMAGENET_CLASSES, "labels")
        keep = labels <= self.num_classes  # NAS-Bench-201 keeps the first 120 of the 1-based classes
        return images[keep], labels[keep] - 1
