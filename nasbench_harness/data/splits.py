"""How a search divides the training set between network weights and architecture parameters."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from nasbench_harness.errors import ConfigError
from nasbench_harness.registry import unknown_name_message

PROTOCOLS = ("half", "nb201", "full")


@dataclass(frozen=True, eq=False)
class SearchSplit:
    """Indices into the training set: `train_idx` trains the weights, `valid_idx` the architecture."""

    train_idx: np.ndarray
    valid_idx: np.ndarray
    protocol: str
    seed: int

    def digest(self) -> str:
        """A short hash of both index lists: run metadata records it instead of the indices."""
        h = hashlib.sha256()
        h.update(self.train_idx.astype("<i8").tobytes())
        h.update(b"|")
        h.update(self.valid_idx.astype("<i8").tobytes())
        return h.hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "seed": self.seed,
            "num_train": len(self.train_idx),
            "num_valid": len(self.valid_idx),
            "sha256": self.digest(),
        }


def search_split(num_train: int, protocol: str, seed: int) -> SearchSplit:
    """The weight/architecture split of `num_train` training images under a search protocol.

    - "half": DARTS — the first half trains the weights, the second half the architecture. As in DARTS
      the halves are contiguous and do not depend on `seed` (the official training sets are already
      shuffled); `seed` is only recorded.
    - "nb201": NAS-Bench-201's cifar10-valid style — a random half (25k of 50k on CIFAR-10) for each, drawn
      with `seed`. The official fixed split file is not shipped, so indices differ from it, sizes do not.
    - "full": one-level methods — both sides are the whole training set.
    """
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
