"""`nasbench bench --pack-seeds N`: a pack round is one round of the real `PackDriver` (each member steps once,
or once batched), timed interleaved with the run alone, and its rows carry round, per-run-step and ratio."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import torch
from click.testing import CliRunner
from reference_packages import require

from nasbench_harness.bench import steps as S
from nasbench_harness.bench.packed import PackRounds
from nasbench_harness.cli import main
from nasbench_harness.engine import batched
from nasbench_harness.engine.packed import PackDriver
from nasbench_harness.errors import HarnessError
from nasbench_harness.methods import get_method_class

CPU = torch.device("cpu")


def test_bench_cli_times_packs_through_the_pack_driver(tmp_path, monkeypatch) -> None:
    require("xautodl")
    built: dict[str, list] = {"alone": [], "interleaved": [], "batched": []}
    optimiser_steps: Counter[tuple[int, str]] = Counter()
    method_steps: Counter[int] = Counter()
    drivers, batched_calls = [], []
    original_stepper, original_start = S.stepper, PackDriver.start
    darts = get_method_class("darts")
    original_step, original_batched = darts.step, batched.BatchedStep.__call__

    def stepper(method, device, mode=None):
        built[mode or "alone"].append(method)
        for side in ("w", "a"):
            key = (id(method), side)
            optimiser = getattr(method, f"{side}_optimizer")
            optimiser.register_step_post_hook(lambda *_, key=key: optimiser_steps.update([key]))
        return original_stepper(method, device, mode)

    def counted_step(self, train, valid):
        method_steps[id(self)] += 1
        return original_step(self, train, valid)

    def counted_batched(self, batches):
        batched_calls.append(len(batches))
        return original_batched(self, batches)

    def counted_start(self):
        drivers.append(self.mode)
        return original_start(self)

    monkeypatch.setattr(S, "stepper", stepper)
    monkeypatch.setattr(darts, "step", counted_step)
    monkeypatch.setattr(batched.BatchedStep, "__call__", counted_batched)
    monkeypatch.setattr(PackDriver, "start", counted_start)
    out = tmp_path / "bench.json"
    args = ["bench", "--profile", "tiny", "--space", "nb201", "--steps", "2", "--device", "cpu", "--no-memory"]
    modes = ["--pack-seeds", "2", "--pack-mode", "interleaved", "--pack-mode", "batched"]
    result = CliRunner().invoke(main, [*args, *modes, "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "darts/nb201 (pack of 2, batched)" in result.output and "vs alone" in result.output

    # One driver per pack; every member steps once per call (one warm-up, two rounds), with its own optimisers.
    assert drivers == ["interleaved", "batched"]
    assert [len(built[k]) for k in ("alone", "interleaved", "batched")] == [1, 2, 2]
    for method in built["alone"] + built["interleaved"]:
        assert method_steps[id(method)] == 3
    assert batched_calls == [2, 2, 2]
    for method in built["batched"]:
        assert method_steps[id(method)] == 0  # the vmapped step, not the method's own
    for method in built["interleaved"] + built["batched"]:
        assert optimiser_steps[(id(method), "w")] == optimiser_steps[(id(method), "a")] == 3
    seeds = [m.config.seed for m in built["interleaved"]]
    assert seeds == [0, 1] and not torch.equal(*(next(m.net.parameters()) for m in built["interleaved"]))

    report = json.loads(out.read_text())
    alone, _, *packs = report["rows"]
    assert [row["pack_mode"] for row in packs] == ["interleaved", "batched"]
    for row in packs:
        assert row["pack_seeds"] == 2 and len(row["round_seconds_all"]) == 2
        assert row["round_seconds"] == min(row["round_seconds_all"])
        assert row["step_seconds"] == pytest.approx(row["round_seconds"] / 2)
        assert row["alone_step_seconds"] == alone["step_seconds"]
        assert row["speedup_vs_alone"] == pytest.approx(alone["step_seconds"] / row["step_seconds"])
        assert row["epoch_seconds_extrapolated"] == pytest.approx(row["round_seconds"] * row["steps_per_epoch"])
    assert packs[1]["packing"]["batched"]["mode"] == "vmap" and "batched" not in packs[0]["packing"]


def test_pack_mode_needs_pack_seeds() -> None:
    result = CliRunner().invoke(main, ["bench", "--pack-mode", "batched", "--no-memory"])
    assert result.exit_code == 2 and "give --pack-seeds too" in result.output


BATCHES = ((torch.zeros(1), torch.zeros(1)), (torch.zeros(1), torch.zeros(1)))


def test_pack_rounds_step_every_member_once_per_call_and_end_with_the_last() -> None:
    calls: list[int] = []

    def member(i: int):
        return object(), lambda train, valid: calls.append(i) or {}

    rounds = PackRounds([member(i) for i in range(3)], "interleaved", CPU, BATCHES, rounds=3)
    for done in range(1, 4):
        rounds()
        assert Counter(calls) == {0: done, 1: done, 2: done}
    with pytest.raises(HarnessError, match="built for 3 rounds"):
        rounds()


def test_pack_rounds_report_a_failing_step() -> None:
    def boom(train, valid):
        raise ValueError("boom in the step")

    rounds = PackRounds([(object(), boom)], "interleaved", CPU, BATCHES, rounds=2)
    with pytest.raises(HarnessError, match="boom in the step"):
        rounds()
    rounds.close()
