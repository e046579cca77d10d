"""The learning rate each epoch of each method trains at, against its original's scheduler call order.

`scheduler.step()` before an epoch's training trains epoch e at the cosine's lr(e) under PyTorch < 1.1, whose
scheduler constructor leaves `last_epoch` at -1, and at lr(e + 1) under PyTorch >= 1.1, whose constructor takes
step 0 itself (so the last epoch trains at lr_min). Which PyTorch each original ran decides which; the loops
below replay each original's calls: the PyTorch >= 1.1 ones on this torch's own `CosineAnnealingLR`, the
PyTorch 0.3.1 ones on that version's scheduler (re-typed below from its source), xautodl's on xautodl's.
"""

from __future__ import annotations

import importlib.util
import json
import math
import warnings
from pathlib import Path

import pytest
import torch
from reference_packages import require

from nasbench_harness.config import SuiteConfig
from nasbench_harness.engine import run_suite
from nasbench_harness.engine.runner import epoch_lr
from nasbench_harness.methods import list_methods
from nasbench_harness.suite_expansion import expand_suite

EPOCHS = 6


class Pytorch031CosineAnnealingLR:
    """torch 0.3.1 `torch/optim/lr_scheduler.py`: `_LRScheduler.__init__` sets each group's `initial_lr`, calls
    `self.step(last_epoch + 1)` and then resets `self.last_epoch = last_epoch` (-1); `step(epoch=None)` takes
    `epoch = self.last_epoch + 1`, stores it and sets every group's lr to `get_lr()`; `CosineAnnealingLR.get_lr`
    is eta_min + (base_lr − eta_min)·(1 + cos(π·last_epoch/T_max))/2. (PyTorch 1.0 behaves the same.)"""

    def __init__(self, optimizer: torch.optim.Optimizer, t_max: float, eta_min: float = 0.0, last_epoch: int = -1):
        self.optimizer, self.t_max, self.eta_min = optimizer, t_max, eta_min
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.step(last_epoch + 1)
        self.last_epoch = last_epoch

    def get_lr(self) -> list[float]:
        cosine = (1 + math.cos(math.pi * self.last_epoch / self.t_max)) / 2
        return [self.eta_min + (base - self.eta_min) * cosine for base in self.base_lrs]

    def step(self, epoch: int | None = None) -> None:
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr


def _optimizer(lr: float) -> torch.optim.SGD:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr, momentum=0.9)


def step_before_pytorch_0_3(lr: float, lr_min: float, epochs: int) -> list[float]:
    """`scheduler.step()` then the epoch, under PyTorch 0.3.1."""
    optimizer = _optimizer(lr)
    scheduler = Pytorch031CosineAnnealingLR(optimizer, float(epochs), eta_min=lr_min)
    rates = []
    for _ in range(epochs):
        scheduler.step()
        rates.append(optimizer.param_groups[0]["lr"])
    return rates


def step_before_pytorch_1_1(lr: float, lr_min: float, epochs: int) -> list[float]:
    """`scheduler.step()` then the epoch, under PyTorch >= 1.1 (this torch)."""
    optimizer = _optimizer(lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, float(epochs), eta_min=lr_min)
    rates = []
    with warnings.catch_warnings():  # "lr_scheduler.step() before optimizer.step()": the very order replayed
        warnings.simplefilter("ignore")
        for _ in range(epochs):
            scheduler.step()
            rates.append(optimizer.param_groups[0]["lr"])
    return rates


def step_after(lr: float, lr_min: float, epochs: int) -> list[float]:
    """The epoch, then `scheduler.step()`, under PyTorch >= 1.1."""
    optimizer = _optimizer(lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, float(epochs), eta_min=lr_min)
    rates = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(epochs):
            rates.append(optimizer.param_groups[0]["lr"])
            scheduler.step()
    return rates


def step_with_epoch(lr: float, lr_min: float, epochs: int) -> list[float]:
    """`scheduler.step(epoch)` then the epoch (RobustDARTS), the same under every PyTorch."""
    optimizer = _optimizer(lr)
    scheduler = Pytorch031CosineAnnealingLR(optimizer, float(epochs), eta_min=lr_min)
    rates = []
    for epoch in range(epochs):
        scheduler.step(epoch)
        rates.append(optimizer.param_groups[0]["lr"])
    return rates


