"""`nasbench data status` and `nasbench data download` through click's CliRunner."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from nasbench_harness.cli import main
from nasbench_harness.data import download as download_module
from nasbench_harness.data.download import Resource


def _run(*args: str):
    return CliRunner().invoke(main, ["data", *args])


def test_status_on_reference_data(reference_data_dir: Path) -> None:
    result = _run("status", "--data-dir", str(reference_data_dir))
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert "present" in lines["cifar10"] and "train 5,170, test 1,017" in lines["cifar10"]
    assert "present" in lines["cifar100"] and "train 486, test 916" in lines["cifar100"]
    assert "missing" in lines["svhn"] and str(reference_data_dir.resolve() / "svhn") in lines["svhn"]
    assert "nasbench data download svhn" in result.output and "no official direct download" in result.output


def test_status_reports_corrupt_files(tmp_path: Path, write_batch) -> None:
    folder = tmp_path / "cifar-100-python"
    write_batch(folder / "train", np.zeros((3, 3072), np.uint8), np.arange(3), "fine_labels")
    (folder / "test").write_bytes(b"\x80\x02}q")
    result = _run("status", "--data-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "corrupt" in result.output and f"{folder / 'test'} is not a readable" in result.output


def test_status_reports_corrupt_and_missing_files_together(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "test_batch").write_bytes(b"\x80\x02}q")  # the test split corrupt, the train split missing
    result = _run("status", "--data-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert f"{folder / 'test_batch'} is not a readable" in result.output
    assert "cifar10: missing" in result.output and "To get it: run `nasbench data download cifar10`" in result.output


def test_status_uses_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NASBENCH_DATA", str(tmp_path))
    result = _run("status")
    assert result.exit_code == 0 and f"data directory: {tmp_path}" in result.output


def test_download_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write_batch) -> None:
    """Served from a file:// URL: urllib handles it like HTTP apart from ranges, and needs no server."""
    staging = tmp_path / "staging" / "cifar-100-python"
    for name in ("train", "test"):
        write_batch(staging / name, np.zeros((2, 3072), np.uint8), np.arange(2), "fine_labels")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(staging, arcname="cifar-100-python")
    archive = tmp_path / "served.tar.gz"
    archive.write_bytes(buffer.getvalue())
    resource = Resource(archive.as_uri(), hashlib.md5(buffer.getvalue()).hexdigest(), "c100.tar.gz", extract=True)
    monkeypatch.setitem(download_module.RESOURCES, "cifar100", (resource,))
    root = tmp_path / "data"
    result = _run("download", "cifar100", "--data-dir", str(root))
    assert result.exit_code == 0, result.output
    assert f"cifar100: ready in {root / 'cifar-100-python'}" in result.output
    assert (root / "cifar-100-python" / "test").is_file()


def test_download_errors(tmp_path: Path) -> None:
    result = _run("download", "imagenet16-120", "--data-dir", str(tmp_path))
    assert result.exit_code != 0 and "no official direct download" in result.output
    assert "Traceback" not in result.output
    result = _run("download", "cifar10", "--extra", "--data-dir", str(tmp_path))
    assert result.exit_code != 0 and "has no option 'extra'" in result.output
    result = _run("download", "mnist", "--data-dir", str(tmp_path))
    assert result.exit_code == 2 and "cifar10" in result.output


def test_list_datasets_shows_every_dataset_with_its_folder_and_source() -> None:
    result = CliRunner().invoke(main, ["list", "datasets"])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.output.splitlines()[1:]}
    assert sorted(rows) == ["cifar10", "cifar100", "imagenet16-120", "svhn"]
    assert "cifar-10-batches-py/" in rows["cifar10"] and "downloaded on first use" in rows["cifar10"]
    assert "ImageNet16/" in rows["imagenet16-120"] and "manual" in rows["imagenet16-120"]
    assert rows["cifar100"].split()[1:3] == ["100", "32x32"]
