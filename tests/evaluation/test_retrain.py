"""A tiny CPU retrain on the real CIFAR-10 sample: end to end from a search's run directory, resumed after
SIGKILL to the same result, and shown in the aggregated S1–S4 table, the leaderboard and the report."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from nasbench_harness.cli import main
from nasbench_harness.evaluation.jobs import eval_configs, select_then_evaluate
from nasbench_harness.evaluation.protocols import EvalConfig
from nasbench_harness.evaluation.run import execute_evaluation
from nasbench_harness.results import load_results, write_leaderboard
from nasbench_harness.results.evaluation_table import evaluation_section, load_evaluations, report_sections

S3_GENOTYPE = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), "
    "('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 1)], normal_concat=range(2, 6), "
    "reduce=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('skip_connect', 2), ('sep_conv_3x3', 1), ('none', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('sep_conv_3x3', 0)], reduce_concat=range(2, 6))"
)
TINY = [
    "--epochs",
    "2",
    "--layers",
    "2",
    "--channels",
    "4",
    "--batch-size",
    "8",
    "--limit-train",
    "16",
    "--limit-test",
    "16",
]
TIMING = {"epoch_seconds", "train_seconds"}

KILLED_AFTER_FIRST_CHECKPOINT = """
import os, signal, sys
from pathlib import Path
import torch
torch.set_num_threads(1)
import nasbench_harness.evaluation.run as run
from nasbench_harness.evaluation.protocols import EvalConfig

original = run.save_checkpoint
def save_then_die(path, payload):
    original(path, payload)
    os.kill(os.getpid(), signal.SIGKILL)