def xautodl_update(lr: float, lr_min: float, epochs: int) -> list[float]:
    """xautodl's `w_scheduler.update(epoch, 0.0)` before each epoch (GDAS.py line 232, DARTS-V1.py; warm-up 0)."""
    package = require("xautodl")
    path = Path(package.__path__[0]) / "procedures" / "optimizers.py"
    spec = importlib.util.spec_from_file_location("_xautodl_optimizers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    optimizer = _optimizer(lr)
    scheduler = module.CosineAnnealingLR(optimizer, 0, epochs, epochs, lr_min)
    rates = []
    for epoch in range(epochs):
        scheduler.update(epoch, 0.0)
        rates.append(optimizer.param_groups[0]["lr"])
    return rates


#: (method, space) → the original's loop, and where it is. Every registered method has a row.
ORIGINAL_LOOPS = {
    # quark0/darts cnn/train_search.py lines 103-110; README line 14: PyTorch == 0.3.1.
    ("darts", "s3"): step_before_pytorch_0_3,
    ("darts_2nd", "darts"): step_before_pytorch_0_3,
    ("darts", "nb201"): xautodl_update,  # xautodl exps/NAS-Bench-201-algos/DARTS-V1.py
    # RobustDARTS src/search/train_search.py lines 105-110: scheduler.step(epoch).
    ("darts_es", "s3"): step_with_epoch,
    ("darts_ada", "s1"): step_with_epoch,
    ("rdarts_l2", "s2"): step_with_epoch,
    ("rdarts_dp", "s4"): step_with_epoch,
    # RobustDARTS darts_wrapper_discrete.py lines 90-95, scheduler.step() at each epoch's first step; RandomNAS.sh
    # line 18 activates pytorch-0.3.1.
    ("random_ws", "s3"): step_before_pytorch_0_3,
    # PC-DARTS train_search.py lines 107-114; README line 76: pytorch 0.3.1 (`loss.data[0]`, line 168).
    ("pc_darts", "darts"): step_before_pytorch_0_3,
    # DrNAS 201-space/train_search.py lines 192-198 and 237 (DrNAS' NB201 partial-channel search).
    ("pc_darts", "nb201"): step_after,
    # SmoothDARTS sota/cnn/train_search.py lines 153-160, nasbench201/train_search.py lines 153-160, both importing
    # torch.utils.tensorboard (PyTorch >= 1.1; the author's 1.3.0, SmoothDARTS issue #4).
    ("sdarts_rs", "s3"): step_before_pytorch_1_1,
    ("sdarts_adv", "nb201"): step_before_pytorch_1_1,
    # Beta-DARTS nasbench201/train_search.py lines 155-162 (tensorboard, line 26); sota/cnn the same.
    ("beta_darts", "nb201"): step_before_pytorch_1_1,
    ("beta_darts", "darts"): step_before_pytorch_1_1,
    # DrNAS DARTS-space/train_search.py lines 123-144: get_lr() before, step() after each epoch, one schedule
    # over both stages (configure_scheduler, line 156).
    ("drnas", "darts"): step_after,
    ("drnas", "nb201"): step_after,
    # Λ-DARTS sota/cnn/train_search.py lines 152-158 and 180 (README: PyTorch >= 1.1.0); NB201: xautodl's.
    ("lambda_darts", "s3"): step_after,
    ("lambda_darts", "nb201"): xautodl_update,
    ("gdas", "nb201"): xautodl_update,
    ("gdas", "darts"): xautodl_update,
    # StacNAS search.py lines 245-247, step() before each stage's epochs; README: PyTorch >= 1.0.0, under
    # which (1.0) the step before the epoch gives lr(e).
    ("stacnas", "darts"): step_before_pytorch_0_3,
    # MSG-DAS has no public code: GDAS's schedule (its loop is GDAS's).
    ("msg_das", "nb201"): xautodl_update,
}


def test_every_method_has_its_original_loop():
    assert {method for method, _ in ORIGINAL_LOOPS} == set(list_methods())


@pytest.mark.parametrize(("method", "space"), sorted(ORIGINAL_LOOPS))
def test_each_epoch_trains_at_the_originals_rate(method, space):
    suite = {"name": "t", "methods": [method], "spaces": [space], "datasets": ["cifar10"], "seeds": [0]}
    config = expand_suite(SuiteConfig.model_validate({**suite, "train": {"epochs": EPOCHS}}))[0]
    train = config.train
    ours = [epoch_lr(train, epoch, EPOCHS) for epoch in range(EPOCHS)]
    original = ORIGINAL_LOOPS[(method, space)](train.lr, train.lr_min, EPOCHS)
    assert ours == pytest.approx(original, rel=1e-12, abs=1e-15)


def test_a_run_trains_at_the_rate_its_config_says(tmp_path, reference_data_dir):
    """The setting reaches the epoch loop: SDARTS-RS' two epochs train at lr(1) and lr(2) = lr_min; with
    `lr_epoch: current` at lr(0) and lr(1). The metadata says which."""
    suite = tmp_path / "suite.yaml"
    body = "name: lr\nprofile: tiny\nmethods: [sdarts_rs]\nspaces: [nb201]\ndatasets: [cifar10]\nseeds: [0]\n"
    body += "metrics: {ground_truth: false}\ndata: {limit_train: 32, limit_test: 16}\n"
    for setting, epochs in (("", [1, 2]), ("train: {lr_epoch: current}\n", [0, 1])):
        suite.write_text(body + setting)
        (outcome,) = run_suite(
            suite, results_dir=str(tmp_path / "r"), data_dir=str(reference_data_dir), device="cpu", report=print
        )
        assert outcome.status == "finished"
        rows = [json.loads(line) for line in (outcome.directory / "metrics.jsonl").read_text().splitlines()]
        train = outcome.config.train
        cosine = [train.lr_min + 0.5 * (train.lr - train.lr_min) * (1 + math.cos(math.pi * e / 2)) for e in epochs]
        assert [r["lr"] for r in rows] == pytest.approx(cosine, rel=1e-12)
        metadata = json.loads((outcome.directory / "metadata.json").read_text())
        assert metadata["method"]["lr_epoch"] == train.lr_epoch == ("next" if epochs[0] else "current")
