"""The suite runner: run directories, skipping finished runs, recording failures, the CLI's exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from nasbench_harness.cli import main
from nasbench_harness.engine import run_suite
from nasbench_harness.methods.darts import Darts

SUITE = """\
name: runner
profile: tiny
methods: [darts]
spaces: [nb201, s2]
datasets: [cifar10]
seeds: [0]
metrics: {ground_truth: false}
"""


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(SUITE)
    return path


def test_runs_leave_complete_records_and_rerun_skips(suite, tmp_path, reference_data_dir):
    results = tmp_path / "results"
    outcomes = run_suite(
        suite, results_dir=str(results), data_dir=str(reference_data_dir), device="cpu", report=lambda m: None
    )
    assert [o.status for o in outcomes] == ["finished", "finished"]
    directory = outcomes[0].directory
    assert directory.relative_to(results).parts[:4] == ("runs", "nb201", "cifar10", "darts")
    metadata = json.loads((directory / "metadata.json").read_text())
    assert metadata["config_hash"] == outcomes[0].config.config_hash()
    assert metadata["network"]["search_bn_track_running_stats"] is False
    assert metadata["method"]["order"] == "first"
    assert metadata["torch_version"] and metadata["split"]["protocol"] == "nb201_official"
    rows = [json.loads(line) for line in (directory / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1]
    assert {"train_loss", "valid_loss", "eval_valid_acc", "alphas", "genotype", "skip_cell"} <= rows[0].keys()
    result = json.loads((directory / "result.json").read_text())
    assert result["status"] == "finished" and result["genotype"] == rows[-1]["genotype"]

    again = run_suite(
        suite, results_dir=str(results), data_dir=str(reference_data_dir), device="cpu", report=lambda m: None
    )
    assert [o.status for o in again] == ["skipped", "skipped"]


def test_nan_loss_is_recorded_and_the_suite_goes_on(suite, tmp_path, reference_data_dir, monkeypatch):
    original = Darts.step

    def step(self, train, valid):
        stats = original(self, train, valid)
        return {**stats, "train_loss": float("nan")} if self.config.space == "nb201" else stats

    monkeypatch.setattr(Darts, "step", step)
    result = CliRunner().invoke(
        main,
        [
            "run",
            str(suite),
            "--results-dir",
            str(tmp_path / "r"),
            "--data-dir",
            str(reference_data_dir),
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 1
    assert "1 finished, 0 skipped, 1 failed" in result.output
    (failed,) = (tmp_path / "r").glob("runs/nb201/*/*/*/failed.json")
    assert "train_loss is nan at epoch 0, step 0" in json.loads(failed.read_text())["reason"]
    assert not (failed.parent / "result.json").exists()


def test_missing_data_fails_the_run_with_where_it_looked(suite, tmp_path, monkeypatch):
    monkeypatch.setenv("NASBENCH_OFFLINE", "1")
    outcomes = run_suite(
        suite, results_dir=str(tmp_path / "r"), data_dir=str(tmp_path / "empty"), device="cpu", report=lambda m: None
    )
    assert {o.status for o in outcomes} == {"failed"}
    assert str(tmp_path / "empty") in outcomes[0].reason


def test_bad_suite_is_one_line_error_without_traceback(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(SUITE.replace("darts]", "dartz]"))
    result = CliRunner().invoke(main, ["run", str(path)])
    assert result.exit_code != 0
    assert "unknown method 'dartz'" in result.output and "Traceback" not in result.output
