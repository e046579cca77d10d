"""Readers for the official file formats, turning every way a file can be bad into a DataError."""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from nasbench_harness.errors import DataError

REDOWNLOAD_HINT = "The file may be truncated or corrupt: delete it and download it again."

# Globals the official pickles (CIFAR, downsampled ImageNet; written by Python 2 or 3, numpy 1 or 2) need.
# Anything else is refused, so a tampered file cannot run code when it is loaded.
_ALLOWED_GLOBALS = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }
)


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"it refers to {module}.{name}, which a dataset file never needs")
        return super().find_class(module, name)


def open_binary(path: Path) -> BinaryIO:
    """`path` opened for reading, or a DataError naming it (missing file, no permission, ...)."""
    try:
        return path.open("rb")
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror or err}") from None


def read_pickle_dict(path: Path, keys: Sequence[str], expected: str) -> dict[str, Any]:
    """A pickled batch dict as the official readers load it (latin1), checked to hold `keys`."""
    with open_binary(path) as fh:
        try:
            obj = _ArrayUnpickler(fh, encoding="latin1").load()
        except Exception as err:  # corrupt pickles raise many types (EOFError, UnpicklingError, ValueError, ...)
            raise DataError(
                f"{path} is not a readable {expected} ({type(err).__name__}: {err}). {REDOWNLOAD_HINT}"
            ) from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a pickled dict ({expected}), found {type(obj).__name__}")
    missing = [key for key in keys if key not in obj]
    if missing:
        raise DataError(
            f"{path}: expected a {expected} with keys {', '.join(keys)}; missing {', '.join(missing)} "
            f"(found: {', '.join(map(str, obj)) or 'nothing'})"
        )
    return obj


def rows_to_images(path: Path, data: object, image_size: int) -> np.ndarray:
    """N x (3*S*S) channel-major uint8 rows (CIFAR, ImageNet16) as an [N, 3, S, S] array, without copying."""
    width = 3 * image_size * image_size
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != width:
        found = f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"{path}: expected 'data' as a uint8 array of shape N x {width}, found {found}")
    return data.reshape(-1, 3, image_size, image_size)


def checked_labels(path: Path, labels: object, count: int, low: int, high: int, key: str) -> np.ndarray:
    """Labels as int64, checked to match the image count and lie in [low, high]."""
    try:
        array = np.asarray(labels)
    except (TypeError, ValueError) as err:
        raise DataError(f"{path}: {key!r} is not a list of integer labels ({err})") from None
    if array.ndim == 2 and array.shape[1] == 1:  # MATLAB column vectors
        array = array[:, 0]
    if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
        raise DataError(f"{path}: expected {key!r} as a list of integers, found shape {array.shape} {array.dtype}")
    if len(array) != count:
        raise DataError(f"{path}: {count} images but {len(array)} labels in {key!r}; {REDOWNLOAD_HINT}")
    array = array.astype(np.int64)
    if array.size and (array.min() < low or array.max() > high):
        raise DataError(f"{path}: labels in {key!r} must lie in {low}..{high}, found {array.min()}..{array.max()}")
    return array
