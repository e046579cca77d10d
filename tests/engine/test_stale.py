"""Finished runs of another harness version are reported stale, resumes check the config hash, and a
run without ground truth says so at its start and in the report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import nasbench_harness
from nasbench_harness.cli import main
from nasbench_harness.engine import run_suite
from nasbench_harness.engine.versions import git_commit
from nasbench_harness.metrics.groundtruth import ground_truth_notice
from nasbench_harness.results.report import write_report
from nasbench_harness.spaces import get_space
from nasbench_harness.testing import TINY_NETWORK

SUITE = """\
name: stale
profile: tiny
methods: [darts]
spaces: [nb201]
datasets: [cifar10]
seeds: [0]
train: {epochs: 1}
metrics: {ground_truth: false}
"""


@pytest.fixture(scope="module")
def finished(tmp_path_factory, reference_data_dir) -> Path:
    """A results tree holding one finished run (copied by each test)."""
    tmp = tmp_path_factory.mktemp("finished")
    (tmp / "suite.yaml").write_text(SUITE)
    (outcome,) = run_suite(
        tmp / "suite.yaml",
        results_dir=str(tmp / "r"),
        data_dir=str(reference_data_dir),
        device="cpu",
        report=lambda m: None,
    )
    assert outcome.status == "finished"
    return tmp


def copy(finished: Path, tmp_path: Path) -> tuple[Path, Path]:
    shutil.copytree(finished, tmp_path / "t")
    (directory,) = (tmp_path / "t" / "r" / "runs").glob("*/*/*/*")
    return tmp_path / "t", directory


def make_old(directory: Path) -> None:
    metadata = json.loads((directory / "metadata.json").read_text())
    metadata.update(harness_version="0.0.1", git_commit="deadbeefcafe0123")
    metadata.pop("code_versions")  # records of older harnesses name one version
    (directory / "metadata.json").write_text(json.dumps(metadata))


def cli(root: Path, data_dir: Path, *extra: str):
    args = ["run", str(root / "suite.yaml"), "--results-dir", str(root / "r"), "--data-dir", str(data_dir)]
    return CliRunner().invoke(main, [*args, "--device", "cpu", *extra])


def test_run_of_another_version_is_reported_stale_and_kept(finished, tmp_path, reference_data_dir):
    root, directory = copy(finished, tmp_path)
    make_old(directory)
    before = (directory / "result.json").read_text()
    result = cli(root, reference_data_dir)
    assert result.exit_code == 0, result.output
    now = f"{nasbench_harness.__version__} (commit {(git_commit() or 'unknown')[:12]})"
    assert f"stale: finished by nasbench_harness 0.0.1 (commit deadbeefcafe), this is {now}" in result.output
    assert "0 finished, 0 skipped, 0 failed, 1 stale" in result.output
    assert (directory / "result.json").read_text() == before


def test_rerun_stale_moves_the_old_record_aside_and_reruns(finished, tmp_path, reference_data_dir):
    root, directory = copy(finished, tmp_path)
    make_old(directory)
    old_result = (directory / "result.json").read_text()
    result = cli(root, reference_data_dir, "--rerun-stale")
    assert result.exit_code == 0, result.output
    assert "1 finished, 0 skipped, 0 failed" in result.output
    (previous,) = (directory / "previous").iterdir()
    assert (previous / "result.json").read_text() == old_result
    assert {"checkpoint.pt", "metadata.json", "metrics.jsonl"} <= {p.name for p in previous.iterdir()}
    metadata = json.loads((directory / "metadata.json").read_text())
    assert metadata["harness_version"] == nasbench_harness.__version__ and metadata["git_commit"] == git_commit()
    assert len((directory / "metrics.jsonl").read_text().splitlines()) == 1


def test_resume_by_other_code_is_said_recorded_and_then_stale(finished, tmp_path, reference_data_dir):
    """A run started on one commit and resumed on another mixes code: warn, keep both in metadata, and
    report the finished run stale (it used to record only the resuming commit and look current)."""
    root, directory = copy(finished, tmp_path)
    make_old(directory)
    (directory / "result.json").unlink()  # killed after its last checkpoint, before result.json
    result = cli(root, reference_data_dir)
    assert result.exit_code == 0, result.output
    assert "warning: this run was started by nasbench_harness 0.0.1 (commit deadbeefcafe)" in result.output
    versions = json.loads((directory / "metadata.json").read_text())["code_versions"]
    assert versions == [
        {"harness_version": "0.0.1", "git_commit": "deadbeefcafe0123"},
        {"harness_version": nasbench_harness.__version__, "git_commit": git_commit()},
    ]
    again = cli(root, reference_data_dir)
    assert "0 finished, 0 skipped, 0 failed, 1 stale" in again.output, again.output


def test_checkpoint_of_another_config_is_not_resumed(finished, tmp_path, reference_data_dir):
    root, directory = copy(finished, tmp_path)
    (directory / "result.json").unlink()
    payload = torch.load(directory / "checkpoint.pt", weights_only=True)
    torch.save({**payload, "config_hash": "0123456789ab"}, directory / "checkpoint.pt")
    (outcome,) = run_suite(
        root / "suite.yaml",
        results_dir=str(root / "r"),
        data_dir=str(reference_data_dir),
        device="cpu",
        report=lambda m: None,
    )
    assert outcome.status == "failed"
    assert "written by a run with config hash 0123456789ab" in outcome.reason
    assert f"this run's config hash is {outcome.config.config_hash()}" in outcome.reason
    assert not (directory / "result.json").exists()


def without_ground_truth(tmp_path: Path, reference_data_dir: Path) -> Path:
    """A data directory with CIFAR-10 and the NB201 split files but neither ground-truth file."""
    data = tmp_path / "data"
    (data / "nb201").mkdir(parents=True)
    (data / "cifar-10-batches-py").symlink_to(reference_data_dir / "cifar-10-batches-py")
    (data / "nb201" / "splits").symlink_to(reference_data_dir / "nb201" / "splits")
    return data


def test_missing_ground_truth_is_said_at_the_start_and_in_the_report(tmp_path, reference_data_dir):
    data = without_ground_truth(tmp_path, reference_data_dir)
    (tmp_path / "suite.yaml").write_text(SUITE.replace("metrics: {ground_truth: false}\n", ""))
    messages: list[str] = []
    (outcome,) = run_suite(
        tmp_path / "suite.yaml",
        results_dir=str(tmp_path / "r"),
        data_dir=str(data),
        device="cpu",
        report=messages.append,
    )
    assert outcome.status == "finished"
    first_epoch = next(i for i, m in enumerate(messages) if "epoch 0" in m)
    notices = [i for i, m in enumerate(messages) if "no ground truth for this run" in m]
    assert notices and notices[0] < first_epoch
    assert "no NAS-Bench-201 ground truth in" in messages[notices[0]]
    report = write_report(tmp_path / "r", tmp_path / "report", pdf=False)
    text = report.markdown.read_text()
    assert "Runs without ground truth" in text and "no NAS-Bench-201 ground truth in" in text
    assert "Runs without ground truth" in report.html.read_text()


def test_missing_surrogate_is_named_for_darts_spaces(tmp_path, reference_data_dir):
    from nasbench_harness.config import RunConfig

    data = without_ground_truth(tmp_path, reference_data_dir)
    config = RunConfig(method="darts", space="s2", dataset="cifar10", seed=0)
    genotype = get_space("s2").build_supernet(num_classes=10, **TINY_NETWORK["s2"]).genotype()
    provenance: dict = {}
    notice = ground_truth_notice(config, genotype, data, provenance)
    assert notice and "NAS-Bench-301 surrogate" in notice
    assert provenance["ground_truth"] == {"available": False, "why": notice}
    assert ground_truth_notice(config, genotype, reference_data_dir, {}) is None
