"""DARTS-ES and DARTS-ADA: the stop rule on synthetic eigenvalue series, rollback state, resume after rollback."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from collapse_support import run_config, tiny_batch, tiny_net

from nasbench_harness.engine.runner import execute
from nasbench_harness.errors import ConfigError
from nasbench_harness.methods import get_method_class
from nasbench_harness.methods.robust_darts import DartsAda, DartsEs, EarlyStopArgs, stop_signal
from nasbench_harness.metrics.base import EPOCH_METRICS
from nasbench_harness.spaces import NB201Genotype

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
TIMING = {"train_seconds", "epoch_seconds", "eigenvalue_seconds"}


def genotype_of(epoch: int) -> str:
    """A different NB201 cell for every measured epoch, so the returned one tells which epoch it is."""
    return str(NB201Genotype.from_edge_ops([OPS[(epoch // 2 + e) % 5] for e in range(6)]))


class ReferenceTracker:
    """The bookkeeping of RobustDARTS' EVLocalAvg.update/early_stop, re-stated index by index."""

    def __init__(self, window: int = 5, freq: int = 2, epochs: int = 50):
        self.window, self.freq, self.epochs = window, freq, epochs
        self.ev: list[float] = []
        self.la: list[float] = []
        self.la_epoch: dict[int, int] = {}
        self.genotypes: dict[int, str] = {}
        self.start, self.end = 0, window

    def update(self, epoch: int, ev: float, genotype: str = "") -> None:
        self.ev.append(ev)
        self.genotypes[epoch] = genotype
        if len(self.ev) >= int(np.ceil(self.window / 2)) and epoch < self.epochs - 1:
            if len(self.ev) < self.window:
                self.la.append(float(np.mean(self.ev)))
            else:
                self.la.append(float(np.mean(self.ev[self.start : self.end])))
                self.start, self.end = self.start + 1, self.end + 1
            self.la_epoch[epoch] = epoch - int(self.freq * np.floor(self.window / 2))
        elif len(self.ev) < int(np.ceil(self.window / 2)):
            self.la_epoch[epoch] = -1

    def stop_epoch(self, epoch: int, factor: float = 1.3, start: int = 10, delta: int = 4) -> int | None:
        if self.la_epoch[epoch] - self.freq * delta >= start and self.la[-1] / self.la[-1 - delta] > factor:
            return self.la_epoch[epoch] - self.freq * delta
        return None


def series(epoch: int) -> float:
    """Flat, then a steep rise after epoch 20 (a collapsing search)."""
    return 1.0 + 0.02 * epoch + (0.4 * (epoch - 20) if epoch > 20 else 0.0)


def drive(method: DartsEs, epochs: int = 50):
    """Feed rows as the runner would (eigenvalue every 2 epochs and at the last); first non-continue decision."""
    for epoch in range(epochs):
        measured = epoch % 2 == 0 or epoch == epochs - 1
        row = {"eigenvalue": series(epoch) if measured else None, "genotype": genotype_of(epoch)}
        decision = method.on_epoch_end(epoch, row)
        if decision.action != "continue":
            return epoch, decision
    return None, None


def es_method(**metrics) -> DartsEs:
    config = run_config("darts_es", train={"epochs": 50}, metrics={"eigenvalue": "exact", **metrics})
    return DartsEs(tiny_net("nb201", alpha_scale=None), config, torch.device("cpu"))


def test_es_fires_where_robustdarts_does_and_returns_the_look_back_genotype():
    reference = ReferenceTracker()
    expected = None
    for epoch in range(0, 49, 2):
        reference.update(epoch, series(epoch))
        expected = reference.stop_epoch(epoch)
        if expected is not None:
            break
    # Epoch 24: la = mean(1.32, 1.36, 1.40, 2.24, 3.08) = 1.88 against 1.24 at epoch 16: 1.52 > 1.3;
    # epoch 22 gave 1.52 / 1.20 = 1.27. The look-back point is 12 epochs back, as the paper says.
    assert (epoch, expected) == (24, 12)

    decided_at, decision = drive(es_method())
    assert decided_at == 24 and decision.action == "stop"
    assert str(decision.genotype) == genotype_of(12)
    assert "epoch 12" in decision.reason


