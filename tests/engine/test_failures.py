"""A run that fails, however it fails, leaves failed.json with the real traceback; the suite goes on."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from nasbench_harness.cli import main
from nasbench_harness.engine import run_suite, runner
from nasbench_harness.methods.darts import Darts

#: nb201 seed 0 raises a TypeError in a step, seed 1 finds the disk full at its checkpoint, seed 2
#: finishes; every s2 run asks for a network torch cannot build.
SUITE = """\
name: failures
profile: tiny
methods: [darts]
spaces: [nb201, s2]
datasets: [cifar10]
seeds: [0, 1, 2]
train: {epochs: 1}
metrics: {ground_truth: false}
overrides:
  spaces:
    s2: {network: {channels: -4}}
"""


@pytest.fixture(scope="module")
def failing_suite(tmp_path_factory, reference_data_dir) -> tuple[object, Path]:
    tmp = tmp_path_factory.mktemp("failures")
    suite = tmp / "suite.yaml"
    suite.write_text(SUITE)
    original_step, original_save = Darts.step, runner.save_checkpoint

    def step(self, train, valid):
        if self.config.seed == 0:
            return self.no_such_helper(train, valid)  # a bug in a method: AttributeError
        return original_step(self, train, valid)

    def save_checkpoint(path, payload):
        if "/1-" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        original_save(path, payload)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Darts, "step", step)
        patch.setattr(runner, "save_checkpoint", save_checkpoint)
        args = ["run", str(suite), "--results-dir", str(tmp / "r"), "--data-dir", str(reference_data_dir)]
        result = CliRunner().invoke(main, [*args, "--device", "cpu"])
    return result, tmp / "r"


def failure(results: Path, space: str, seed: int) -> dict:
    (path,) = results.glob(f"runs/{space}/*/*/{seed}-*/failed.json")
    return json.loads(path.read_text())


def test_suite_goes_on_and_exits_1_with_the_summary(failing_suite):
    result, results = failing_suite
    assert result.exit_code == 1, result.output
    assert "1 finished, 0 skipped, 5 failed" in result.output
    assert "Traceback" not in result.output
    assert list(results.glob("runs/nb201/*/*/2-*/result.json"))


def test_unexpected_exception_is_recorded_with_its_traceback(failing_suite):
    result, results = failing_suite
    record = failure(results, "nb201", 0)
    assert record["reason"].startswith("unexpected AttributeError at ")
    assert "no_such_helper" in record["reason"]
    assert "Traceback (most recent call last)" in record["traceback"]
    assert "in step" in record["traceback"] and "NoneType: None" not in record["traceback"]
    assert "seed 0: failed - unexpected AttributeError at " in result.output  # said on the console too
    assert "failure recorded, with its traceback, in " in result.output


def test_disk_full_is_recorded_and_the_next_run_is_tried(failing_suite):
    _, results = failing_suite
    record = failure(results, "nb201", 1)
    assert "ENOSPC: No space left on device" in record["reason"] and "free disk space" in record["reason"]
    assert "checkpoint.pt" in record["reason"]
    assert "OSError" in record["traceback"]


def test_unbuildable_network_names_the_setting(failing_suite):
    _, results = failing_suite
    for seed in (0, 1, 2):
        reason = failure(results, "s2", seed)["reason"]
        assert "cannot build darts on s2 with network {'channels': -4" in reason
        assert "negative dimension" in reason and "Fix the suite's network" in reason


def test_progress_lines_give_position_and_eta_without_a_terminal(failing_suite):
    result, _ = failing_suite
    (line,) = [line for line in result.output.splitlines() if "[3/6] epoch 0 (1/1)" in line]
    assert "elapsed, ETA 0m00s" in line and "train_loss" in line


def test_failure_record_that_cannot_be_written_is_said_on_the_console(tmp_path, reference_data_dir, monkeypatch):
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE.replace("seeds: [0, 1, 2]", "seeds: [0]").replace("spaces: [nb201, s2]", "spaces: [s2]"))

    def write_failure(self, failure):
        raise OSError(errno.ENOSPC, "No space left on device", str(self.dir / "failed.json"))

    monkeypatch.setattr(runner.RunRecord, "write_failure", write_failure)
    messages: list[str] = []
    (outcome,) = run_suite(
        suite, results_dir=str(tmp_path / "r"), data_dir=str(reference_data_dir), device="cpu", report=messages.append
    )
    assert outcome.status == "failed" and "cannot build" in outcome.reason
    assert any("The failure record could not be written either: ENOSPC" in m for m in messages), messages


def test_keyboard_interrupt_still_stops_the_suite(tmp_path, reference_data_dir, monkeypatch):
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE.replace("spaces: [nb201, s2]", "spaces: [nb201]"))

    def step(self, train, valid):
        raise KeyboardInterrupt

    monkeypatch.setattr(Darts, "step", step)
    with pytest.raises(KeyboardInterrupt):
        run_suite(suite, results_dir=str(tmp_path / "r"), data_dir=str(reference_data_dir), device="cpu")


def test_results_directory_under_a_file_is_one_clear_error(tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    (tmp_path / "file").write_text("")
    result = CliRunner().invoke(main, ["run", str(suite), "--results-dir", str(tmp_path / "file" / "results")])
    assert result.exit_code == 1
    assert f"cannot create the results directory {tmp_path / 'file' / 'results'}: " in result.output
    assert f"{tmp_path / 'file'} is a file, not a directory" in result.output and "--results-dir" in result.output
    assert "Traceback" not in result.output


def test_executor_option_lists_the_registered_executors():
    assert "--executor [local|pool|ray|slurm]" in CliRunner().invoke(main, ["run", "--help"]).output
    result = CliRunner().invoke(main, ["run", "suite.yaml", "--executor", "slurmm"])
    assert result.exit_code == 2 and "Invalid value for '--executor'" in result.output
