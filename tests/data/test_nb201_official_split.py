"""NAS-Bench-201's official search splits (xautodl `get_nas_search_loaders`) on the real partial samples."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from nasbench_harness.data import PairedBatches, dataset_split, load_dataset, search_split
from nasbench_harness.data.splits import SPLIT_FOLDER
from nasbench_harness.errors import ConfigError, DataError
from nasbench_harness.fileio import file_digest


def _lists(data_dir: Path, name: str) -> dict[str, set[int]]:
    raw = json.loads((data_dir / SPLIT_FOLDER / name).read_text())
    return {key: {int(v) for v in values} for key, (_, values) in raw.items()}


@pytest.fixture(scope="module")
def cifar100(reference_data_dir: Path):
    return load_dataset("cifar100", reference_data_dir, download=False)


def test_images_keep_their_official_index(cifar10) -> None:
    """The sample holds a prefix of each of the five batches: image 0 of data_batch_2 is image 10000."""
    first = 1102  # images in the sample's data_batch_1
    assert cifar10.train_index[first - 1] == first - 1 and cifar10.train_index[first] == 10_000
    assert cifar10.train_index[-1] < 50_000 and len(set(cifar10.train_index)) == cifar10.num_train


def test_cifar10_uses_the_fixed_file_intersected(cifar10, reference_data_dir: Path) -> None:
    split = dataset_split(cifar10, "nb201_official", 0, reference_data_dir)
    lists = _lists(reference_data_dir, "cifar-split.txt")
    train_original = set(cifar10.train_index[split.train_idx].tolist())
    valid_original = set(cifar10.train_index[split.valid_idx].tolist())
    present = set(cifar10.train_index.tolist())
    assert train_original == lists["train"] & present and valid_original == lists["valid"] & present
    assert split.valid_source == "train" and not train_original & valid_original
    meta = split.to_dict()["file"]
    path = reference_data_dir / SPLIT_FOLDER / "cifar-split.txt"
    assert meta["name"] == "cifar-split.txt" and meta["sha256"] == file_digest(path)
    assert (meta["train_in_file"], meta["valid_in_file"]) == (25_000, 25_000)
    assert (meta["train_present"], meta["valid_present"]) == (len(train_original), len(valid_original))
    assert 0 < meta["train_present"] < cifar10.num_train


def test_cifar100_weights_on_all_training_images_alpha_on_test_xvalid(cifar100, reference_data_dir: Path) -> None:
    split = dataset_split(cifar100, "nb201_official", 0, reference_data_dir)
    lists = _lists(reference_data_dir, "cifar100-test-split.txt")
    assert np.array_equal(split.train_idx, np.arange(cifar100.num_train))
    assert split.valid_source == "test"
    assert set(cifar100.test_index[split.valid_idx].tolist()) == lists["xvalid"] & set(range(cifar100.num_test))
    meta = split.to_dict()["file"]
    assert meta["held_out_key"] == "xtest" and meta["valid_in_file"] == 5_000 and meta["held_out_in_file"] == 5_000

    # The α batches are those test images, unaugmented here so the pixels can be compared.
    batches = PairedBatches(cifar100, split, batch_size=16, augment=False, valid_sampling="nb201_random")
    scale = 255 * torch.tensor(cifar100.std).view(1, 3, 1, 1)
    shift = 255 * torch.tensor(cifar100.mean).view(1, 3, 1, 1)
    xvalid = cifar100.test_images[torch.from_numpy(split.valid_idx)].float()
    for (x, _), (xv, yv) in batches.epoch(0):
        pixels = (xv * scale + shift).round()
        match = (pixels[:, None] == xvalid[None]).flatten(2).all(2)  # [batch, xvalid]
        assert match.any(1).all() and len(xv) == len(x)
        assert torch.equal(yv, cifar100.test_labels[torch.from_numpy(split.valid_idx)][match.float().argmax(1)])


def test_nb201_random_draws_one_valid_image_per_training_image_with_replacement(cifar100, reference_data_dir):
    split = dataset_split(cifar100, "nb201_official", 0, reference_data_dir)
    batches = PairedBatches(cifar100, split, batch_size=64, augment=False, valid_sampling="nb201_random")
    sizes = [(len(y), len(yv)) for (_, y), (_, yv) in batches.epoch(0)]
    assert len(sizes) == -(-cifar100.num_train // 64) and all(a == b for a, b in sizes)  # 486: 7 full + 38
    starts = batches._plan(0, 0.0)[1]
    per_step = torch.tensor([n for pair in sizes for n in pair]).cumsum(0)
    valid_rows = torch.cat([starts[per_step[2 * k] : per_step[2 * k + 1]] for k in range(4)])
    # With replacement: images repeat within 4 steps although they draw fewer images than xvalid holds.
    assert len(valid_rows) < len(split.valid_idx) and len(set(valid_rows.tolist())) < len(valid_rows)


def test_darts_fresh_batch_is_distinct_full_and_drawn_anew(synthetic) -> None:
    ds = synthetic(n=200)
    split = search_split(200, "half", 0)
    batches = PairedBatches(ds, split, batch_size=16, augment=False)  # default: DARTS
    steps = list(batches.epoch(0))
    assert len(steps) == 7 and len(steps[-1][0][1]) == 100 - 6 * 16  # no drop_last
    valid_batches = [yv for _, (_, yv) in steps]
    assert all(len(v) == 16 and len(set(v.tolist())) == 16 for v in valid_batches)
    # Fresh batches, not a walk through one permutation: the first 96 draws of 100 images repeat some.
    seen = torch.cat(valid_batches[:6]).tolist()
    assert len(set(seen)) < len(seen)


def test_missing_altered_or_uncovered_split_files_are_clear_errors(cifar10, reference_data_dir, tmp_path) -> None:
    with pytest.raises(DataError, match="cifar-split.txt not found"):
        dataset_split(cifar10, "nb201_official", 0, tmp_path)
    folder = tmp_path / SPLIT_FOLDER
    folder.mkdir(parents=True)
    shutil.copy(reference_data_dir / SPLIT_FOLDER / "cifar-split.txt", folder)
    with (folder / "cifar-split.txt").open("a") as f:
        f.write("\n")
    with pytest.raises(DataError, match="is not that of the official cifar-split.txt"):
        dataset_split(cifar10, "nb201_official", 0, tmp_path)
    svhn_like = type(cifar10)(**{**cifar10.__dict__, "name": "svhn"})
    with pytest.raises(ConfigError, match="no official split for dataset 'svhn'"):
        dataset_split(svhn_like, "nb201_official", 0, reference_data_dir)