def test_es_never_looks_back_before_start_epoch_and_ignores_the_last_epoch():
    args = EarlyStopArgs()
    rising = [(e, float(2**e), genotype_of(e)) for e in range(0, 24, 2)]
    # The look-back point is 2·(2 + 4) = 12 epochs back: epoch 8 at epoch 20 (too early), epoch 10 at epoch 22.
    assert [stop_signal(rising[: i + 1], args, every=2) for i in range(11)] == [None] * 11
    signal = stop_signal(rising, args, every=2)
    assert signal is not None and signal.epoch == 10 and signal.genotype == genotype_of(10)

    for epochs, last_action in ((23, "continue"), (24, "stop")):  # epoch 22 is the last of 23: unchecked
        method = es_method()
        method.config = run_config("darts_es", train={"epochs": epochs}, metrics={"eigenvalue": "exact"})
        actions = [
            method.on_epoch_end(e, {"eigenvalue": float(2**e), "genotype": genotype_of(e)}).action for e, _, _ in rising
        ]
        assert actions == ["continue"] * 11 + [last_action]


def test_paper_rule_compares_local_averages_k_epochs_apart():
    args = EarlyStopArgs(rule="paper", start_epoch=0)
    flat = [(e, 1.0, genotype_of(e)) for e in range(0, 12, 2)]
    assert stop_signal(flat, args, every=2) is None
    jump = [*flat, (12, 10.0, genotype_of(12))]
    signal = stop_signal(jump, args, every=2)
    # la(12) = mean(1, 1, 1, 1, 10) = 2.8; newest measurement ≥ 5 epochs earlier: epoch 6, la = 1.
    assert signal is not None and signal.epoch == 6 and signal.ratio == pytest.approx(1 / 2.8)


def test_es_needs_the_eigenvalue_metric():
    with pytest.raises(ConfigError, match="metrics.eigenvalue is 'off'"):
        es_method(eigenvalue="off")


def fake_eigenvalue(state):
    """3e-4 weight decay collapses at epoch 2 (eigenvalue 10); a raised one never does."""
    weight_decay = state.method.w_optimizer.param_groups[0]["weight_decay"]
    return {"eigenvalue": 10.0 if state.epoch >= 2 and weight_decay < 1e-3 else 1.0}


ADA_ARGS = {"window": 3, "delta": 1, "start_epoch": 0}


def ada_config(method: str = "darts_ada", epochs: int = 5, order: str = "first"):
    """First order unless asked: these runs test the runner's stop/rollback/resume machinery, and a
    second-order step costs about 3× as much (`test_es_run_stops_...` runs the default, second order)."""
    return run_config(
        method,
        train={"epochs": epochs, "weight_decay": 3e-4},
        metrics={"eigenvalue": "fast", "eigenvalue_every": 1},
        method_args={**ADA_ARGS, "order": order},
    )


def rows(directory: Path) -> list[dict]:
    lines = (directory / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in lines]


def test_es_run_stops_with_the_look_back_genotype(tmp_path, reference_data_dir, monkeypatch):
    monkeypatch.setitem(EPOCH_METRICS._items, "eigenvalue", fake_eigenvalue)
    config = ada_config("darts_es", order="second")
    outcome = execute(config, tmp_path, reference_data_dir, torch.device("cpu"), progress=False)
    result = json.loads((outcome.directory / "result.json").read_text())
    logged = rows(outcome.directory)
    assert result["stopped_early"] and [r["epoch"] for r in logged] == [0, 1, 2]
    assert result["genotype"] == logged[0]["genotype"]
    described = json.loads((outcome.directory / "metadata.json").read_text())["method"]
    assert described["order"] == "second" and "finite difference" in described["hessian_vector_product"]


