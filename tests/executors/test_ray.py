"""Ray, on one local instance shared by the module (num_cpus=2): the tiny suite as `local` does it, with a
worker SIGKILLed mid-run and retried."""

from __future__ import annotations

import json
import signal

import pytest
from executors_support import require, run_with_killed_worker, snapshot

from nasbench_harness.engine.suite import run_suite

#: The whole module, Ray's start on a loaded 2-core machine included; a hung Ray fails instead of stalling CI.
TIMEOUT_S = 480


def _timed_out(signum, frame):
    raise TimeoutError(f"the Ray tests ran past {TIMEOUT_S} s")


@pytest.fixture(scope="module")
def ray_instance():
    ray = require("ray")
    previous = signal.signal(signal.SIGALRM, _timed_out)
    signal.alarm(TIMEOUT_S)
    try:
        ray.init(num_cpus=2, include_dashboard=False)
        yield ray
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        ray.shutdown()


def test_ray_matches_local_and_retries_a_killed_worker(
    ray_instance, tmp_path, suite_file, reference_data_dir, local_reference
):
    results = tmp_path / "results"
    outcomes, messages, killed_pid = run_with_killed_worker(
        results, 1, suite_file, reference_data_dir, "ray", {"cpus_per_run": 1}
    )
    assert killed_pid is not None, "the worker was never caught mid-run"
    assert [(o.config.seed, o.status, o.attempts) for o in outcomes] == [(0, "finished", 1), (1, "finished", 2)]
    assert any("retrying" in m for m in messages)
    assert ray_instance.is_initialized()  # an instance the executor did not start is left running
    assert snapshot(results) == local_reference


def test_a_seed_pack_is_one_ray_task_and_ends_as_the_runs_alone(
    ray_instance, tmp_path, suite_file, reference_data_dir, local_reference
):
    suite_file.write_text(suite_file.read_text() + "pack_seeds: 2\n")
    results = tmp_path / "results"
    outcomes = run_suite(
        suite_file,
        results_dir=str(results),
        data_dir=str(reference_data_dir),
        device="cpu",
        executor="ray",
        executor_options={"cpus_per_run": 1},
        report=lambda message: None,
    )
    assert [(o.config.seed, o.status, o.attempts) for o in outcomes] == [(0, "finished", 1), (1, "finished", 1)]
    assert snapshot(results) == local_reference
    packing = {json.loads((d / "metadata.json").read_text())["packing"]["size"] for d in results.glob("runs/*/*/*/*")}
    assert packing == {2}
