"""The search loop as the original code runs it: step order, clip scope, schedule, and the NB201 data sides."""

from __future__ import annotations

import copy
import importlib.util
import math
from pathlib import Path

import pytest
import torch

import nasbench_harness.engine.runner as runner
from nasbench_harness.config import DataConfig, MetricsConfig, RunConfig, TrainConfig
from nasbench_harness.data import dataset_split, load_dataset
from nasbench_harness.engine.runner import SearchRun, cosine_lr, drive
from nasbench_harness.methods import get_method_class
from nasbench_harness.spaces import get_space
from nasbench_harness.testing import TINY_NETWORK


def nb201_config(method: str = "darts", dataset: str = "cifar100", **train: object) -> RunConfig:
    return RunConfig(
        method=method,
        space="nb201",
        dataset=dataset,
        seed=0,
        train=TrainConfig(epochs=2, batch_size=8, weight_decay=5e-4, nesterov=True, clip_scope="all", **train),
        data=DataConfig(split="nb201_official", valid_sampling="nb201_random", limit_train=20, eval_batch_size=128),
        metrics=MetricsConfig(eigenvalue="off", ground_truth=False),
        network=TINY_NETWORK["nb201"],
    )


def search_state(config: RunConfig, ds, data_dir: Path, monkeypatch, tmp_path: Path) -> tuple[dict, float]:
    """Weights, α and optimiser state after one epoch on `ds`, and the epoch's validation accuracy."""
    monkeypatch.setattr(runner, "_dataset", lambda config, data_dir: ds)
    run = SearchRun(
        config, tmp_path / f"r{len(list(tmp_path.iterdir()))}", data_dir, torch.device("cpu"), progress=False
    )
    run.build()
    row, _ = drive(run._epoch_session(0, 0), run.step)
    return {**run.net.state_dict(), **{f"a{i}": a for i, a in enumerate(run.net.arch_parameters())}}, row[
        "eval_valid_acc"
    ]


def poisoned(ds, positions: torch.Tensor):
    images = ds.test_images.clone()
    images[positions] = 255 - images[positions]
    return type(ds)(**{**ds.__dict__, "test_images": images})


def test_search_reads_test_xvalid_and_never_xtest(reference_data_dir, monkeypatch, tmp_path) -> None:
    """CIFAR-100 (xautodl): α and the epoch's validation accuracy on the test set's xvalid half; changing
    every xtest image leaves the search bitwise unchanged, changing xvalid does not."""
    ds = load_dataset("cifar100", reference_data_dir, download=False, limit_train=20)
    config = nb201_config()
    clean, clean_acc = search_state(config, ds, reference_data_dir, monkeypatch, tmp_path)
    split = dataset_split(ds, "nb201_official", 0, reference_data_dir)
    xvalid = torch.from_numpy(split.valid_idx)
    xtest = torch.tensor([i for i in range(ds.num_test) if i not in set(split.valid_idx.tolist())])
    assert len(xtest) > 400
    after_xtest, acc_xtest = search_state(config, poisoned(ds, xtest), reference_data_dir, monkeypatch, tmp_path)
    assert acc_xtest == clean_acc and all(torch.equal(clean[k], after_xtest[k]) for k in clean)
    after_xvalid, _ = search_state(config, poisoned(ds, xvalid), reference_data_dir, monkeypatch, tmp_path)
    assert any(not torch.equal(clean[k], after_xvalid[k]) for k in clean if k.startswith("a"))


def _method(name: str, space: str = "nb201", order: str | None = None, **train: object):
    torch.manual_seed(0)
    network = TINY_NETWORK[space]
    net = get_space(space).build_supernet(num_classes=5, **network).double()
    method_args = {"order": order} if order else {}
    config = RunConfig(
        method=name, space=space, dataset="cifar10", seed=0, train=TrainConfig(**train), method_args=method_args
    )
    return get_method_class(name)(net, config, torch.device("cpu"))


def _batch(seed: int, n: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 8, 8, generator=g, dtype=torch.float64), torch.randint(0, 5, (n,), generator=g)