def test_ada_rollback_restores_the_snapshot_and_raises_weight_decay(tmp_path, reference_data_dir, monkeypatch):
    monkeypatch.setitem(EPOCH_METRICS._items, "eigenvalue", fake_eigenvalue)
    captured = {}
    original = DartsAda.after_rollback

    def after_rollback(self, method_state, epoch):
        original(self, method_state, epoch)
        captured.update(
            epoch=epoch,
            net={k: v.clone() for k, v in self.net.state_dict().items()},
            method=copy.deepcopy(self.state_dict()),  # training goes on updating these tensors in place
            rng=torch.get_rng_state(),
        )

    monkeypatch.setattr(DartsAda, "after_rollback", after_rollback)
    outcome = execute(ada_config(), tmp_path, reference_data_dir, torch.device("cpu"), progress=False)
    assert outcome.status == "finished"
    snapshot = torch.load(outcome.directory / "snapshots" / "epoch-0000.pt", weights_only=True)
    assert captured["epoch"] == 0
    assert snapshot["net"].keys() == captured["net"].keys()
    assert all(torch.equal(snapshot["net"][k], captured["net"][k]) for k in snapshot["net"])  # weights and α
    for name in ("w_optimizer", "a_optimizer"):
        saved, now = snapshot["method"][name], captured["method"][name]
        assert saved["state"].keys() == now["state"].keys() and saved["state"]
        for key, value in saved["state"].items():
            assert all(torch.equal(value[s], now["state"][key][s]) for s in value)
    assert snapshot["method"]["w_optimizer"]["param_groups"][0]["weight_decay"] == 3e-4
    assert captured["method"]["w_optimizer"]["param_groups"][0]["weight_decay"] == pytest.approx(3e-3)
    # RobustDARTS' tracker carries on: the measurements of epochs 0-2 from before the rollback stay.
    assert [m[0] for m in captured["method"]["early_stop"]["measurements"]] == [0, 1, 2]
    assert torch.equal(captured["rng"], snapshot["rng"]["torch"])

    logged = rows(outcome.directory)
    assert [(r["segment"], r["epoch"]) for r in logged] == [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (1, 3), (1, 4)]
    (rollback,) = json.loads((outcome.directory / "metadata.json").read_text())["method"]["rollbacks"]
    assert rollback["rollback_to"] == 0 and rollback["decided_at"] == 2
    assert rollback["genotype_at_rollback"] == logged[0]["genotype"]


def killable_run(kill_hook: str) -> str:
    """A subprocess script: the run configured in argv[1], into argv[2], data from argv[3], with the fake
    eigenvalue of this module and `kill_hook`, code that SIGKILLs the process at the moment under test."""
    prelude = """
import os, signal, sys
from pathlib import Path
import torch
torch.set_num_threads(1)
from nasbench_harness.config import RunConfig
from nasbench_harness.engine.record import RunRecord
from nasbench_harness.engine.runner import execute
from nasbench_harness.methods.robust_darts import DartsAda
from nasbench_harness.metrics.base import EPOCH_METRICS

def fake_eigenvalue(state):
    weight_decay = state.method.w_optimizer.param_groups[0]["weight_decay"]
    return {"eigenvalue": 10.0 if state.epoch >= 2 and weight_decay < 1e-3 else 1.0}

EPOCH_METRICS._items["eigenvalue"] = fake_eigenvalue
"""
    run = """
config = RunConfig.model_validate_json(Path(sys.argv[1]).read_text())
execute(config, Path(sys.argv[2]), Path(sys.argv[3]), torch.device("cpu"), progress=False)
"""
    return prelude + kill_hook + run


#: Dies at the step given in argv[4].
KILLED_RUN = killable_run("""
calls = [0]
original = DartsAda.step

def step(self, train, valid):
    calls[0] += 1
    if calls[0] == int(sys.argv[4]):
        os.kill(os.getpid(), signal.SIGKILL)
    return original(self, train, valid)

DartsAda.step = step
""")

#: Dies when the finished run would write result.json.
KILLED_BEFORE_RESULT = killable_run("""
RunRecord.write_result = lambda self, result: os.kill(os.getpid(), signal.SIGKILL)
""")


