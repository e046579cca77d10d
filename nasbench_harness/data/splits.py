"""How a search divides the data between network weights and architecture parameters.

Protocols: "half" (DARTS), "full" (one-level methods), "nb201_official" (the NAS-Bench-201 authors' split
files, read from the data directory) and "nb201" (a seeded random 50/50 split of the training set with
the sizes of the official CIFAR-10 one, for datasets the official files do not cover, e.g. SVHN).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from nasbench_harness.data.dataset import Dataset
from nasbench_harness.errors import ConfigError, DataError
from nasbench_harness.fileio import file_digest
from nasbench_harness.registry import unknown_name_message

PROTOCOLS = ("half", "nb201", "nb201_official", "full")
#: Where the split files live in the data directory (the layout of ../shared/data).
SPLIT_FOLDER = Path("nb201") / "splits"


@dataclass(frozen=True)
class OfficialSplit:
    """One dataset's NAS-Bench-201 search split (xautodl `get_nas_search_loaders`, lib/datasets/
    get_dataset_with_transform.py lines 248-355 of AutoDL-Projects)."""

    file: str
    #: Key of the index list that trains the weights (None: the whole training set) and of the α list.
    train_key: str | None
    valid_key: str
    #: Which loaded split the α indices point into.
    valid_source: Literal["train", "test"]
    #: The file's other list, reserved for reporting (ground truth); a search never reads it.
    held_out_key: str | None
    #: Images the official set holds (the file's indices must lie below it).
    official_size: int
    sha256: str


OFFICIAL_SPLITS: dict[str, OfficialSplit] = {
    # CIFAR-10: weights on `train`, α on `valid`, both indices into the 50k training images.
    "cifar10": OfficialSplit(
        "cifar-split.txt",
        "train",
        "valid",
        "train",
        None,
        50_000,
        "986da6174822048d4c5a25ee8ebdb7e754cd5372b51c633ffd4898ace8db9e32",
    ),
    # CIFAR-100 and ImageNet16-120: weights on the whole training set, α on the test set's `xvalid`.
    "cifar100": OfficialSplit(
        "cifar100-test-split.txt",
        None,
        "xvalid",
        "test",
        "xtest",
        10_000,
        "14a5e3708e790ad57f987cdbcf202f724519475d6e8b0db34d0182e73b581bba",
    ),
    "imagenet16-120": OfficialSplit(
        "imagenet-16-120-test-split.txt",
        None,
        "xvalid",
        "test",
        "xtest",
        6_000,
        "c0edac1d3676a9f21acea8feeb31336202d75b1a73df62aec31c6b45bb289a18",
    ),
}


@dataclass(frozen=True, eq=False)
class SearchSplit:
    """`train_idx`: positions in the training images that train the weights; `valid_idx`: positions in
    the `valid_source` images ("train" or "test") that train the architecture. `source` describes the split
    file (name, sha256, counts before and after intersecting with the images present) when there is one."""

    train_idx: np.ndarray
    valid_idx: np.ndarray
    protocol: str
    seed: int
    valid_source: Literal["train", "test"] = "train"
    source: dict[str, Any] = field(default_factory=dict)

    def digest(self) -> str:
        """A short hash of both index lists: run metadata records it instead of the indices."""
        h = hashlib.sha256()
        h.update(self.train_idx.astype("<i8").tobytes())
        h.update(b"|")
        h.update(self.valid_idx.astype("<i8").tobytes())
        return h.hexdigest()[:16]

    def valid_images(self, ds: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
        """The architecture side's images and labels (the only test images a search may read)."""
        idx = torch.from_numpy(self.valid_idx).long()
        if self.valid_source == "test":
            return ds.test_images[idx], ds.test_labels[idx]
        return ds.train_images[idx], ds.train_labels[idx]

    def to_dict(self) -> dict[str, Any]:
        out = {
            "protocol": self.protocol,
            "seed": self.seed,
            "num_train": len(self.train_idx),
            "num_valid": len(self.valid_idx),
            "valid_source": self.valid_source,
            "sha256": self.digest(),
        }
        if self.source:
            out["file"] = self.source
        return out