@pytest.mark.parametrize(
    ("name", "space", "expected"),
    [
        ("darts", "nb201", ["weights", "alpha"]),  # xautodl DARTS-V1.py lines 52-73
        ("darts_2nd", "nb201", ["alpha", "weights"]),  # xautodl DARTS-V2.py lines 141-167
        ("darts", "s1", ["alpha", "weights"]),  # DARTS cnn/train_search.py lines 147-155
        # The RobustDARTS family on NB201 follows the xautodl script of its order (default second).
        ("darts_es", "nb201", ["alpha", "weights"]),
        ("darts_es:first", "nb201", ["weights", "alpha"]),
        ("rdarts_l2", "nb201", ["alpha", "weights"]),
        ("darts_ada", "s1", ["alpha", "weights"]),
    ],
)
def test_step_order_follows_each_original(name: str, space: str, expected: list[str], monkeypatch) -> None:
    name, _, order = name.partition(":")
    method = _method(name, space, **({"order": order} if order else {}))
    calls: list[str] = []
    weight_step, alpha_step = method.weight_step, method.alpha_step
    monkeypatch.setattr(method, "weight_step", lambda b: calls.append("weights") or weight_step(b))
    monkeypatch.setattr(method, "alpha_step", lambda t, v: calls.append("alpha") or alpha_step(t, v))
    method.step(_batch(0), _batch(1))
    assert calls == expected
    assert method.describe()["step_order"] == ("weights_first" if expected[0] == "weights" else "alpha_first")


def test_clip_over_all_parameters_counts_the_alpha_gradient_left_from_the_alpha_step() -> None:
    """xautodl: zero the weight grads only, backward the training loss into everything, clip
    network.parameters() (α holds its last α-step gradient plus this one), step the weights."""
    method = _method("darts", grad_clip=0.05, clip_scope="all")
    method.first_order_alpha_step(_batch(1))  # leaves ∇α L_valid in α.grad, as a_optimizer.step() does there
    reference = copy.deepcopy(method)
    for a, b in zip(method.net.arch_parameters(), reference.net.arch_parameters()):
        b.grad = a.grad.clone()  # deepcopy leaves .grad behind
    method.weight_step(_batch(0))

    net, opt = reference.net, reference.w_optimizer
    opt.zero_grad(set_to_none=True)
    reference.criterion(net(_batch(0)[0]), _batch(0)[1]).backward()
    total = torch.nn.utils.clip_grad_norm_(net.parameters(), 0.05)
    opt.step()
    weights_only = torch.cat([p.grad.flatten() for p in net.weight_parameters()]).norm()
    assert total > 1.01 * weights_only  # the α part is not negligible here, so the test can tell
    for (name, a), b in zip(method.net.named_parameters(), net.parameters()):
        assert torch.allclose(a, b, rtol=0, atol=1e-12), name


def test_alpha_gradients_travel_in_the_state_for_resume() -> None:
    method = _method("darts", clip_scope="all")
    method.step(_batch(0), _batch(1))
    state = method.state_dict()
    other = _method("darts", clip_scope="all")
    other.net.load_state_dict(method.net.state_dict())
    other.load_state_dict(state)
    for a, b in zip(method.net.arch_parameters(), other.net.arch_parameters()):
        assert torch.equal(a.grad, b.grad)


def test_second_order_step_on_the_last_smaller_batch() -> None:
    """No drop_last: the epoch's last weight batch is smaller than the α batch (DARTS: 40 vs 64)."""
    method = _method("darts_2nd", clip_scope="all")
    stats = method.step(_batch(0, n=3), _batch(1, n=8))
    assert all(math.isfinite(float(v)) for v in stats.values()) and {"train_loss", "valid_loss"} <= stats.keys()


def _xautodl_module(relative: str):
    """One xautodl source file, loaded alone (the package's __init__ needs torchvision)."""
    spec = importlib.util.find_spec("xautodl")
    assert spec is not None and spec.submodule_search_locations, "xautodl is a test dependency"
    path = Path(spec.submodule_search_locations[0]) / relative
    module_spec = importlib.util.spec_from_file_location(f"_xautodl_{path.stem}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def test_cosine_per_epoch_equals_xautodls_per_step_schedule() -> None:
    """xautodl calls `scheduler.update(None, step / len(loader))` every step, but its cosine reads the iteration
    only during warm-up (lib/procedures/optimizers.py lines 81-107); with DARTS.config's warmup 0 the rate is
    constant within an epoch and equals CosineAnnealingLR per epoch."""
    optimizers = _xautodl_module("procedures/optimizers.py")

    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], 0.025)
    scheduler = optimizers.CosineAnnealingLR(opt, 0, 50, 50, 0.001)  # DARTS.config: warmup 0, 50 epochs
    for epoch in range(50):
        scheduler.update(epoch, 0.0)
        for step in range(391):
            scheduler.update(None, step / 391)
            assert opt.param_groups[0]["lr"] == pytest.approx(cosine_lr(epoch, 50, 0.025, 0.001), rel=1e-12)
