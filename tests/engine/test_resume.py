"""A run killed mid-epoch (SIGKILL) resumes from its last checkpoint and ends bit-identical."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SUITE = """\
name: resume
profile: tiny
methods: [darts]
spaces: [{space}]
datasets: [cifar10]
seeds: [3]
train: {{epochs: 3}}
metrics: {{ground_truth: false}}
"""

RUNNER = """\
import os, signal, sys
import torch
torch.set_num_threads(1)
from nasbench_harness.engine import run_suite
from nasbench_harness.methods.darts import Darts

kill_at = int(sys.argv[3])
calls = [0]
original = Darts.step

def step(self, train, valid):
    calls[0] += 1
    if calls[0] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return original(self, train, valid)

Darts.step = step
run_suite(sys.argv[1], results_dir=sys.argv[2], device="cpu", report=lambda message: None)
"""

TIMING = {"train_seconds", "epoch_seconds"}


def run(suite: Path, results: Path, kill_at: int, data_dir: Path) -> int:
    env = {**os.environ, "NASBENCH_DATA": str(data_dir), "NASBENCH_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-c", RUNNER, str(suite), str(results), str(kill_at)], env=env, timeout=300
    ).returncode


def run_dir(results: Path) -> Path:
    (directory,) = (results / "runs").glob("*/*/*/*")
    return directory


def rows(directory: Path) -> list[dict]:
    lines = (directory / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in lines]


# s4: its noise op draws from the global RNG; NB201 runs killed at a step are in the default run
# (tests/methods/test_conformance.py), so this whole-CLI version of it is slow-only
@pytest.mark.parametrize("space", [pytest.param("nb201", marks=pytest.mark.slow), "s4"])
def test_killed_run_resumes_to_the_uninterrupted_result(tmp_path, reference_data_dir, space):
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE.format(space=space))
    assert run(suite, tmp_path / "straight", 0, reference_data_dir) == 0

    interrupted = tmp_path / "interrupted"
    assert run(suite, interrupted, 6, reference_data_dir) == -9  # killed in epoch 1 (4 steps per epoch)
    directory = run_dir(interrupted)
    assert not (directory / "result.json").exists()
    assert [r["epoch"] for r in rows(directory)] == [0]
    assert run(suite, interrupted, 0, reference_data_dir) == 0

    straight, resumed = run_dir(tmp_path / "straight"), directory
    assert straight.name == resumed.name
    assert rows(straight) == rows(resumed)
    assert [r["epoch"] for r in rows(resumed)] == [0, 1, 2]
    a = torch.load(straight / "checkpoint.pt", weights_only=True)
    b = torch.load(resumed / "checkpoint.pt", weights_only=True)
    assert a["net"].keys() == b["net"].keys()
    for key in a["net"]:
        assert torch.equal(a["net"][key], b["net"][key]), key
    result_a, result_b = (json.loads((d / "result.json").read_text()) for d in (straight, resumed))
    assert result_a["genotype"] == result_b["genotype"]
