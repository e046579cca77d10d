"""Architecture state beyond α (PC-DARTS' β): logged per epoch by the runner, restored on rollback, kept
out of the result figures, and a checkpoint without it refused with a clear error."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
import torch

from nasbench_harness.engine.runner import execute
from nasbench_harness.methods import EpochDecision, register_method
from nasbench_harness.methods.base import METHODS
from nasbench_harness.methods.pc_darts import PcDarts
from nasbench_harness.results.load import read_run
from nasbench_harness.testing import kill_resume_config, tiny_method


class RollsBackOnce(PcDarts):
    """Rolls back from epoch 1 to epoch 0 once, recording β around it."""

    keeps_snapshots = True

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.rolled = False
        self.seen: dict[str, list[torch.Tensor]] = {"end_of_epoch_0": [], "end_of_epoch_1": [], "restored": []}

    def beta(self) -> torch.Tensor:
        return torch.cat([p.detach().clone().flatten() for p in self.extra_arch.values()])

    def on_epoch_end(self, epoch: int, row: Mapping[str, Any]) -> EpochDecision:
        self.seen[f"end_of_epoch_{epoch}"].append(self.beta())
        if epoch == 1 and not self.rolled:
            self.rolled = True
            return EpochDecision("rollback", rollback_to=0, reason="test")
        return EpochDecision()

    def after_rollback(self, method_state: Mapping[str, Any], epoch: int) -> None:
        self.seen["restored"].append(self.beta())


@pytest.fixture
def rolls_back(monkeypatch: pytest.MonkeyPatch) -> list[RollsBackOnce]:
    monkeypatch.setattr(METHODS, "_items", dict(METHODS._items))
    register_method("planted_rolls_back_once")(RollsBackOnce)
    made: list[RollsBackOnce] = []
    original = RollsBackOnce.__init__

    def recording(self: RollsBackOnce, *args: Any) -> None:
        original(self, *args)
        made.append(self)

    monkeypatch.setattr(RollsBackOnce, "__init__", recording)
    return made


def test_beta_is_logged_every_epoch_and_left_out_of_the_figures(tmp_path, reference_data_dir):
    config = kill_resume_config("pc_darts", "s3", warmup_epochs=0)
    outcome = execute(config, tmp_path, reference_data_dir, torch.device("cpu"), progress=False)
    assert outcome.status == "finished", outcome.reason
    rows = [json.loads(line) for line in (outcome.directory / "metrics.jsonl").read_text().splitlines()]
    betas = [row["arch_state"] for row in rows]
    assert all(set(b) == {"beta.normal", "beta.reduce"} and len(b["beta.normal"]) == 14 for b in betas)
    assert betas[0] != betas[1], "β did not move, or was logged stale"
    saved = torch.load(outcome.directory / "checkpoint.pt", weights_only=True)["method"]["extra_arch"]
    assert saved["beta.normal"].tolist() == betas[-1]["beta.normal"]
    result = json.loads((outcome.directory / "result.json").read_text())
    assert "arch_state" not in result["final"] and "alphas" not in result["final"]
    _, loaded_rows, _ = read_run(outcome.directory, tmp_path)
    assert all("arch_state" not in row for row in loaded_rows)


def test_rollback_restores_beta(tmp_path, reference_data_dir, rolls_back):
    # β on NB201: an option there (DrNAS' NB201 script, the default, has none).
    config = kill_resume_config("planted_rolls_back_once", "nb201", warmup_epochs=0, edge_normalisation=True)
    outcome = execute(config, tmp_path, reference_data_dir, torch.device("cpu"), progress=False)
    assert outcome.status == "finished", outcome.reason
    (method,) = rolls_back
    (epoch0,), restored = method.seen["end_of_epoch_0"], method.seen["restored"]
    assert len(restored) == 1 and not torch.equal(method.seen["end_of_epoch_1"][0], epoch0)
    assert torch.equal(restored[0], epoch0), "the rollback left β at its epoch-1 value"


def test_a_checkpoint_without_the_methods_architecture_state_is_refused():
    method = tiny_method("pc_darts", "nb201")
    state = {k: v for k, v in method.state_dict().items() if k != "extra_arch"}
    with pytest.raises(ValueError, match=r"holds architecture parameters \[\], the method has \['beta.cell'\]"):
        method.load_state_dict(state)
