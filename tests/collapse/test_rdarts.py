"""R-DARTS: one run per strength, the strength applied (L2; drop-path and cutout ramps), best-of-sweep selection."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from collapse_support import run_config, tiny_net

from nasbench_harness.methods.rdarts import CODE_L2_GRID, RDartsDropPath, RDartsL2, select_best, sweep_group
from nasbench_harness.suite_expansion import expand_suite, load_suite

SUITE = """\
name: rdarts
profile: tiny
methods: [rdarts_l2, rdarts_dp]
spaces: [s3]
datasets: [cifar10]
seeds: [0, 1]
"""


def expand(tmp_path: Path, extra: str = "") -> list:
    path = tmp_path / "suite.yaml"
    path.write_text(SUITE + extra)
    return expand_suite(load_suite(path), path)


def test_a_suite_expands_into_one_run_per_strength(tmp_path):
    runs = expand(tmp_path)
    l2 = [(r.seed, r.method_args["strength"]) for r in runs if r.method == "rdarts_l2"]
    dp = [r.method_args["strength"] for r in runs if r.method == "rdarts_dp" and r.seed == 0]
    assert l2 == [(s, w) for w in (3e-4, 9e-4, 2.7e-3, 8.1e-3) for s in (0, 1)]
    assert dp == [0.0, 0.2, 0.4, 0.6]
    assert all(r.method_args["strengths"] == [3e-4, 9e-4, 2.7e-3, 8.1e-3] for r in runs if r.method == "rdarts_l2")
    assert len({r.config_hash() for r in runs}) == len(runs)

    code_grid = expand(
        tmp_path, f"overrides: {{methods: {{rdarts_l2: {{method_args: {{strengths: {list(CODE_L2_GRID)}}}}}}}}}\n"
    )
    assert [r.method_args["strength"] for r in code_grid if r.method == "rdarts_l2" and r.seed == 0][-1] == 2.43e-2
    pinned = expand(tmp_path, "overrides: {methods: {rdarts_l2: {method_args: {strength: 0.0027}}}}\n")
    assert [r.method_args["strength"] for r in pinned if r.method == "rdarts_l2"] == [0.0027, 0.0027]


def test_l2_sets_the_network_weight_decay():
    method = RDartsL2(
        tiny_net("s3"), run_config("rdarts_l2", "s3", method_args={"strength": 8.1e-3}), torch.device("cpu")
    )
    assert {g["weight_decay"] for g in method.w_optimizer.param_groups} == {8.1e-3}
    assert {g["weight_decay"] for g in method.a_optimizer.param_groups} == {1e-3}  # α decay untouched
    assert method.describe()["weight_decay"] == 8.1e-3


class FakeBatches:
    """Stands in for PairedBatches; starts at a probability no schedule gives, so an unset one shows."""

    cutout_prob = 0.123


@pytest.mark.parametrize(("strength", "cutout"), [(0.4, [0.0, 0.25, 0.5, 0.75, 1.0]), (0.0, [0.0] * 5)])
def test_drop_path_and_cutout_ramp_linearly(strength, cutout):
    config = run_config("rdarts_dp", "s3", train={"epochs": 5}, method_args={"strength": strength})
    method = RDartsDropPath(tiny_net("s3"), config, torch.device("cpu"))
    method.batches = FakeBatches()  # type: ignore[assignment]
    seen = []
    for epoch in range(5):
        method.set_epoch(epoch, 0.025)
        seen.append((method.net.drop_path_prob, method.batches.cutout_prob))
    assert seen == [pytest.approx((strength * e / 4, c)) for e, c in enumerate(cutout)]


def test_drop_path_on_nb201_schedules_cutout_only():
    config = run_config("rdarts_dp", "nb201", train={"epochs": 5}, method_args={"strength": 0.2, "cutout_prob": 0.8})
    method = RDartsDropPath(tiny_net("nb201"), config, torch.device("cpu"))
    method.batches = FakeBatches()  # type: ignore[assignment]
    seen = []
    for epoch in range(5):
        method.set_epoch(epoch, 0.025)
        seen.append(method.batches.cutout_prob)
    assert seen == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])  # cutout_prob · epoch / (epochs − 1)
    assert not hasattr(method.net, "drop_path_prob") and "cutout only" in method.describe()["drop_path"]


def result(config, accuracy):
    return {"config": config.model_dump(mode="json"), "final": {"eval_valid_acc": accuracy} if accuracy else {}}


def test_select_best_picks_the_best_validation_accuracy_per_sweep_group(tmp_path):
    runs = [r for r in expand(tmp_path) if r.method == "rdarts_l2"]
    accuracy = {(0, 3e-4): 40.0, (0, 9e-4): 55.0, (0, 2.7e-3): None, (0, 8.1e-3): 50.0}
    accuracy |= {(1, 3e-4): 61.0, (1, 9e-4): 60.0, (1, 2.7e-3): 61.0, (1, 8.1e-3): 20.0}
    results = [result(r, accuracy[r.seed, r.method_args["strength"]]) for r in runs]
    best = select_best(results)
    assert [(b["config"]["seed"], b["config"]["method_args"]["strength"]) for b in best] == [(0, 9e-4), (1, 3e-4)]
    assert select_best([{"config": runs[0], "final": {"eval_valid_acc": 1.0}}])[0]["config"] is runs[0]


def test_first_and_second_order_sweeps_are_separate_groups(tmp_path):
    second = [r for r in expand(tmp_path) if r.method == "rdarts_l2" and r.seed == 0]
    first = [
        r
        for r in expand(tmp_path, "overrides: {methods: {rdarts_l2: {method_args: {order: first}}}}\n")
        if r.method == "rdarts_l2" and r.seed == 0
    ]
    assert {r.method_args["order"] for r in second} == {"second"} and {r.method_args["order"] for r in first} == {
        "first"
    }
    assert len({sweep_group(r.model_dump(mode="json")) for r in second + first}) == 2
    # The first-order sweep's best (60.0) does not displace the second-order sweep's (50.0).
    results = [result(r, 50.0 if i == 1 else 40.0) for i, r in enumerate(second)]
    results += [result(r, 60.0 if i == 2 else 30.0) for i, r in enumerate(first)]
    picked = [
        (b["config"]["method_args"]["order"], b["config"]["method_args"]["strength"]) for b in select_best(results)
    ]
    assert picked == [("second", 9e-4), ("first", 2.7e-3)]
