"""SLURM through submitit, with submitit's local executor: the tiny suite as `local` does it, a killed job retried."""

from __future__ import annotations

from executors_support import require, run_with_killed_worker, snapshot


def test_submitit_local_matches_local_and_retries_a_killed_job(
    tmp_path, suite_file, reference_data_dir, local_reference
):
    require("submitit")
    results = tmp_path / "results"
    outcomes, messages, killed_pid = run_with_killed_worker(
        results,
        0,
        suite_file,
        reference_data_dir,
        "slurm",
        {"cluster": "local", "array_parallelism": 2, "time_limit": 10},
    )
    assert killed_pid is not None, "the job was never caught mid-run"
    assert [(o.config.seed, o.status, o.attempts) for o in outcomes] == [(0, "finished", 2), (1, "finished", 1)]
    assert any("retrying" in m for m in messages), messages
    assert (results / "submitit").is_dir()
    assert snapshot(results) == local_reference
