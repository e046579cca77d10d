"""Search splits: sizes per protocol, disjointness, reproducibility, metadata without indices."""

from __future__ import annotations

import numpy as np
import pytest

from nasbench_harness.data import search_split
from nasbench_harness.errors import ConfigError


@pytest.mark.parametrize("protocol", ["half", "nb201"])
@pytest.mark.parametrize("n", [50_000, 5_170, 7])
def test_halves_are_disjoint_and_cover(protocol: str, n: int) -> None:
    split = search_split(n, protocol, seed=3)
    assert len(split.train_idx) == n // 2 and len(split.valid_idx) == n - n // 2
    assert split.train_idx.dtype == np.int64 and split.valid_idx.dtype == np.int64
    assert np.intersect1d(split.train_idx, split.valid_idx).size == 0
    assert np.array_equal(np.sort(np.concatenate([split.train_idx, split.valid_idx])), np.arange(n))


def test_half_is_darts_contiguous_split() -> None:
    split = search_split(10, "half", seed=5)
    assert split.train_idx.tolist() == [0, 1, 2, 3, 4] and split.valid_idx.tolist() == [5, 6, 7, 8, 9]
    assert search_split(10, "half", seed=6).digest() == split.digest()


def test_nb201_is_random_and_reproducible() -> None:
    a, b, c = (search_split(50_000, "nb201", seed) for seed in (0, 0, 1))
    assert np.array_equal(a.train_idx, b.train_idx) and np.array_equal(a.valid_idx, b.valid_idx)
    assert not np.array_equal(a.train_idx, c.train_idx)
    assert len(a.train_idx) == 25_000 and a.train_idx.max() > 25_000


def test_full_uses_everything_twice() -> None:
    split = search_split(9, "full", seed=0)
    assert split.train_idx.tolist() == split.valid_idx.tolist() == list(range(9))


def test_metadata_records_sizes_and_hash_only() -> None:
    meta = search_split(5_170, "nb201", seed=2).to_dict()
    assert meta["protocol"] == "nb201" and meta["seed"] == 2
    assert (meta["num_train"], meta["num_valid"]) == (2_585, 2_585)
    assert len(meta["sha256"]) == 16 and meta["sha256"] != search_split(5_170, "nb201", seed=3).to_dict()["sha256"]
    assert all(not isinstance(value, np.ndarray | list) for value in meta.values())


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="Did you mean 'half'"):
        search_split(10, "halve", 0)
    with pytest.raises(ConfigError, match="at least 2"):
        search_split(1, "half", 0)
    with pytest.raises(ConfigError, match="non-negative"):
        search_split(10, "nb201", -1)