run.save_checkpoint = save_then_die
config = EvalConfig.model_validate_json(Path(sys.argv[1]).read_text())
run.execute_evaluation(config, Path(sys.argv[2]), Path(sys.argv[3]), torch.device("cpu"))
"""


def write_search_run(root: Path, seed: int = 0, genotype: str = S3_GENOTYPE) -> Path:
    """A finished darts_2nd search on S3 / CIFAR-10, as the engine leaves it (only what evaluation reads)."""
    config = {"method": "darts_2nd", "space": "s3", "dataset": "cifar10", "seed": seed, "train": {"epochs": 2}}
    directory = root / "runs" / "s3" / "cifar10" / "darts_2nd" / f"{seed}-abc"
    directory.mkdir(parents=True)
    (directory / "metadata.json").write_text(json.dumps({"config": config, "config_hash": "abc", "device": "cpu"}))
    row = {"epoch": 1, "segment": 0, "eval_valid_acc": 50.0, "genotype": genotype, "epoch_seconds": 1.0}
    (directory / "metrics.jsonl").write_text(json.dumps(row) + "\n")
    result = {"status": "finished", "genotype": genotype, "final": row, "epochs_run": 2}
    (directory / "result.json").write_text(json.dumps(result))
    return directory


def _rows(directory: Path) -> list[dict]:
    lines = (directory / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in lines]


def _result(directory: Path) -> dict:
    return {k: v for k, v in json.loads((directory / "result.json").read_text()).items() if k not in TIMING}


def test_retrain_end_to_end_resume_after_kill_and_table(tmp_path: Path, reference_data_dir: Path):
    straight_root = tmp_path / "straight"
    search = write_search_run(straight_root)
    cli = CliRunner().invoke(
        main,
        ["evaluate", str(search), *TINY, "--seeds", "0,1", "--results-dir", str(straight_root),
         "--data-dir", str(reference_data_dir), "--device", "cpu"],
    )  # fmt: skip
    assert cli.exit_code == 0, cli.output
    evals = load_evaluations(straight_root)
    assert list(evals["status"]) == ["finished", "finished"] and list(evals["seed"]) == [0, 1]
    assert (evals["search_run"] == "runs/s3/cifar10/darts_2nd/0-abc").all()
    assert evals["test_error"].between(0, 100).all() and (evals["params_mb"] > 0).all()

    # the same run, SIGKILLed right after its first epoch's checkpoint, then resumed
    config = eval_configs(str(search), dataset=None, space=None, seeds=[0], overrides={
        "train": {"epochs": 2, "batch_size": 8}, "network": {"layers": 2, "channels": 4},
        "data": {"limit_train": 16, "limit_test": 16}})[0]  # fmt: skip
    straight_dir = straight_root / config.relative_dir()
    assert straight_dir.is_dir(), "the CLI and eval_configs must build the same configuration"
    resumed_root = tmp_path / "resumed"
    (tmp_path / "config.json").write_text(config.model_dump_json())
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER_FIRST_CHECKPOINT, str(tmp_path / "config.json"), str(resumed_root),
         str(reference_data_dir)],
        env={**os.environ, "NASBENCH_OFFLINE": "1"}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    resumed_dir = resumed_root / config.relative_dir()
    assert [r["epoch"] for r in _rows(resumed_dir)] == [0] and not (resumed_dir / "result.json").exists()
    outcome = execute_evaluation(config, resumed_root, reference_data_dir, torch.device("cpu"))
    assert outcome.status == "finished", outcome.reason
    assert _rows(resumed_dir) == _rows(straight_dir)
    assert _result(resumed_dir) == _result(straight_dir)
    weights = [torch.load(d / "checkpoint.pt", weights_only=True)["net"] for d in (straight_dir, resumed_dir)]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    again = execute_evaluation(config, resumed_root, reference_data_dir, torch.device("cpu"))
    assert again.status == "skipped"

    # aggregated: the S1–S4 table (published DARTS S3 / CIFAR-10 beside), the leaderboard, the report
    section = evaluation_section(evals)
    assert section is not None
    row = section.table.set_index("space").loc["s3"]
    mean, std = evals["test_error"].mean(), evals["test_error"].std()
    assert row["cifar10 darts_2nd"] == f"{mean:.2f} ± {std:.2f} (n=2) †"
    assert row["cifar10 darts_2nd (published)"] == "3.34"
    assert any("not the full published protocol" in n for n in section.notes)
    board = write_leaderboard(load_results(straight_root).runs, tmp_path / "board.csv", straight_root)
    s3 = board.set_index("space").loc["s3"]
    assert s3["retrain_test_error_mean"] == pytest.approx(mean) and s3["retrain_n_seeds"] == 2
    assert not s3["retrain_full_protocol"] and s3["published_s_test_error"] == pytest.approx(3.34)
    assert pd.read_csv(tmp_path / "board.csv")["retrain_test_error_mean"].iloc[0] == pytest.approx(mean)
    shown = CliRunner().invoke(main, ["aggregate", str(straight_root)])
    assert shown.exit_code == 0 and "Retrained test error (S1–S4 layout)" in shown.output, shown.output
    assert [s.title for s in report_sections(straight_root)] == [
        "Retrained test error (S1–S4 layout)",
        "Evaluation runs",
    ]


def test_selection_retrains_each_search_briefly_then_fully_retrains_the_winner(tmp_path: Path):
    """RobustDARTS protocol with a stand-in runner: the lowest held-out error wins, test errors are not looked at."""
    from nasbench_harness.engine.runner import RunOutcome

    searches = [write_search_run(tmp_path, seed) for seed in range(3)]
    held_out = {0: 30.0, 1: 10.0, 2: 20.0}
    ran: list[list[EvalConfig]] = []

    def fake_run(configs: list[EvalConfig]) -> list[RunOutcome]:
        ran.append(configs)
        outcomes = []
        for config in configs:
            directory = tmp_path / config.relative_dir()
            directory.mkdir(parents=True, exist_ok=True)
            search_seed = int(config.search_run.rsplit("/", 1)[1].split("-")[0])
            (directory / "result.json").write_text(
                json.dumps({"valid_error": held_out[search_seed], "test_error": 100 - held_out[search_seed]})
            )
            outcomes.append(RunOutcome(config, directory, "finished"))  # type: ignore[arg-type]
        return outcomes

    short, final = select_then_evaluate(
        [str(s) for s in searches], fake_run, dataset=None, seeds=[5, 6], select_epochs=7
    )
    assert [c.stage for c in ran[0]] == ["select"] * 3
    assert all(c.train.epochs == 7 and c.data.train_on == "half" for c in ran[0])
    assert [c.search_run for c in ran[1]] == ["runs/s3/cifar10/darts_2nd/1-abc"] * 2
    assert [c.seed for c in ran[1]] == [5, 6] and all(c.stage == "final" and c.train.epochs == 600 for c in ran[1])
    assert len(short) == 3 and len(final) == 2


SUITE = """\
name: eval-stage
profile: tiny
methods: [darts]
spaces: [s3]
datasets: [cifar10]
seeds: [0]
train: {{epochs: 1}}
metrics: {{ground_truth: false}}
executor: {{name: {executor}}}
evaluate:
  seeds: [0]
  train: {{epochs: 1, batch_size: 8}}
  network: {{layers: 2, channels: 4}}
  data: {{limit_train: 16, limit_test: 16}}
"""


@pytest.mark.parametrize("executor", ["pool"])
def test_suite_evaluate_stage_runs_through_an_executor(tmp_path: Path, reference_data_dir: Path, executor: str):
    """`evaluate:` retrains each finished search's genotype, dispatched by the executor like a search."""
    from nasbench_harness.engine import run_suite

    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE.format(executor=executor))
    outcomes = run_suite(suite, results_dir=str(tmp_path / "r"), data_dir=str(reference_data_dir), device="cpu")
    assert [type(o.config).__name__ for o in outcomes] == ["RunConfig", "EvalConfig"]
    assert [o.status for o in outcomes] == ["finished", "finished"], [o.reason for o in outcomes]
    evals = load_evaluations(tmp_path / "r")
    search = json.loads((outcomes[0].directory / "result.json").read_text())
    assert list(evals["genotype"]) == [search["genotype"]] and evals["method"].iloc[0] == "darts"
    again = run_suite(suite, results_dir=str(tmp_path / "r"), data_dir=str(reference_data_dir), device="cpu")
    assert [o.status for o in again] == ["skipped", "skipped"]
