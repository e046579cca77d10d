"""Two `nasbench run` of one suite on one results directory, each with a pool: every run executes once."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from executors_support import snapshot


def test_two_drivers_complete_every_run_exactly_once(tmp_path, suite_file, reference_data_dir, local_reference):
    # One torch thread per worker, as the local reference: CPU reductions are summed in another order with more.
    suite_file.write_text(suite_file.read_text() + "executor: {name: pool, threads_per_run: 1}\n")
    results = tmp_path / "results"
    env = {**os.environ, "NASBENCH_DATA": str(reference_data_dir), "NASBENCH_OFFLINE": "1"}
    command = [
        sys.executable,
        "-m",
        "nasbench_harness",
        "run",
        str(suite_file),
        "--results-dir",
        str(results),
        "--device",
        "cpu",
        "--workers",
        "1",
    ]
    drivers = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outputs = [d.communicate(timeout=400) for d in drivers]
    assert [d.returncode for d in drivers] == [0, 0], [err for _, err in outputs]
    statuses = [line.split()[0] for out, _ in outputs for line in out.splitlines() if "darts" in line]
    assert len(statuses) == 4 and statuses.count("finished") == 2, outputs
    assert set(statuses) <= {"finished", "locked", "skipped"}
    for directory in (results / "runs").glob("*/*/*/*"):
        epochs = [json.loads(line)["epoch"] for line in (directory / "metrics.jsonl").read_text().splitlines()]
        assert epochs == [0, 1, 2], directory
    assert snapshot(results) == local_reference
