"""Found in review: a StopIteration raised inside a method's step (a bug, e.g. `next()` on an exhausted
iterator) was taken by the session drivers for the end of the run: alone, `execute` raised a TypeError
instead of recording the failure; in a seed pack, the run's outcome vanished from the pack's outcomes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nasbench_harness.config import RunConfig, SuiteConfig
from nasbench_harness.engine.packed import SeedPack, execute_pack
from nasbench_harness.engine.runner import execute
from nasbench_harness.methods import get_method_class
from nasbench_harness.suite_expansion import expand_suite

CPU = torch.device("cpu")


def tiny_runs(seeds: list[int]) -> list[RunConfig]:
    suite = {
        "name": "stopiteration",
        "profile": "tiny",
        "methods": ["darts"],
        "spaces": ["nb201"],
        "datasets": ["cifar10"],
        "seeds": seeds,
        "train": {"epochs": 1},
        "metrics": {"eigenvalue": "off", "ground_truth": False},
    }
    return expand_suite(SuiteConfig.model_validate(suite))


@pytest.fixture
def step_raising_stopiteration_for_seed_1(monkeypatch: pytest.MonkeyPatch) -> None:
    cls = get_method_class("darts")
    original = cls.step

    def step(self, train, valid):
        if self.config.seed == 1:
            next(iter([]))
        return original(self, train, valid)

    monkeypatch.setattr(cls, "step", step)


@pytest.mark.usefixtures("step_raising_stopiteration_for_seed_1")
def test_a_stopiteration_in_the_step_fails_the_run_alone(tmp_path: Path, reference_data_dir: Path) -> None:
    outcome = execute(tiny_runs([1])[0], tmp_path, reference_data_dir, CPU, progress=False)
    assert outcome.status == "failed" and "StopIteration" in outcome.reason
    assert (outcome.directory / "failed.json").exists()


@pytest.mark.usefixtures("step_raising_stopiteration_for_seed_1")
def test_a_stopiteration_in_the_step_fails_that_run_of_the_pack(tmp_path: Path, reference_data_dir: Path) -> None:
    runs = tiny_runs([0, 1])
    outcomes = execute_pack(SeedPack(tuple(runs)), tmp_path, reference_data_dir, CPU, progress=False)
    assert [(o.config.seed, o.status) for o in outcomes] == [(0, "finished"), (1, "failed")]
    assert "StopIteration" in outcomes[1].reason
