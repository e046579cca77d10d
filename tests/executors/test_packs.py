"""Seed packs through the worker executors: a pack is one task on one worker, whose runs end exactly as the
runs alone (`local`), whose killed worker is retried as a whole (each run resuming from its own checkpoint),
and whose runs without an outcome after the last retry get failed.json (those finished keep their result)."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from executors_support import SUITE, Killer, require, snapshot

from nasbench_harness.config import SuiteConfig
from nasbench_harness.engine.executors import Executor, register_executor
from nasbench_harness.engine.executors.base import EXECUTORS
from nasbench_harness.engine.executors.driver import DriverExecutor, Ended, Task
from nasbench_harness.engine.packed import SeedPack
from nasbench_harness.engine.record import RunLock, lock_holder
from nasbench_harness.engine.suite import run_suite
from nasbench_harness.errors import ConfigError
from nasbench_harness.suite_expansion import expand_suite

PACKED = SUITE + "pack_seeds: 2\n"
#: One worker with one torch thread: the whole pack on it, summing as the 1-thread local reference does.
ONE_WORKER = {"workers": 1, "threads_per_run": 1}


def run(suite_file, results, reference_data_dir, executor, options, killer=None):
    messages: list[str] = []
    if killer is not None:
        killer.start()
    outcomes = run_suite(
        suite_file,
        results_dir=str(results),
        data_dir=str(reference_data_dir),
        device="cpu",
        executor=executor,
        executor_options=options,
        report=messages.append,
    )
    if killer is not None:
        killer.join(timeout=1)
    return outcomes, messages


def packing(results) -> list[dict]:
    return [json.loads((d / "metadata.json").read_text())["packing"] for d in sorted(results.glob("runs/*/*/*/*"))]


def test_a_killed_pack_on_the_pool_is_retried_whole_and_ends_as_the_runs_alone(
    tmp_path, suite_file, reference_data_dir, local_reference
):
    suite_file.write_text(PACKED)
    results = tmp_path / "results"
    killer = Killer(results, seed=0, checkpointed=True)
    outcomes, messages = run(suite_file, results, reference_data_dir, "pool", ONE_WORKER, killer)
    assert killer.killed_pid is not None, "the pack's worker was never caught mid-run"
    assert [(o.config.seed, o.status, o.attempts) for o in outcomes] == [(0, "finished", 2), (1, "finished", 2)]
    died = f"[1-2/2] seed pack: darts on nb201/cifar10 seeds 0, 1: the worker died (worker pid {killer.killed_pid}"
    assert any(m.startswith(died) and "resuming each run from its own checkpoint" in m for m in messages), messages
    assert snapshot(results) == local_reference
    assert packing(results) == [{"size": 2, "seeds": [0, 1], "mode": "interleaved"}] * 2
    # resumed, not started over: the epoch the checkpoint held keeps its row from the killed attempt, timings too
    (seed0,) = results.glob("runs/*/*/*/0-*")
    assert (seed0 / "metrics.jsonl").read_text().splitlines()[0] == killer.kept[0]
    assert any("2/2 runs done (2 finished); 0 running, 0 pending" in m for m in messages), messages


def test_out_of_retries_every_unfinished_run_of_the_pack_gets_failed_json(
    tmp_path, suite_file, reference_data_dir, local_results
):
    """Seed 1 finished earlier (copied from the local run): it keeps its result; seeds 0 and 2 were training."""
    suite_file.write_text(PACKED.replace("seeds: [0, 1]", "seeds: [0, 1, 2]").replace("pack_seeds: 2", "pack_seeds: 3"))
    results = tmp_path / "results"
    (finished,) = local_results.glob("runs/*/*/*/1-*")
    shutil.copytree(finished, results / finished.relative_to(local_results))
    killer = Killer(results, seed=0)
    outcomes, messages = run(suite_file, results, reference_data_dir, "pool", {**ONE_WORKER, "max_retries": 0}, killer)
    assert killer.killed_pid is not None
    assert [(o.config.seed, o.status, o.attempts) for o in outcomes] == [
        (0, "failed", 1),
        (1, "finished", 1),
        (2, "failed", 1),
    ]
    attempt = f"attempt 1: worker pid {killer.killed_pid} killed by SIGKILL (the OOM killer, or someone, killed it)"
    for outcome in (outcomes[0], outcomes[2]):
        failure = json.loads((outcome.directory / "failed.json").read_text())
        assert failure["attempts"] == [attempt]
        assert failure["config"]["seed"] == outcome.config.seed
        assert not (outcome.directory / "result.json").exists()
    assert not (outcomes[1].directory / "failed.json").exists()
    assert json.loads((outcomes[1].directory / "result.json").read_text())["genotype"] == outcomes[1].genotype != ""


@pytest.mark.slow  # over 10 s of submitit processes; the pool tests cover the driver's packs
def test_a_pack_through_submitit_local_ends_as_the_runs_alone(
    tmp_path, suite_file, reference_data_dir, local_reference
):
    require("submitit")
    suite_file.write_text(PACKED)
    results = tmp_path / "results"
    outcomes, _ = run(suite_file, results, reference_data_dir, "slurm", {"cluster": "local", "time_limit": 10})
    assert [(o.config.seed, o.status, o.attempts) for o in outcomes] == [(0, "finished", 1), (1, "finished", 1)]
    assert len([d for d in (results / "submitit").iterdir() if d.name.isdigit()]) == 1  # one job: the pack
    assert snapshot(results) == local_reference
    assert packing(results) == [{"size": 2, "seeds": [0, 1], "mode": "interleaved"}] * 2


def test_an_executor_without_packs_refuses_pack_seeds(tmp_path, suite_file, monkeypatch):
    monkeypatch.setattr(EXECUTORS, "_items", dict(EXECUTORS._items))
    register_executor("one_by_one")(type("OneByOne", (Executor,), {}))
    suite_file.write_text(PACKED)
    with pytest.raises(ConfigError, match=r"suite.yaml:9: executor 'one_by_one' runs one run per job and takes no"):
        run_suite(suite_file, results_dir=str(tmp_path / "r"), executor="one_by_one")
    with pytest.raises(ConfigError, match=r"--pack-seeds: .*use one that does \(local, pool, ray, slurm\)"):
        run_suite(suite_file, results_dir=str(tmp_path / "r"), executor="one_by_one", pack_seeds=4)


class Scripted(DriverExecutor):
    """A backend whose tasks end as `script` says: per task label, one entry per attempt, a callable returning
    the per-run outcomes (what `run_task` returns) or None for a crash. Records each submit: (label, payload,
    whether a run of the task was locked then)."""

    poll_seconds = 0.005

    def __init__(self, script: dict[str, list[Any]], results: Path):
        super().__init__()
        self.script, self.results, self.submitted = script, results, []

    def capacity(self) -> int:
        return 1

    def submit(self, tasks: list[tuple[Task, dict[str, Any]]]) -> list[Any]:
        handles = []
        for task, payload in tasks:
            self.submitted.append((task.label(3), payload, task.held(self.results)))
            handles.append(len(self.submitted) - 1)
        return handles

    def poll(self, handles: list[Any]) -> list[Ended]:
        ended = []
        for handle in handles:
            returned = self.script[self.submitted[handle][0]].pop(0)()
            ended.append(Ended(handle, None if returned is None else {"outcomes": returned}, "node lost"))
        return ended


def _ran(*statuses: str) -> list[dict[str, Any]]:
    return [{"status": s, "reason": "", "seconds": 1.0, "genotype": f"g-{s}"} for s in statuses]


def test_a_retried_pack_waits_for_its_locks_and_keeps_the_outcomes_its_runs_had(tmp_path):
    """The pack's worker dies while the old worker still holds seed 1 (released later): the retry starts only
    once it is free, the next job runs meanwhile; the retry finds seed 0 locked (held by someone in between)
    but finishes seed 1, whose outcome stands when the pack goes again and skips it."""
    suite = {"name": "fake", "profile": "tiny", "methods": ["darts"], "spaces": ["nb201"], "datasets": ["cifar10"]}
    pack = SeedPack(tuple(expand_suite(SuiteConfig.model_validate({**suite, "seeds": [0, 1]}))))
    alone = expand_suite(SuiteConfig.model_validate({**suite, "methods": ["gdas"], "seeds": [2]}))[0]
    freed = threading.Event()

    def crash_holding_seed_1():
        old_worker = RunLock(tmp_path / pack.configs[1].relative_dir())  # its process lingers after "dying"
        threading.Timer(0.3, lambda: (old_worker.release(), freed.set())).start()
        return None

    def alone_meanwhile():
        assert not freed.is_set(), "the retry went first: the next job should run while the pack waits"
        return _ran("finished")

    pack_label, alone_label = (
        "[1-2/3] seed pack: darts on nb201/cifar10 seeds 0, 1",
        "[3/3] gdas on nb201/cifar10 seed 2",
    )
    script = {
        pack_label: [crash_holding_seed_1, lambda: _ran("locked", "finished"), lambda: _ran("finished", "skipped")],
        alone_label: [alone_meanwhile],
    }
    executor = Scripted(script, tmp_path)
    messages: list[str] = []
    outcomes = executor.run_all([pack, alone], tmp_path, None, "cpu", messages.append)
    labels = [label for label, _, _ in executor.submitted]
    assert labels == [pack_label, alone_label, pack_label, pack_label]
    assert [held for _, _, held in executor.submitted] == [False] * 4 and freed.is_set()
    assert [p["attempt"] for _, p, _ in executor.submitted] == [1, 1, 2, 2]  # a locked run is no attempt
    assert executor.submitted[0][1]["config"]["kind"] == "pack"
    assert [(o.config.seed, o.status, o.attempts) for o in outcomes] == [
        (0, "finished", 2),
        (1, "finished", 2),
        (2, "finished", 1),
    ]
    assert any(
        m == f"{pack_label}: still held (seeds 0) by its earlier attempt's worker; waiting for it" for m in messages
    )
    assert lock_holder(tmp_path / pack.configs[1].relative_dir()) is None
