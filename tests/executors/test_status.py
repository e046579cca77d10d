"""`nasbench status`: counts per suite from run directories and the lock, without ever claiming a run."""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time

from click.testing import CliRunner

from nasbench_harness.cli import main
from nasbench_harness.engine.record import LOCK, RunLock, RunRecord


def _manifest(results, runs):
    (results / "suites").mkdir(parents=True)
    entries = {
        f"runs/nb201/cifar10/darts/{seed}-abc": {
            "method": "darts",
            "space": "nb201",
            "dataset": "cifar10",
            "seed": seed,
            "epochs": 5,
        }
        for seed in runs
    }
    (results / "suites" / "s.json").write_text(json.dumps({"name": "s", "runs": entries}))
    return {seed: RunRecord(results / f"runs/nb201/cifar10/darts/{seed}-abc") for seed in runs}


def test_status_counts_and_shows_the_running_epoch(tmp_path):
    records = _manifest(tmp_path, [0, 1, 2, 3, 4])
    records[0].dir.mkdir(parents=True)
    (records[0].dir / "result.json").write_text("{}")
    records[1].dir.mkdir(parents=True)
    records[1].write_failure({"reason": "RunFailure: train_loss is nan at epoch 2, step 0"})
    for epoch in (0, 1):
        records[2].append_metrics({"epoch": epoch})
        records[3].append_metrics({"epoch": epoch})
    with RunLock(records[2].dir):  # seed 2 is running; seed 3 was interrupted; seed 4 never started
        out = CliRunner().invoke(main, ["status", str(tmp_path)])
        assert out.exit_code == 0, out.output
        assert "suite s: 5 runs: 1 finished, 1 running, 1 failed, 2 pending" in out.output
        lines = out.output.splitlines()
        assert any(
            line.split()[:2] == ["running", "darts"] and f"epoch 2/5 done (pid {os.getpid()}, host " in line
            for line in lines
        ), out.output
        assert any(line.split()[0] == "failed" and "train_loss is nan" in line for line in lines)
        assert any(line.split()[0] == "pending" and "interrupted after epoch 2/5" in line for line in lines)
    out = CliRunner().invoke(main, ["status", str(tmp_path)])
    assert "0 running" in out.output and "3 pending" in out.output


def test_a_claim_waits_out_a_status_probe(tmp_path):
    """The probe's shared lock lasts an instant; a driver claiming the run then must not see it as held."""
    directory = tmp_path / "run"
    directory.mkdir()
    fd = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_SH)
    threading.Timer(0.05, lambda: os.close(fd)).start()
    started = time.monotonic()
    with RunLock(directory):
        assert time.monotonic() - started < 5


def test_status_lists_evaluation_runs_in_their_own_section(tmp_path):
    """Evaluation runs (evaluations/, no manifest lists them) get the same four states as searches."""
    _manifest(tmp_path, [0])
    records = {}
    for seed, stage in ((0, "final"), (1, "final"), (2, "select"), (3, "final")):
        config = {"method": "darts_2nd", "space": "s3", "dataset": "cifar10", "seed": seed, "stage": stage}
        config["train"] = {"epochs": 4}
        records[seed] = RunRecord(tmp_path / f"evaluations/s3/cifar10/darts_2nd/{seed}-e{seed}")
        records[seed].dir.mkdir(parents=True)
        records[seed].write_metadata({"kind": "evaluate", "config": config})
    records[0].write_result({"status": "finished", "test_error": 3.1})
    records[1].write_failure({"status": "failed", "reason": "RunFailure: training loss is nan at epoch 1"})
    records[2].append_metrics({"epoch": 0})
    records[3].append_metrics({"epoch": 0})
    with RunLock(records[2].dir):
        out = CliRunner().invoke(main, ["status", str(tmp_path), "--all"])
    assert out.exit_code == 0, out.output
    assert "suite s: 1 runs: 0 finished, 0 running, 0 failed, 1 pending" in out.output
    head, _, section = out.output.partition("evaluation runs: 4 runs: 1 finished, 1 running, 1 failed, 1 pending\n")
    assert section and "darts_2nd" not in head, out.output
    lines = section.splitlines()
    assert any(
        line.startswith("  running  darts_2nd s3/cifar10 seed 2 (select retrain)") and "epoch 1/4 done" in line
        for line in lines
    ), out.output
    assert any(line.startswith("  failed   darts_2nd s3/cifar10 seed 1 (final retrain)") for line in lines)
    assert any(line.startswith("  pending") and "interrupted after epoch 1/4" in line for line in lines)
    assert any(line.startswith("  finished darts_2nd s3/cifar10 seed 0 (final retrain)") for line in lines)
