"""Staged searches: a method that declares stages runs them in one run directory (stage columns, every
stage's genotype in result.json), the next stage's op lists come from the finished stage, and a run
SIGKILLed in stage 2 resumes to the uninterrupted result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from nasbench_harness.config import RunConfig, SuiteConfig
from nasbench_harness.engine import stages
from nasbench_harness.engine.runner import execute
from nasbench_harness.engine.stages import NextStage, Stage
from nasbench_harness.methods import register_method
from nasbench_harness.methods.base import METHODS
from nasbench_harness.methods.darts import Darts
from nasbench_harness.spaces import get_space
from nasbench_harness.suite_expansion import expand_suite
from nasbench_harness.testing import _bits, run_killed_at_step

TIMING = {"train_seconds", "epoch_seconds"}


class KeepStrong(Darts):
    """A two-stage DARTS that keeps, per edge, the ops whose α is at least the edge's mean (so edges end
    with op lists of different lengths), with a different learning rate in stage 2."""

    @classmethod
    def stages(cls, config: RunConfig) -> list[Stage]:
        return [Stage("all", 2), Stage("strong", 1, train={"lr": 0.05})]

    def next_stage(self, stage: Stage) -> NextStage:
        ops, kept = {}, {}
        for cell_type, edges in self.net.space.edge_ops.items():
            alpha = self.net.alphas[cell_type].detach().numpy()
            lists = []
            for e, names in enumerate(edges):
                row = alpha[e, : len(names)]
                lists.append(tuple(n for n, a in zip(names, row) if a >= row.mean()))
            ops[cell_type], kept[cell_type] = tuple(lists), [len(x) for x in lists]
        return NextStage(ops, {"kept": kept})


@pytest.fixture
def keep_strong(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(METHODS, "_items", dict(METHODS._items))
    register_method("planted_keep_strong")(KeepStrong)
    return "planted_keep_strong"


def tiny_config(method: str, space: str, **method_args: Any) -> RunConfig:
    suite = SuiteConfig.model_validate(
        {
            "name": "stages",
            "profile": "tiny",
            "methods": [method],
            "spaces": [space],
            "datasets": ["cifar10"],
            "seeds": [0],
            "metrics": {"ground_truth": False},
            "method_args": method_args,
        }
    )
    return expand_suite(suite)[0]


def rows(directory: Path) -> list[dict[str, Any]]:
    lines = (directory / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in lines]


def test_a_staged_run_records_every_stage_in_one_directory(keep_strong, tmp_path, reference_data_dir):
    config = tiny_config(keep_strong, "nb201")
    outcome = execute(config, tmp_path, reference_data_dir, torch.device("cpu"), progress=False)
    assert outcome.status == "finished", outcome.reason
    logged = rows(outcome.directory)
    assert [r["epoch"] for r in logged] == [0, 1, 2]
    assert [r["stage"] for r in logged] == [0, 0, 1]
    assert [r["stage_name"] for r in logged] == ["all", "all", "strong"]
    assert [r["stage_epoch"] for r in logged] == [0, 1, 0]
    # each stage has its own cosine schedule and optimiser settings: epoch 0 of each starts at its lr
    assert logged[0]["lr"] == pytest.approx(0.025) and logged[2]["lr"] == pytest.approx(0.05)
    # the decision that builds the next stage is logged while the stage trains, not after it
    assert all("stage_choice" in r for r in logged[:2]) and "stage_choice" not in logged[2]

    result = json.loads((outcome.directory / "result.json").read_text())
    first, second = result["stages"]
    assert (first["name"], second["name"]) == ("all", "strong")
    assert first["edge_ops"]["cell"] == [list(names) for names in get_space("nb201").edge_ops["cell"]]
    # stage 2 runs on the op lists stage 1 handed on (its α at the end of stage 1)
    stage1_alpha = np.asarray(first["alphas"]["cell"])
    expected = [
        [n for n, a in zip(names, row) if a >= row.mean()]
        for names, row in zip(first["edge_ops"]["cell"], stage1_alpha)
    ]
    assert second["edge_ops"]["cell"] == expected
    assert logged[1]["stage_choice"] == {"kept": {"cell": [len(x) for x in expected]}}
    assert result["genotype"] == second["genotype"] == logged[-1]["genotype"]
    # α of stage 2 is edges × the longest list, padding exactly 0
    alpha2 = np.asarray(logged[-1]["alphas"]["cell"])
    width = max(len(x) for x in expected)
    assert alpha2.shape == (6, width)
    for e, names in enumerate(expected):
        assert (alpha2[e, len(names) :] == 0.0).all()
    checkpoint = torch.load(outcome.directory / "checkpoint.pt", weights_only=True)
    assert checkpoint["stage"] == 1 and checkpoint["stage_ops"]["cell"] == expected
    metadata = json.loads((outcome.directory / "metadata.json").read_text())
    assert [s["name"] for s in metadata["stages"]] == ["all", "strong"] and metadata["stage"] == 1


def test_single_stage_rows_and_results_have_no_stage_fields(tmp_path, reference_data_dir):
    outcome = execute(tiny_config("darts", "nb201"), tmp_path, reference_data_dir, torch.device("cpu"), progress=False)
    assert not {"stage", "stage_name", "stage_epoch"} & set(rows(outcome.directory)[0])
    assert "stages" not in json.loads((outcome.directory / "result.json").read_text())
    assert "stage" not in torch.load(outcome.directory / "checkpoint.pt", weights_only=True)


def test_stage_plans_are_checked():
    space = get_space("nb201")
    with pytest.raises(Exception, match="non-empty edges"):
        stages.stage_space(space, {"cell": (("none",),) * 5})
    with pytest.raises(Exception, match="cell types"):
        stages.stage_space(space, {"normal": (("none",),) * 6})
    assert stages.boundaries([Stage("a", 3), Stage("b", 2)]) == [0, 3, 5]
    assert [stages.stage_at([Stage("a", 3), Stage("b", 2)], e) for e in range(6)] == [0, 0, 0, 1, 1, 1]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, reference_data_dir: Path) -> tuple[RunConfig, Path, Path]:
    """A tiny StacNAS run on NB201 (2 stages of 2 epochs), uninterrupted: its config file and directory."""
    work = tmp_path_factory.mktemp("stacnas_straight")
    config = tiny_config("stacnas", "nb201")
    config_file = work / "config.json"
    config_file.write_text(config.model_dump_json())
    assert run_killed_at_step(config_file, work / "straight", reference_data_dir, 0) == 0
    return config, config_file, work / "straight" / config.relative_dir()


@pytest.mark.parametrize(
    "kill_at, rows_before",
    [
        # stage 2, in its second epoch (8 steps per epoch, 2 epochs per stage); -m slow: the first step below is
        # the harder case, and killed mid-stage is the ordinary resume every method's kill test covers
        pytest.param(8 * 3 + 3, [0, 1, 2], marks=pytest.mark.slow),
        (8 * 2 + 1, [0, 1]),  # stage 2's first step: the checkpoint holds stage 2 freshly built
    ],
)
def test_a_run_killed_in_stage_2_resumes_to_the_uninterrupted_result(
    uninterrupted, tmp_path, reference_data_dir, kill_at, rows_before
):
    config, config_file, straight = uninterrupted
    assert run_killed_at_step(config_file, tmp_path / "resumed", reference_data_dir, kill_at) == -9
    directory = tmp_path / "resumed" / config.relative_dir()
    assert [r["epoch"] for r in rows(directory)] == rows_before
    assert not (directory / "result.json").exists()
    assert run_killed_at_step(config_file, tmp_path / "resumed", reference_data_dir, 0) == 0

    assert rows(straight) == rows(directory)
    assert [r["stage"] for r in rows(directory)] == [0, 0, 1, 1]
    results = [json.loads((d / "result.json").read_text()) for d in (straight, directory)]
    assert results[0]["genotype"] == results[1]["genotype"]
    assert results[0]["stages"] == results[1]["stages"]
    final = [torch.load(d / "checkpoint.pt", weights_only=True)["net"] for d in (straight, directory)]
    assert final[0].keys() == final[1].keys()
    assert all(_bits(final[0][k]) == _bits(final[1][k]) for k in final[0])


def test_a_staged_method_that_rolls_back_is_refused():
    class RollsBack(KeepStrong):
        keeps_snapshots = True

    config = RunConfig(method="rolls_back", space="nb201", dataset="cifar10", seed=0)
    with pytest.raises(Exception, match="cannot be combined"):
        stages.plan(RollsBack, config)
    assert stages.plan(Darts, config) is None
