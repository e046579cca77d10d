"""The process pool: 2 workers finish the tiny suite exactly as `local` does, a SIGKILLed worker is retried."""

from __future__ import annotations

import json

from executors_support import run_with_killed_worker, snapshot


def test_pool_matches_local_and_retries_a_killed_worker(tmp_path, suite_file, reference_data_dir, local_reference):
    results = tmp_path / "results"
    outcomes, messages, killed_pid = run_with_killed_worker(
        results, 0, suite_file, reference_data_dir, "pool", {"workers": 2}
    )
    assert killed_pid is not None, "the worker was never caught mid-run"
    assert [(o.config.seed, o.status, o.attempts) for o in outcomes] == [(0, "finished", 2), (1, "finished", 1)]
    assert any(f"worker pid {killed_pid} killed by SIGKILL" in m and "retrying" in m for m in messages)
    assert snapshot(results) == local_reference
    manifest = json.loads((results / "suites" / "scale.json").read_text())
    assert sorted(manifest["runs"]) == sorted(str(o.directory.relative_to(results)) for o in outcomes)


def test_out_of_retries_is_a_failure_with_every_attempt(tmp_path, suite_file, reference_data_dir):
    suite_file.write_text(suite_file.read_text().replace("seeds: [0, 1]", "seeds: [0]"))
    results = tmp_path / "results"
    (outcome,), _, killed_pid = run_with_killed_worker(
        results, 0, suite_file, reference_data_dir, "pool", {"workers": 1, "max_retries": 0}
    )
    assert killed_pid is not None
    assert (outcome.status, outcome.attempts) == ("failed", 1)
    failure = json.loads((outcome.directory / "failed.json").read_text())
    assert failure["attempts"] == [
        f"attempt 1: worker pid {killed_pid} killed by SIGKILL (the OOM killer, or someone, killed it)"
    ]
    assert (outcome.directory / "checkpoint.pt").exists() or not (outcome.directory / "result.json").exists()
