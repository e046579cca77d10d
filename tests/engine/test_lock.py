"""Two `nasbench run` of one suite on one results directory: every run executes once, its log stays whole."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

SUITE = """\
name: lock
profile: tiny
methods: [darts]
spaces: [nb201]
datasets: [cifar10]
seeds: [0, 1]
train: {epochs: 1}
metrics: {ground_truth: false}
"""

#: argv: suite, results, hold dir or "-". With a hold dir, the first step of seed 0 waits for hold/release.
RUNNER = """\
import json, sys, time
from pathlib import Path
import torch
torch.set_num_threads(1)
from nasbench_harness.engine import run_suite
from nasbench_harness.methods.darts import Darts

suite, results, hold = sys.argv[1:4]
if hold != "-":
    original = Darts.step

    def step(self, train, valid):
        if self.config.seed == 0 and not Path(hold, "release").exists():
            Path(hold, "holding").touch()
            deadline = time.time() + 240
            while not Path(hold, "release").exists() and time.time() < deadline:
                time.sleep(0.05)
        return original(self, train, valid)

    Darts.step = step
outcomes = run_suite(suite, results_dir=results, device="cpu", report=lambda message: None)
print(json.dumps({o.config.seed: [o.status, o.reason] for o in outcomes}))
"""


def test_second_process_skips_the_run_the_first_holds(tmp_path, reference_data_dir):
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    results, hold = tmp_path / "results", tmp_path / "hold"
    hold.mkdir()
    env = {**os.environ, "NASBENCH_DATA": str(reference_data_dir), "NASBENCH_OFFLINE": "1"}
    command = [sys.executable, "-c", RUNNER, str(suite), str(results)]
    first = subprocess.Popen([*command, str(hold)], env=env, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 240
        while not (hold / "holding").exists():  # the first process is inside seed 0's run
            assert first.poll() is None and time.time() < deadline, "the first process never reached seed 0"
            time.sleep(0.1)
        second = subprocess.run([*command, "-"], env=env, capture_output=True, text=True, timeout=300)
        assert second.returncode == 0, second.stderr
    finally:
        (hold / "release").touch()
        out, _ = first.communicate(timeout=300)
    assert first.returncode == 0
    by_first, by_second = json.loads(out), json.loads(second.stdout)

    assert by_second["0"][0] == "locked"
    assert f"held by another process (pid {first.pid}, host " in by_second["0"][1]
    assert [by_first["0"][0], by_second["1"][0], by_first["1"][0]] == ["finished", "finished", "skipped"]
    for directory in (results / "runs").glob("*/*/*/*"):
        rows = [json.loads(line) for line in (directory / "metrics.jsonl").read_text().splitlines()]
        assert [r["epoch"] for r in rows] == [0], directory
        assert json.loads((directory / "result.json").read_text())["epochs_run"] == 1
    assert len(list((results / "runs").glob("*/*/*/*"))) == 2