@pytest.mark.parametrize("order", ["first", pytest.param("second", marks=pytest.mark.slow)])  # second: ~45 s
def test_a_run_killed_after_its_rollback_resumes_to_the_same_result(order, tmp_path, reference_data_dir, monkeypatch):
    monkeypatch.setitem(EPOCH_METRICS._items, "eigenvalue", fake_eigenvalue)
    config = ada_config(order=order)
    straight = execute(config, tmp_path / "straight", reference_data_dir, torch.device("cpu"), progress=False)

    config_file = tmp_path / "config.json"
    config_file.write_text(config.model_dump_json())
    # 4 steps per epoch: segment 0 runs epochs 0-2 (12 steps), segment 1 epochs 1, 2, then dies in epoch 3.
    command = [sys.executable, "-c", KILLED_RUN, str(config_file), str(tmp_path / "resumed"), str(reference_data_dir)]
    killed = subprocess.run([*command, "23"], env={**os.environ}, timeout=300)
    assert killed.returncode == -9
    directory = tmp_path / "resumed" / config.relative_dir()
    assert [(r["segment"], r["epoch"]) for r in rows(directory)] == [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2)]
    assert not (directory / "result.json").exists()

    resumed = execute(config, tmp_path / "resumed", reference_data_dir, torch.device("cpu"), progress=False)
    assert resumed.status == "finished"
    assert rows(straight.directory) == rows(resumed.directory)
    a, b = (torch.load(d / "checkpoint.pt", weights_only=True) for d in (straight.directory, resumed.directory))
    assert all(torch.equal(a["net"][k], b["net"][k]) for k in a["net"])  # weights and α
    assert a["method"]["w_optimizer"]["param_groups"][0]["weight_decay"] == pytest.approx(3e-3)
    assert b["method"]["ada"] == a["method"]["ada"]
    result_a, result_b = (json.loads((d / "result.json").read_text()) for d in (straight.directory, directory))
    assert result_a["genotype"] == result_b["genotype"]


def test_a_run_killed_after_its_stop_decision_finishes_without_training_on(tmp_path, reference_data_dir, monkeypatch):
    monkeypatch.setitem(EPOCH_METRICS._items, "eigenvalue", fake_eigenvalue)
    config = ada_config("darts_es")
    straight = execute(config, tmp_path / "straight", reference_data_dir, torch.device("cpu"), progress=False)

    config_file = tmp_path / "config.json"
    config_file.write_text(config.model_dump_json())
    command = [sys.executable, "-c", KILLED_BEFORE_RESULT, str(config_file), str(tmp_path / "resumed")]
    killed = subprocess.run([*command, str(reference_data_dir)], env={**os.environ}, timeout=300)
    assert killed.returncode == -9
    directory = tmp_path / "resumed" / config.relative_dir()
    assert not (directory / "result.json").exists()

    resumed = execute(config, tmp_path / "resumed", reference_data_dir, torch.device("cpu"), progress=False)
    assert resumed.status == "finished"
    assert [r["epoch"] for r in rows(directory)] == [0, 1, 2]
    assert rows(straight.directory) == rows(directory)
    result_a, result_b = (json.loads((d / "result.json").read_text()) for d in (straight.directory, directory))
    assert result_b["stopped_early"] and result_b["stop_reason"] == result_a["stop_reason"]
    assert result_a["genotype"] == result_b["genotype"] == rows(directory)[0]["genotype"]


def ada_method(**args) -> DartsAda:
    config = run_config("darts_ada", train={"epochs": 50}, metrics={"eigenvalue": "exact"}, method_args=args)
    return DartsAda(tiny_net("nb201", alpha_scale=None), config, torch.device("cpu"))


