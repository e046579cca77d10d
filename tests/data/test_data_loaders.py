"""Loaders on the real CIFAR samples and on SVHN / ImageNet16 files written in the official formats."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from nasbench_harness.data import dataset_status, list_datasets, load_dataset
from nasbench_harness.data import download as download_module
from nasbench_harness.errors import ConfigError, DataError


def test_registered_datasets() -> None:
    assert list_datasets() == ["cifar10", "cifar100", "imagenet16-120", "svhn"]


def test_cifar10_reference_sample(cifar10, reference_data_dir: Path) -> None:
    ds = cifar10
    assert ds.train_images.shape == (5170, 3, 32, 32) and ds.train_images.dtype == torch.uint8
    assert ds.test_images.shape == (1017, 3, 32, 32) and ds.test_labels.dtype == torch.int64
    assert ds.train_labels.shape == (5170,) and ds.train_labels.dtype == torch.int64
    assert ds.test_labels[:8].tolist() == [3, 8, 8, 0, 6, 6, 1, 6]
    assert set(ds.train_labels.unique().tolist()) == set(range(10))
    assert (ds.num_classes, ds.crop_padding, ds.image_size) == (10, 4, 32)
    assert len(ds.source_files) == 6 and ds.source_files[-1].endswith("test_batch")
    with open(reference_data_dir / "cifar-10-batches-py" / "data_batch_1", "rb") as fh:
        raw = pickle.load(fh, encoding="latin1")["data"]
    assert torch.equal(ds.train_images[0], torch.from_numpy(raw[0].reshape(3, 32, 32)))  # channel-major rows
    assert ds.to_dict()["num_train"] == 5170


def test_cifar100_reference_sample(reference_data_dir: Path) -> None:
    ds = load_dataset("cifar100", reference_data_dir, download=False)
    assert ds.train_images.shape == (486, 3, 32, 32) and ds.test_images.shape == (916, 3, 32, 32)
    assert ds.train_images.dtype == torch.uint8 and ds.train_labels.dtype == torch.int64
    assert int(ds.train_labels.min()) >= 0 and int(ds.test_labels.max()) <= 99 and ds.num_classes == 100


def test_limits_keep_a_prefix(cifar10, reference_data_dir: Path) -> None:
    ds = load_dataset("cifar10", reference_data_dir, download=False, limit_train=100, limit_test=7)
    assert ds.num_train == 100 and ds.num_test == 7
    assert [Path(f).name for f in ds.source_files] == ["data_batch_1", "test_batch"]  # only the files read
    assert torch.equal(ds.train_images, cifar10.train_images[:100])
    assert load_dataset("cifar100", reference_data_dir, download=False, limit_train=10**6).num_train == 486


def test_data_dir_from_environment(monkeypatch: pytest.MonkeyPatch, reference_data_dir: Path) -> None:
    monkeypatch.setenv("NASBENCH_DATA", str(reference_data_dir))
    assert load_dataset("cifar100", None, download=False, limit_test=0).num_test == 0


def test_svhn(tmp_path: Path, make_svhn) -> None:
    written = make_svhn({"train": 50, "test": 20})
    ds = load_dataset("svhn", tmp_path, download=False)
    x, y = written["train"]
    assert ds.train_images.shape == (50, 3, 32, 32) and ds.test_images.shape == (20, 3, 32, 32)
    assert torch.equal(ds.train_images[3], torch.from_numpy(x[..., 3].transpose(2, 0, 1).copy()))
    assert ds.train_labels.tolist() == (y % 10).tolist() and ds.train_labels[0] == 0  # 10 means digit 0
    assert (ds.crop_padding, ds.num_classes) == (4, 10)


def test_svhn_extra_only_on_request(tmp_path: Path, make_svhn) -> None:
    make_svhn({"train": 10, "test": 5, "extra": 7})
    assert load_dataset("svhn", tmp_path, download=False).num_train == 10
    ds = load_dataset("svhn", tmp_path, download=False, extra=True)
    assert ds.num_train == 17 and ds.source_files[1].endswith("extra_32x32.mat")
    (tmp_path / "svhn" / "extra_32x32.mat").unlink()
    with pytest.raises(DataError, match="extra_32x32.mat"):
        load_dataset("svhn", tmp_path, download=False, extra=True)


def test_imagenet16_keeps_first_120_classes(tmp_path: Path, make_imagenet16) -> None:
    written = make_imagenet16(per_file=30)
    ds = load_dataset("imagenet16-120", tmp_path, download=False)
    data = np.concatenate([written[f"train_data_batch_{i}"][0] for i in range(1, 11)])
    labels = np.concatenate([written[f"train_data_batch_{i}"][1] for i in range(1, 11)])
    keep = labels <= 120
    assert ds.train_images.shape == (keep.sum(), 3, 16, 16)
    assert ds.train_labels.tolist() == (labels[keep] - 1).tolist()
    assert torch.equal(ds.train_images, torch.from_numpy(data[keep].reshape(-1, 3, 16, 16)))
    assert ds.test_labels.min() >= 0 and ds.test_labels.max() <= 119 and ds.train_labels[0] == 0
    assert (ds.crop_padding, ds.image_size, ds.num_classes) == (2, 16, 120)


def _cifar_dir(tmp_path: Path, write_batch) -> Path:
    folder = tmp_path / "cifar-100-python"
    rng = np.random.default_rng(0)
    for name in ("train", "test"):
        write_batch(folder / name, rng.integers(0, 256, (8, 3072), dtype=np.uint8), np.arange(8), "fine_labels")
    return folder


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda p, w: p.write_bytes(p.read_bytes()[:5000]), "truncated or corrupt"),
        (lambda p, w: p.write_bytes(b"this is not a pickle"), "not a readable cifar100 python-pickle batch"),
        (lambda p, w: p.write_bytes(pickle.dumps([1, 2, 3])), "expected a pickled dict"),
        (lambda p, w: w(p, np.zeros((8, 3072), np.uint8), np.arange(8)), "missing fine_labels"),
        (lambda p, w: w(p, np.zeros((8, 1024), np.uint8), np.arange(8), "fine_labels"), "N x 3072"),
        (lambda p, w: w(p, np.zeros((8, 3072), np.float32), np.arange(8), "fine_labels"), "uint8"),
        (lambda p, w: w(p, np.zeros((8, 3072), np.uint8), np.arange(7), "fine_labels"), "8 images but 7"),
        (lambda p, w: w(p, np.zeros((8, 3072), np.uint8), np.arange(8) + 95, "fine_labels"), "0..99"),
    ],
)
def test_bad_cifar_file(tmp_path: Path, corrupt, message: str, write_batch) -> None:
    path = _cifar_dir(tmp_path, write_batch) / "train"
    corrupt(path, write_batch)
    with pytest.raises(DataError, match=message) as err:
        load_dataset("cifar100", tmp_path, download=False)
    assert str(path) in str(err.value)


class _Exploit:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickle_may_not_call_code(tmp_path: Path, capsys: pytest.CaptureFixture[str], write_batch) -> None:
    path = _cifar_dir(tmp_path, write_batch) / "test"
    path.write_bytes(pickle.dumps({"data": _Exploit(), "fine_labels": []}, protocol=2))
    with pytest.raises(DataError, match=r"\.print, which a dataset file never needs"):
        load_dataset("cifar100", tmp_path, download=False)
    assert "pwned" not in capsys.readouterr().out


def test_bad_svhn_files(tmp_path: Path, make_svhn, write_mat) -> None:
    make_svhn({"train": 4, "test": 4})
    path = tmp_path / "svhn" / "test_32x32.mat"
    for write, message in [
        (lambda: path.write_bytes(path.read_bytes()[:300]), "truncated or corrupt"),
        (lambda: path.write_bytes(b"\0" * 200), "not a readable SVHN .mat file"),
        (lambda: write_mat(path, np.zeros((32, 32, 4, 3), np.uint8), np.ones(3)), "32 x 32 x 3 x N"),
        (lambda: write_mat(path, np.zeros((32, 32, 3, 3), np.uint8), np.zeros(3)), "1..10"),
    ]:
        write()
        with pytest.raises(DataError, match=message) as err:
            load_dataset("svhn", tmp_path, download=False)
        assert str(path) in str(err.value)
    from scipy.io import savemat

    savemat(path, {"X": np.zeros((32, 32, 3, 3), np.uint8)})
    with pytest.raises(DataError, match="variable y is missing"):
        load_dataset("svhn", tmp_path, download=False)


def test_imagenet16_label_range_checked(tmp_path: Path, make_imagenet16, write_batch) -> None:
    make_imagenet16(per_file=4)
    write_batch(tmp_path / "ImageNet16" / "val_data", np.zeros((2, 768), np.uint8), np.array([0, 5]))
    with pytest.raises(DataError, match="1..1000"):
        load_dataset("imagenet16-120", tmp_path, download=False)


def test_missing_dataset_says_where_and_how(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NASBENCH_OFFLINE", raising=False)
    with pytest.raises(DataError) as err:
        load_dataset("cifar10", tmp_path, download=False)
    text = str(err.value)
    assert str(tmp_path) in text and "cifar-10-batches-py/data_batch_1" in text and "download=False" in text
    assert "nasbench data download cifar10" in text
    with pytest.raises(DataError, match="no official direct download") as err:
        load_dataset("imagenet16-120", tmp_path)
    assert "ImageNet16/val_data" in str(err.value)


def test_offline_mode_never_downloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args, **kwargs):
        raise AssertionError("offline mode must not download")

    monkeypatch.setattr(download_module, "download_file", forbidden)
    monkeypatch.setenv("NASBENCH_OFFLINE", "1")
    with pytest.raises(DataError, match="offline mode"):
        load_dataset("svhn", tmp_path)


def test_bad_names_and_options(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Did you mean 'cifar10'"):
        load_dataset("cifar-10", tmp_path)
    with pytest.raises(ConfigError, match="has no option 'extra'"):
        load_dataset("cifar10", tmp_path, extra=True)
    with pytest.raises(ConfigError, match="limit_train"):
        load_dataset("cifar10", tmp_path, limit_train=-1)


def test_status(tmp_path: Path, make_svhn, reference_data_dir: Path, write_batch) -> None:
    make_svhn({"train": 6, "test": 3, "extra": 2})
    (_cifar_dir(tmp_path, write_batch) / "test").write_bytes(b"junk")
    status = {st.name: st for st in dataset_status(tmp_path)}
    assert status["svhn"].present and status["svhn"].counts == {"train": 6, "test": 3, "extra": 2}
    assert not status["cifar100"].present and "cifar-100-python/test is not a readable" in status["cifar100"].error
    assert status["cifar100"].counts == {"train": 8, "test": None}
    assert status["cifar10"].missing[0] == "cifar-10-batches-py/data_batch_1"
    reference = {st.name: st for st in dataset_status(reference_data_dir)}
    assert reference["cifar10"].counts == {"train": 5170, "test": 1017}
    assert reference["cifar100"].counts == {"train": 486, "test": 916}
