"""Resume and rollback on a GPU: checkpoints map tensors to CUDA but keep the RNG states on the CPU.

Skipped without a GPU (CI has none); run on one with `pytest tests/gpu`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nasbench_harness.config import RunConfig, TrainConfig
from nasbench_harness.engine import execute
from nasbench_harness.metrics.base import EPOCH_METRICS
from nasbench_harness.testing import TINY_NETWORK

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

SUITE = """\
name: resume-cuda
profile: tiny
methods: [darts]
spaces: [nb201]
datasets: [cifar10]
seeds: [3]
train: {epochs: 3}
metrics: {ground_truth: false}
"""

#: argv: suite, results, the step to SIGKILL at (0: never).
RUNNER = """\
import os, signal, sys
from nasbench_harness.engine import run_suite
from nasbench_harness.methods.darts import Darts

kill_at, calls, original = int(sys.argv[3]), [0], Darts.step

def step(self, train, valid):
    calls[0] += 1
    if calls[0] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return original(self, train, valid)

Darts.step = step
outcomes = run_suite(sys.argv[1], results_dir=sys.argv[2], device="cuda", report=lambda message: None)
sys.exit(0 if [o.status for o in outcomes] == ["finished"] else 3)
"""


def run(suite: Path, results: Path, kill_at: int, data_dir: Path) -> int:
    env = {**os.environ, "NASBENCH_DATA": str(data_dir), "NASBENCH_OFFLINE": "1"}
    command = [sys.executable, "-c", RUNNER, str(suite), str(results), str(kill_at)]
    return subprocess.run(command, env=env, timeout=300).returncode


def test_killed_cuda_run_resumes(tmp_path: Path, reference_data_dir: Path):
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    assert run(suite, tmp_path / "r", 6, reference_data_dir) == -9  # killed in epoch 1 (4 steps per epoch)
    (directory,) = (tmp_path / "r" / "runs").glob("*/*/*/*")
    assert not (directory / "result.json").exists()
    assert run(suite, tmp_path / "r", 0, reference_data_dir) == 0, (directory / "failed.json").read_text()
    rows = [json.loads(line) for line in (directory / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1, 2]
    assert json.loads((directory / "metadata.json").read_text())["device"].startswith("cuda")


def test_darts_ada_rolls_back_on_cuda(tmp_path: Path, reference_data_dir: Path, monkeypatch):
    def fake_eigenvalue(state):  # collapses at epoch 2 until the rollback raises the weight decay
        weight_decay = state.method.w_optimizer.param_groups[0]["weight_decay"]
        return {"eigenvalue": 10.0 if state.epoch >= 2 and weight_decay < 1e-3 else 1.0}

    monkeypatch.setitem(EPOCH_METRICS._items, "eigenvalue", fake_eigenvalue)
    config = RunConfig(
        method="darts_ada",
        space="nb201",
        dataset="cifar10",
        seed=0,
        profile="tiny",
        train=TrainConfig(epochs=4, batch_size=8, weight_decay=3e-4),
        data={"limit_train": 64, "limit_test": 32, "eval_batch_size": 32},
        metrics={"eigenvalue": "fast", "eigenvalue_every": 1, "ground_truth": False},
        network=TINY_NETWORK["nb201"],
        method_args={"window": 3, "delta": 1, "start_epoch": 0},
    )
    outcome = execute(config, tmp_path, reference_data_dir, torch.device("cuda"), progress=False)
    assert outcome.status == "finished", outcome.reason
    (rollback,) = json.loads((outcome.directory / "metadata.json").read_text())["method"]["rollbacks"]
    assert rollback["rollback_to"] == 0
