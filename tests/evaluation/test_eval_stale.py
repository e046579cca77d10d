"""Evaluation runs record the code that trained them and are reported stale like searches
(engine/runner.py): kept unless rerun_stale, extended `code_versions` when resumed by other code, and
marked in the retrained-error table and run list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from test_retrain import write_search_run

from nasbench_harness.cli import main
from nasbench_harness.engine.versions import current_code
from nasbench_harness.evaluation.jobs import eval_configs
from nasbench_harness.evaluation.protocols import EvalConfig
from nasbench_harness.evaluation.run import execute_evaluation
from nasbench_harness.results.evaluation_table import evaluation_runs_section, evaluation_section, load_evaluations

OLD = {"harness_version": "0.0.1", "git_commit": "deadbeefcafe0123"}
OVERRIDES = {
    "train": {"epochs": 1, "batch_size": 8},
    "network": {"layers": 2, "channels": 4},
    "data": {"limit_train": 8, "limit_test": 8},
}


@pytest.fixture
def finished(tmp_path: Path, reference_data_dir: Path) -> tuple[EvalConfig, Path]:
    """One finished 1-epoch retrain of a search's genotype, and its directory."""
    search = write_search_run(tmp_path)
    (config,) = eval_configs(str(search), dataset=None, space=None, seeds=[0], overrides=OVERRIDES)
    outcome = execute_evaluation(config, tmp_path, reference_data_dir, torch.device("cpu"))
    assert outcome.status == "finished", outcome.reason
    return config, outcome.directory


def _metadata(directory: Path) -> dict:
    return json.loads((directory / "metadata.json").read_text())


def _make_old(directory: Path) -> None:
    metadata = _metadata(directory)
    metadata.update(OLD, code_versions=[OLD])
    (directory / "metadata.json").write_text(json.dumps(metadata))


def test_finished_evaluation_of_another_version_is_stale_and_kept_unless_rerun(finished, tmp_path, reference_data_dir):
    config, directory = finished
    assert _metadata(directory)["code_versions"] == [current_code()]
    assert execute_evaluation(config, tmp_path, reference_data_dir, torch.device("cpu")).status == "skipped"
    _make_old(directory)
    before = (directory / "result.json").read_text()
    kept = execute_evaluation(config, tmp_path, reference_data_dir, torch.device("cpu"))
    assert kept.status == "stale" and "finished by nasbench_harness 0.0.1 (commit deadbeefcafe)" in kept.reason
    assert (directory / "result.json").read_text() == before
    evals = load_evaluations(tmp_path)
    assert evals["stale"].tolist() == [True] and evals["running"].tolist() == [False]
    section = evaluation_section(evals)
    assert section.table.set_index("space").loc["s3", "cifar10 darts_2nd"].endswith("(n=1) † ‡")
    assert any(note.startswith("‡ holds stale retrains") for note in section.notes)
    assert evaluation_runs_section(evals).table["status"].tolist() == ["finished (stale)"]
    args = ["evaluate", str(tmp_path / "runs/s3/cifar10/darts_2nd/0-abc"), "--epochs", "1", "--layers", "2"]
    args += ["--channels", "4", "--batch-size", "8", "--limit-train", "8", "--limit-test", "8"]
    args += ["--results-dir", str(tmp_path), "--data-dir", str(reference_data_dir), "--device", "cpu"]
    shown = CliRunner().invoke(main, args)
    assert shown.exit_code == 0 and "\nstale     final  seed 0  test error" in shown.output, shown.output
    rerun = CliRunner().invoke(main, [*args, "--rerun-stale"])
    assert rerun.exit_code == 0 and "\nfinished  final  seed 0  test error" in rerun.output, rerun.output
    (old,) = (directory / "previous").iterdir()
    assert json.loads((old / "metadata.json").read_text())["code_versions"] == [OLD]
    assert _metadata(directory)["code_versions"] == [current_code()]


def test_evaluation_resumed_by_other_code_records_both_and_is_stale(finished, tmp_path, reference_data_dir):
    """An unfinished evaluation (checkpoint, no result) started by an old version, resumed by this one."""
    config, directory = finished
    _make_old(directory)
    (directory / "result.json").unlink()
    messages: list[str] = []
    resumed = execute_evaluation(config, tmp_path, reference_data_dir, torch.device("cpu"), report=messages.append)
    assert resumed.status == "finished", resumed.reason
    assert any("warning: this evaluation was started by nasbench_harness 0.0.1" in m for m in messages), messages
    assert _metadata(directory)["code_versions"] == [OLD, current_code()]
    again = execute_evaluation(config, tmp_path, reference_data_dir, torch.device("cpu"))
    assert again.status == "stale", again.reason