@pytest.mark.parametrize("tracker", ["original", "fresh", "restored"])
def test_ada_raises_weight_decay_up_to_the_cap_and_sets_up_its_tracker(tracker):
    method = ada_method(tracker_after_rollback=tracker)
    snapshots = {}
    raised = []
    for _ in range(3):
        decided_at, decision = drive(method)
        if decision is None:
            break
        assert decision.action == "rollback" and decision.rollback_to == decided_at - 12
        before = method.state_dict()
        # Stand-in for the runner's snapshot of the look-back epoch: any earlier state with a tracker.
        snapshot = snapshots.setdefault(decision.rollback_to, copy.deepcopy(before))
        method.load_state_dict(snapshot)
        method.after_rollback(before, decision.rollback_to)
        raised.append(method.weight_decay)
        kept = [list(m) for m in method.measurements]
        expected = {"original": before, "fresh": {"early_stop": {"measurements": []}}, "restored": snapshot}[tracker]
        assert kept == expected["early_stop"]["measurements"]
        method.measurements = []  # drive() replays the series from epoch 0
    assert raised == pytest.approx([3e-3, 3e-2])  # 3e-4 → 3e-3 → 3e-2, then the signal is ignored
    assert decision is None and len(method.describe()["rollbacks"]) == 2

    capped = ada_method(at_cap="stop")
    capped.w_optimizer.param_groups[0]["weight_decay"] = 3e-2
    decided_at, decision = drive(capped)
    assert decision.action == "stop" and str(decision.genotype) == genotype_of(decided_at - 12)