def search_split(num_train: int, protocol: str, seed: int) -> SearchSplit:
    """The weight/architecture split of `num_train` training images under a file-less protocol.

    - "half": DARTS — the first half trains the weights, the second half the architecture. As in DARTS
      (cnn/train_search.py lines 89-101) the halves are contiguous and do not depend on `seed`; `seed` is
      only recorded.
    - "nb201": a random half for each, drawn with `seed` (sizes as NAS-Bench-201's CIFAR-10 split, indices
      not); use "nb201_official" for the authors' files.
    - "full": one-level methods — both sides are the whole training set.
    """
    if protocol == "nb201_official":
        raise ConfigError(
            "the 'nb201_official' split reads files: use dataset_split(dataset, protocol, seed, data_dir)"
        )
    if protocol not in PROTOCOLS:
        raise ConfigError(unknown_name_message("split protocol", protocol, list(PROTOCOLS)))
    if num_train < 2:
        raise ConfigError(f"a search split needs at least 2 training images, got {num_train}")
    if seed < 0:
        raise ConfigError(f"split seed must be non-negative, got {seed}")
    if protocol == "full":
        everything = np.arange(num_train, dtype=np.int64)
        return SearchSplit(everything, everything.copy(), protocol, seed)
    if protocol == "half":
        order = np.arange(num_train, dtype=np.int64)
    else:
        order = np.random.default_rng(seed).permutation(num_train).astype(np.int64)
    cut = num_train // 2
    return SearchSplit(np.sort(order[:cut]), np.sort(order[cut:]), protocol, seed)


def dataset_split(ds: Dataset, protocol: str, seed: int, data_dir: str | Path) -> SearchSplit:
    """The split of a loaded dataset: the official NAS-Bench-201 files for "nb201_official", else
    `search_split` over the training images."""
    if protocol != "nb201_official":
        return search_split(ds.num_train, protocol, seed)
    official = OFFICIAL_SPLITS.get(ds.name)
    if official is None:
        raise ConfigError(
            f"data.split 'nb201_official': NAS-Bench-201 has no official split for dataset {ds.name!r} (it has "
            f"{', '.join(OFFICIAL_SPLITS)}); set data.split to 'half' or 'nb201' for this dataset"
        )
    path = Path(data_dir) / SPLIT_FOLDER / official.file
    lists = read_split_file(path, official)
    train_keep = np.arange(ds.num_train, dtype=np.int64)
    train_in_file = ds.num_train
    if official.train_key is not None:
        train_in_file = len(lists[official.train_key])
        train_keep = _present(lists[official.train_key], ds.train_index)
    valid_index = ds.train_index if official.valid_source == "train" else ds.test_index
    valid_keep = _present(lists[official.valid_key], valid_index)
    source = {
        "name": official.file,
        "path": str(path),
        "sha256": file_digest(path),
        "train_key": official.train_key or "(whole training set)",
        "valid_key": official.valid_key,
        "valid_source": official.valid_source,
        "train_in_file": train_in_file,
        "train_present": len(train_keep),
        "valid_in_file": len(lists[official.valid_key]),
        "valid_present": len(valid_keep),
    }
    if official.held_out_key is not None:
        source["held_out_key"] = official.held_out_key
        source["held_out_in_file"] = len(lists[official.held_out_key])
    for side, keep in (("weight", train_keep), ("architecture", valid_keep)):
        if len(keep) == 0:
            raise DataError(
                f"{path}: none of the {side} images of the official {ds.name} split are among the images loaded "
                f"(data.limit_train/limit_test or a partial download); load more images"
            )
    return SearchSplit(train_keep, valid_keep, protocol, seed, official.valid_source, source)


def read_split_file(path: Path, official: OfficialSplit) -> dict[str, np.ndarray]:
    """The index lists of an official split file (`{"key": ["int", ["0", "5", ...]], ...}`), checked."""
    if not path.is_file():
        raise DataError(
            f"NAS-Bench-201 split file {path} not found: copy {official.file} from AutoDL-Projects "
            f"configs/nas-benchmark/ into {path.parent}, or set data.split to another protocol"
        )
    digest = file_digest(path)
    if digest != official.sha256:
        raise DataError(
            f"{path}: sha256 {digest} is not that of the official {official.file} ({official.sha256}); "
            f"replace it with the file from AutoDL-Projects configs/nas-benchmark/"
        )
    raw = json.loads(path.read_text())
    lists = {}
    for key, (kind, values) in raw.items():
        idx = np.asarray([int(v) for v in values], dtype=np.int64)
        if kind != "int" or (idx.size and (idx.min() < 0 or idx.max() >= official.official_size)):
            raise DataError(f"{path}: key {key!r} must list int indices below {official.official_size}")
        lists[key] = idx
    return lists


def _present(wanted: np.ndarray, original_index: np.ndarray) -> np.ndarray:
    """Positions (sorted) of the loaded images whose original index is in `wanted`."""
    return np.flatnonzero(np.isin(original_index, wanted)).astype(np.int64)
