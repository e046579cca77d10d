"""`nasbench bench`: what it times is the registered method's own step and xautodl's reference, interleaved;
epoch time is step time x the real protocol's steps per epoch; peak memory comes from a fresh process."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from reference_packages import require

from nasbench_harness.bench import measure
from nasbench_harness.bench import steps as S
from nasbench_harness.cli import main
from nasbench_harness.methods import get_method_class

CPU = torch.device("cpu")


def test_steps_per_epoch_follow_the_real_protocol() -> None:
    # 25,000 weight images (DARTS' half; NB201's official CIFAR-10 split), batch 64, last batch kept: 391.
    assert S.steps_per_epoch(S.run_config("darts", "nb201")) == 391
    assert S.steps_per_epoch(S.run_config("darts", "darts")) == 391
    assert S.steps_per_epoch(S.run_config("darts", "nb201", profile="tiny")) == 25_000 // 8


def test_variants_pair_each_method_with_its_reference_only_where_one_exists() -> None:
    names = [v.name for v in measure.variants(["darts", "darts_2nd"], ["nb201", "darts"])]
    assert names == [
        "darts/nb201",
        "darts/nb201 (xautodl)",
        "darts_2nd/nb201",
        "darts/darts",
        "darts/darts (xautodl)",
        "darts_2nd/darts",
    ]


def test_bench_cli_times_the_methods_own_step_interleaved_with_xautodl(tmp_path, monkeypatch) -> None:
    require("xautodl")
    calls: list[str] = []
    darts = get_method_class("darts")
    original = darts.step

    def counted(self, train, valid):
        calls.append("ours")
        return original(self, train, valid)

    monkeypatch.setattr(darts, "step", counted)
    out = tmp_path / "bench.json"
    args = ["bench", "--profile", "tiny", "--space", "nb201", "--steps", "2", "--device", "cpu", "--no-memory"]
    result = CliRunner().invoke(main, [*args, "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "darts/nb201 (xautodl)" in result.output and "vs xautodl" in result.output
    assert calls == ["ours"] * 3  # one warm-up step, then one per round
    report = json.loads(out.read_text())
    assert {"date", "device_name", "torch_version", "cuda_version"} <= set(report["environment"])
    ours, ref = report["rows"]
    assert ref["reference"].startswith("xautodl TinyNetworkDarts") and "speedup_vs_xautodl" not in ref
    assert len(ours["step_seconds_all"]) == len(ref["step_seconds_all"]) == 2
    assert ours["step_seconds"] == min(ours["step_seconds_all"])
    assert ours["speedup_vs_xautodl"] == pytest.approx(ref["step_seconds"] / ours["step_seconds"])
    assert ours["epoch_seconds_extrapolated"] == pytest.approx(ours["step_seconds"] * ours["steps_per_epoch"])


def test_peak_memory_is_measured_in_a_fresh_process() -> None:
    big = torch.ones(2**28)  # 1 GiB: this process's peak must not hide the child's (getrusage would)
    del big
    peak = measure.peak_memory(measure.Variant("darts", "nb201"), CPU, "tiny", threads=1)
    assert isinstance(peak, int) and peak > 0


def test_peak_memory_subprocess_failure_is_reported(monkeypatch) -> None:
    with pytest.raises(Exception, match="peak-memory subprocess for nope/nb201 failed"):
        measure.peak_memory(measure.Variant("nope", "nb201"), CPU, "tiny", threads=1)


def test_bench_rejects_an_unknown_method() -> None:
    result = CliRunner().invoke(main, ["bench", "--method", "nope", "--no-memory"])
    assert result.exit_code == 1 and "unknown method 'nope'" in result.output
