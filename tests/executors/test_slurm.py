"""SLURM through submitit, with submitit's local executor: the tiny suite as `local` does it, a killed job retried."""

from __future__ import annotations

from executors_support import Killer, require, snapshot

from nasbench_harness.engine import run_suite


def test_submitit_local_matches_local_and_retries_a_killed_job(
    tmp_path, suite_file, reference_data_dir, local_reference
):
    require("submitit")
    results = tmp_path / "results"
    killer = Killer(results, seed=0)
    killer.start()
    messages: list[str] = []
    outcomes = run_suite(
        suite_file,
        results_dir=str(results),
        data_dir=str(reference_data_dir),
        device="cpu",
        executor="slurm",
        executor_options={"cluster": "local", "array_parallelism": 2, "time_limit": 10},
        report=messages.append,
    )
    killer.join(timeout=1)
    assert killer.killed_pid is not None, "the job was never caught mid-run"
    assert [(o.config.seed, o.status, o.attempts) for o in outcomes] == [(0, "finished", 2), (1, "finished", 1)]
    assert any("retrying" in m for m in messages), messages
    assert (results / "submitit").is_dir()
    assert snapshot(results) == local_reference