def cell_of(epoch: int, segment: int) -> str:
    """A distinct NB201 cell per (epoch, segment): a look-back genotype tells which trajectory it came from."""
    code = epoch + 50 * segment
    return str(NB201Genotype.from_edge_ops([OPS[(code // 5**e) % 5] for e in range(6)]))


def eigenvalue_at(epoch: int, weight_decay: float) -> float:
    """`series` at the first weight decay; a later, gentler rise at 3e-3; flat at 3e-2."""
    if weight_decay < 1e-3:
        return series(epoch)
    if weight_decay < 1e-2:
        return 1.0 + 0.02 * epoch + (0.2 * (epoch - 18) if epoch > 18 else 0.0)
    return 1.0


def robustdarts_ada(epochs: int = 50, max_weight_decay: float = 3e-2, mul_factor: float = 10.0) -> list:
    """RobustDARTS' `train_search.py` control flow, re-stated: `train_epochs` recurses after a rollback
    without passing `la_tracker`, so its default argument, the first tracker, keeps collecting; the
    look-back epoch and genotype come from the tracker's epoch-keyed dicts. (decided at, look-back, genotype)."""
    tracker = ReferenceTracker(epochs=epochs)
    weight_decay, start, segment, decisions = 3e-4, -1, 0, []
    while True:
        for epoch in range(start + 1, epochs):
            stop = None
            if epoch % 2 == 0 or epoch == epochs - 1:
                tracker.update(epoch, eigenvalue_at(epoch, weight_decay), cell_of(epoch, segment))
                if epoch != epochs - 1:
                    stop = tracker.stop_epoch(epoch)
            final_iteration = round(np.log(max_weight_decay) / np.log(weight_decay), 1) == 1.0
            if stop is not None and not final_iteration:
                decisions.append((epoch, stop, tracker.genotypes[stop]))
                weight_decay, start, segment = weight_decay * mul_factor, stop, segment + 1
                break
        else:
            return decisions


def ours_ada(tracker: str | None, epochs: int = 50) -> list:
    """DartsAda fed as the runner feeds it: rows, a snapshot per epoch, restore + after_rollback.
    `tracker` None: the default `tracker_after_rollback`."""
    method = ada_method(order="first", **({} if tracker is None else {"tracker_after_rollback": tracker}))
    snapshots, decisions, epoch, segment = {}, [], 0, 0
    while epoch < epochs:
        measured = epoch % 2 == 0 or epoch == epochs - 1
        value = eigenvalue_at(epoch, method.weight_decay) if measured else None
        decision = method.on_epoch_end(epoch, {"eigenvalue": value, "genotype": cell_of(epoch, segment)})
        snapshots[epoch] = copy.deepcopy(method.state_dict())
        if decision.action == "rollback":
            before = method.state_dict()
            method.load_state_dict(copy.deepcopy(snapshots[decision.rollback_to]))
            method.after_rollback(before, decision.rollback_to)
            decisions.append((epoch, decision.rollback_to, method.rollbacks[-1]["genotype_at_rollback"]))
            segment, epoch = segment + 1, decision.rollback_to + 1
        else:
            epoch += 1
    return decisions


def test_ada_carries_the_original_tracker_through_two_rollbacks_as_robustdarts_does():
    expected = robustdarts_ada()
    # Rollback 1: epoch 24 → 12. Rollback 2: the stale epoch-14..24 values of the first segment are in
    # the tracker's windows, so it fires at epoch 28 → 16 (a fresh tracker fires at 26, a restored one at 22).
    assert [(d, back) for d, back, _ in expected] == [(24, 12), (28, 16)]
    assert expected[1][2] == cell_of(16, 1)  # the look-back genotype of the current trajectory
    assert ours_ada(None) == ours_ada("original") == expected
    assert [(d, back) for d, back, _ in ours_ada("fresh")] == [(24, 12), (26, 14)]
    assert [(d, back) for d, back, _ in ours_ada("restored")] == [(24, 12), (22, 10)]


def alpha_grads(name: str, weight_decay: float = 3e-4, **args) -> list[torch.Tensor]:
    """α gradient of one α step of method `name` after one weight step (a momentum buffer), tiny NB201 net."""
    config = run_config(name, train={"weight_decay": weight_decay}, metrics={"eigenvalue": "exact"}, method_args=args)
    method = get_method_class(name)(tiny_net("nb201"), config, torch.device("cpu"))
    train, valid = tiny_batch(0), tiny_batch(1)
    method.weight_step(train)
    method.alpha_step(train, valid)
    return [a.grad.clone() for a in method.net.arch_parameters()]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.allclose(x, y, rtol=1e-9, atol=1e-12) for x, y in zip(a, b))


@pytest.mark.parametrize("name", ["darts_es", "darts_ada", "rdarts_l2", "rdarts_dp"])
def test_robustdarts_methods_take_darts_second_order_step_by_default_and_first_on_request(name):
    second, first = alpha_grads("darts_2nd"), alpha_grads("darts")
    assert not same(second, first)
    assert same(alpha_grads(name), second)
    assert same(alpha_grads(name, order="first"), first)
    config = run_config(name, metrics={"eigenvalue": "exact"})
    described = get_method_class(name)(tiny_net("nb201"), config, torch.device("cpu")).describe()
    assert described["order"] == "second" and described["args"]["order"] == "second"


def test_l2_look_ahead_step_uses_the_strength_as_weight_decay():
    assert same(alpha_grads("rdarts_l2", strength=8.1e-3), alpha_grads("darts_2nd", weight_decay=8.1e-3))
    assert not same(alpha_grads("darts_2nd", weight_decay=8.1e-3), alpha_grads("darts_2nd", weight_decay=3e-4))


@pytest.mark.parametrize(("mode", "expected"), [("lagged", 3e-4), ("current", 3e-3)])
def test_ada_look_ahead_weight_decay_after_a_rollback(mode, expected):
    """RobustDARTS builds the new Architect before raising args.weight_decay: one raise behind."""
    config = run_config("darts_ada", metrics={"eigenvalue": "exact"}, method_args={"unrolled_weight_decay": mode})
    method = DartsAda(tiny_net("nb201"), config, torch.device("cpu"))
    assert method.unrolled_weight_decay() == pytest.approx(3e-4)
    method.rollbacks = [{"weight_decay": 3e-3}]
    method.set_weight_decay(3e-3)
    assert method.unrolled_weight_decay() == pytest.approx(expected)
    method.rollbacks.append({"weight_decay": 3e-2})
    method.set_weight_decay(3e-2)
    assert method.unrolled_weight_decay() == pytest.approx({"lagged": 3e-3, "current": 3e-2}[mode])
