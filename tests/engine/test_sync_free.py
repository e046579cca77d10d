"""The search step loop never reads a device value back to the host: a step's figures stay on the device
(EpochFigures sums them and reads them once per epoch), and the methods' steps call no `.item()`."""

from __future__ import annotations

import pytest
import torch
from sync_support import count_host_syncs

from nasbench_harness.engine.runner import EpochFigures
from nasbench_harness.testing import random_batch, tiny_method


@pytest.mark.parametrize("space", ["nb201", "darts"])
@pytest.mark.parametrize("method", ["darts", "darts_2nd"])
def test_step_loop_makes_no_host_synchronisation(method: str, space: str) -> None:
    m = tiny_method(method, space)
    m.set_epoch(0, m.config.train.lr)
    figures = EpochFigures()
    batches = [(random_batch(2 * i), random_batch(2 * i + 1)) for i in range(2)]
    with count_host_syncs() as calls:
        for train, valid in batches:  # the runner's step loop (engine/runner.py `_epoch_session`)
            figures.add(m.step(train, valid), train_n=len(train[1]), valid_n=len(valid[1]))
    assert calls == []
    means = figures.means(0)  # the once-per-epoch read
    assert set(means) >= {"train_loss", "valid_loss"}


def test_the_counter_sees_a_read_back_in_our_code() -> None:
    figures = EpochFigures()
    figures.add({"train_loss": torch.tensor(1.0)}, train_n=1, valid_n=1)
    with count_host_syncs() as calls:
        figures.means(0)  # reads the epoch's figures back: bool(finite.all()), float(...)
    assert any("runner.py" in call for call in calls)
