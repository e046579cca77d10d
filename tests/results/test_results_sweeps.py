"""Sweep selection is the method's: a method that declares `sweep_param` and `select` is collapsed by its
own rule, with no name of it in the results layer."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from results_support import epoch_row, write_run

from nasbench_harness.methods import register_method
from nasbench_harness.methods.base import METHODS
from nasbench_harness.methods.darts import Darts
from nasbench_harness.results import load_results
from nasbench_harness.results.load import setting_key, sweep_class


class TemperatureArgs(BaseModel):
    temperature: float | None = None
    temperatures: list[float] = [1.0, 2.0]


class LowestTrainLoss(Darts):
    """Sweeps `temperature` and keeps the run with the lowest final training loss (not R-DARTS' rule)."""

    Args = TemperatureArgs
    sweep_param = "temperature"

    @classmethod
    def select(cls, results: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        best: dict[str, Mapping[str, Any]] = {}
        for result in results:
            loss = (result["final"] or {}).get("train_loss")
            group = cls.sweep_group(result["config"])
            if loss is not None and (group not in best or loss < best[group]["final"]["train_loss"]):
                best[group] = result
        return list(best.values())


@pytest.fixture
def planted(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(METHODS, "_items", dict(METHODS._items))
    register_method("planted_sweep")(LowestTrainLoss)
    sweep_class.cache_clear()
    yield "planted_sweep"
    sweep_class.cache_clear()


def test_a_declared_sweep_is_selected_by_the_methods_rule(tmp_path: Path, planted: str):
    for seed, temperature, loss, acc in [(0, 1.0, 0.5, 10.0), (0, 2.0, 0.9, 90.0), (1, 1.0, 0.8, 10.0)]:
        rows = [epoch_row(0, train_loss=loss, eval_valid_acc=acc)]
        args = {"temperature": temperature, "temperatures": [1.0, 2.0]}
        write_run(tmp_path, method=planted, seed=seed, rows=rows, method_args=args)
    write_run(
        tmp_path, method=planted, seed=1, status="failed", method_args={"temperature": 2.0, "temperatures": [1.0, 2.0]}
    )
    runs = load_results(tmp_path).runs
    chosen = runs[runs["selected"]].set_index("seed")
    assert chosen["arg_temperature"].to_dict() == {0: 1.0, 1: 1.0}  # lowest loss, not best accuracy
    assert runs.groupby("seed")["sweep_group"].nunique().tolist() == [1, 1]
    assert runs.groupby("seed")["setting"].nunique().tolist() == [1, 1]


def test_methods_that_declare_no_sweep_stand_for_themselves():
    assert sweep_class("darts") is None and sweep_class("rdarts_l2").sweep_param == "strength"
    assert sweep_class("no_such_method") is None
    config = {"method": "darts", "seed": 0, "method_args": {"strength": 1.0}}
    assert setting_key(config) != setting_key({**config, "method_args": {"strength": 2.0}})
