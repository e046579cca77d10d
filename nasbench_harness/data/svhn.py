"""SVHN (cropped digits) from the official MATLAB files; `extra_32x32.mat` joins the training set on request."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from nasbench_harness.data.formats import REDOWNLOAD_HINT, checked_labels, open_binary
from nasbench_harness.data.registry import DatasetSpec, register_dataset
from nasbench_harness.errors import DataError

EXPECTED = "SVHN .mat file (MATLAB v5 with X: 32 x 32 x 3 x N uint8 and y: N x 1 labels 1..10)"


def _load_mat(path: Path, names: list[str]) -> dict[str, Any]:
    from scipy.io import loadmat  # imported here: only SVHN needs scipy, and it is slow to import

    with open_binary(path) as fh:
        try:
            mat = loadmat(fh, variable_names=names)
        except Exception as err:  # scipy raises ValueError, OSError, MatReadError, ... on corrupt input
            raise DataError(
                f"{path} is not a readable {EXPECTED} ({type(err).__name__}: {err}). {REDOWNLOAD_HINT}"
            ) from None
    missing = [name for name in names if name not in mat]
    if missing:
        raise DataError(f"{path}: expected a {EXPECTED}; variable {', '.join(missing)} is missing")
    return mat


def _digit_labels(path: Path, y: object, count: int) -> np.ndarray:
    """SVHN's labels 1..10 as digits 0..9 (10 stands for the digit 0)."""
    if isinstance(y, np.ndarray) and y.dtype.kind == "f" and np.array_equal(y, np.round(y)):
        y = y.astype(np.int64)  # some re-saved copies store the labels as doubles
    return checked_labels(path, y, count, 1, 10, "y") % 10


@register_dataset("svhn")
class Svhn(DatasetSpec):
    num_classes = 10
    image_size = 32
    crop_padding = 4
    # Per-channel statistics of the SVHN training set, as commonly used in NAS papers.
    mean = (0.4377, 0.4438, 0.4728)
    std = (0.1980, 0.2010, 0.1970)
    folder = "svhn"
    options = {"extra": False}

    def how_to_obtain(self) -> str:
        return (
            "run `nasbench data download svhn` (add --extra for extra_32x32.mat), or download "
            "train_32x32.mat and test_32x32.mat from http://ufldl.stanford.edu/housenumbers/ into "
            f"the folder {self.folder}/ of the data directory"
        )

    def split_files(self, root: Path, options: Mapping[str, bool]) -> dict[str, list[Path]]:
        folder = root / self.folder
        train = [folder / "train_32x32.mat"] + ([folder / "extra_32x32.mat"] if options["extra"] else [])
        return {"train": train, "test": [folder / "test_32x32.mat"]}

    def status_groups(self, root: Path) -> dict[str, list[Path]]:
        groups = self.split_files(root, {"extra": False})
        extra = root / self.folder / "extra_32x32.mat"
        return {**groups, "extra": [extra]} if extra.is_file() else groups

    def read_file(self, path: Path) -> tuple[np.ndarray, np.ndarray]:
        mat = _load_mat(path, ["X", "y"])
        x = mat["X"]
        size = self.image_size
        if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 4 or x.shape[:3] != (size, size, 3):
            found = f"{x.dtype} array of shape {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
            raise DataError(f"{path}: expected X as a uint8 array of shape {size} x {size} x 3 x N, found {found}")
        images = np.ascontiguousarray(x.transpose(3, 2, 0, 1))  # H x W x C x N -> N x C x H x W
        return images, _digit_labels(path, mat["y"], len(images))

    def count_file(self, path: Path) -> int:
        y = _load_mat(path, ["y"])["y"]
        return int(np.asarray(y).shape[0])
