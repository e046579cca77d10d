"""The published protocols as defaults, and an NB201 cell retrained with its recipe (tiny, real CIFAR-10)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from nasbench_harness.errors import ConfigError
from nasbench_harness.evaluation import default_eval_config
from nasbench_harness.evaluation.run import execute_evaluation, lr_at

CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
S1 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), "
    "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)


def test_darts_family_protocol_is_the_published_one():
    c = default_eval_config(S1, "darts", "cifar10", 0)
    t = c.train
    assert (t.epochs, t.batch_size, t.lr, t.lr_min, t.momentum, t.weight_decay, t.grad_clip) == (
        600, 96, 0.025, 0.0, 0.9, 3e-4, 5.0,
    )  # fmt: skip
    assert (t.auxiliary_weight, t.drop_path_prob, c.data.cutout_length, t.lr_update, t.nesterov) == (
        0.4, 0.2, 16, "epoch", False,
    )  # fmt: skip
    assert lr_at(c, 0, 100, 521) == 0.025 and lr_at(c, 300, 0, 521) == pytest.approx(0.0125)
    for dataset in ("cifar100", "svhn"):
        n = default_eval_config(S1, "darts", dataset, 0).network
        assert (n["layers"], n["channels"]) == (8, 16)


def test_nb201_protocol_is_the_benchmark_recipe():
    c = default_eval_config(CELL, "nb201", "cifar10", 0)
    t = c.train
    assert (t.epochs, t.batch_size, t.lr, t.momentum, t.nesterov, t.weight_decay, t.grad_clip) == (
        200, 256, 0.1, 0.9, True, 5e-4, None,
    )  # fmt: skip
    assert (c.data.cutout_length, t.auxiliary_weight, t.drop_path_prob) == (0, 0.0, 0.0)
    # per-step cosine (xautodl): halfway through epoch 0 the rate has already moved
    assert lr_at(c, 0, 98, 196) == pytest.approx(0.05 * (1 + math.cos(math.pi * 0.5 / 200)))
    assert dict(c.network) == {"channels": 16, "cells_per_stage": 5}


def test_overrides_and_bad_input_are_named():
    c = default_eval_config(S1, "s1", "cifar10", 3, {"train": {"epochs": 5}, "network": {"layers": 8}})
    assert (c.train.epochs, c.network["layers"], c.network["channels"], c.seed) == (5, 8, 36, 3)
    with pytest.raises(ConfigError, match="unknown section 'trian'"):
        default_eval_config(S1, "s1", "cifar10", 0, {"trian": {}})
    with pytest.raises(ConfigError, match="no evaluation protocol: unknown space 'nb301'"):
        default_eval_config(S1, "nb301", "cifar10", 0)


def test_nb201_cell_retrains_on_half_and_reports_held_out_error(tmp_path: Path, reference_data_dir: Path):
    config = default_eval_config(
        CELL,
        "nb201",
        "cifar10",
        0,
        {"train": {"epochs": 1, "batch_size": 8}, "network": {"cells_per_stage": 1, "channels": 4},
         "data": {"limit_train": 16, "limit_test": 8, "train_on": "half"}},
    )  # fmt: skip
    outcome = execute_evaluation(config, tmp_path, reference_data_dir, torch.device("cpu"))
    assert outcome.status == "finished", outcome.reason
    result = json.loads((outcome.directory / "result.json").read_text())
    assert 0 <= result["valid_error"] <= 100 and 0 <= result["test_error"] <= 100
    metadata = json.loads((outcome.directory / "metadata.json").read_text())
    assert metadata["train_images"] == 8 and metadata["config"] == config.model_dump(mode="json")
    assert "cutout" not in metadata["augmentation"]
