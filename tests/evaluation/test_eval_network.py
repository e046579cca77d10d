"""Evaluation networks have the published sizes: DARTS-V2 at 20 cells / C 36 is 3.3M parameters (DARTS'
count, auxiliary head excluded); an NB201 cell's TinyNetwork has NAS-Bench-201's parameter count."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from reference_packages import require

from nasbench_harness.cli import main
from nasbench_harness.evaluation import build_eval_network, count_flops, count_parameters_mb, default_eval_config

#: DARTS-V2, as printed in quark0/darts cnn/genotypes.py.
DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)
CELLS = {  # NB201 index → cell: the best CIFAR-10 cell, the all-skip cell, one with none and pools
    6111: "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
    1835: "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
    123: "|avg_pool_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|",
}


def test_darts_v2_cifar10_network_has_the_published_3_3m_parameters():
    config = default_eval_config(DARTS_V2, "darts", "cifar10", 0)
    assert dict(config.network) == {"layers": 20, "channels": 36, "auxiliary": True}
    net = build_eval_network("darts", DARTS_V2, 10, config.network)
    params = count_parameters_mb(net)
    assert round(params, 1) == 3.3  # DARTS paper Table 1; its train.py logs 3.349342 MB
    with_aux = sum(p.numel() for p in net.parameters()) / 1e6
    assert with_aux - params > 0.4, "the auxiliary head's parameters must exist and be excluded from the count"
    assert len(net.cells) == 20 and sum(c.reduction for c in net.cells) == 2


def test_darts_family_small_protocol_and_forward():
    """CIFAR-100 / SVHN: 8 cells, C 16; training returns auxiliary logits, inference none."""
    config = default_eval_config(DARTS_V2, "darts", "cifar100", 0)
    assert (config.network["layers"], config.network["channels"]) == (8, 16)
    net = build_eval_network("darts", DARTS_V2, 100, {**config.network, "layers": 5, "channels": 4})
    net.train()
    net.drop_path_prob = 0.2
    logits, aux = net(torch.randn(2, 3, 32, 32))
    assert logits.shape == aux.shape == (2, 100)
    net.eval()
    assert net(torch.randn(2, 3, 32, 32))[1] is None
    assert count_flops(net) > 0


@pytest.mark.parametrize("index", sorted(CELLS))
def test_nb201_network_matches_the_benchmark_parameter_count(index: int, reference_data_dir: Path):
    table = reference_data_dir / "nb201" / "nb201_ground_truth.csv.gz"
    with gzip.open(table) as handle:
        row = pd.read_csv(handle).set_index("index").loc[index]
    assert row["arch_str"] == CELLS[index]
    config = default_eval_config(CELLS[index], "nb201", "cifar10", 0)
    for classes, column in ((10, "cifar10valid_params_mb"), (100, "cifar100_params_mb")):
        net = build_eval_network("nb201", CELLS[index], classes, config.network)
        assert count_parameters_mb(net) == pytest.approx(row[column], abs=1e-6), column


def test_nb201_network_matches_xautodl_tiny_network():
    models = require("xautodl.models.cell_infers.tiny_network")
    structures = require("xautodl.models.cell_searchs.genotypes")
    cell = CELLS[6111]
    theirs = models.TinyNetwork(16, 5, structures.Structure.str2structure(cell), 10)
    ours = build_eval_network("nb201", cell, 10, {"channels": 16, "cells_per_stage": 5})
    assert count_parameters_mb(ours) * 1e6 == sum(p.numel() for p in theirs.parameters())


def test_params_only_cli_prints_without_training():
    result = CliRunner().invoke(main, ["evaluate", DARTS_V2, "--dataset", "cifar10", "--params-only"])
    assert result.exit_code == 0, result.output
    assert "3.349342 M parameters (auxiliary head excluded)" in result.output
    result = CliRunner().invoke(main, ["evaluate", CELLS[6111], "--dataset", "cifar100", "--params-only"])
    assert result.exit_code == 0 and "1.079316 M parameters" in result.output, result.output


def test_bad_targets_get_specific_errors():
    bad = CliRunner().invoke(main, ["evaluate", "not-a-genotype", "--params-only"])
    assert bad.exit_code == 1 and "neither" not in bad.output and "no directory and no genotype" in bad.output
    wrong_space = CliRunner().invoke(main, ["evaluate", DARTS_V2, "--space", "s3", "--params-only"])
    assert wrong_space.exit_code == 1 and "dil_conv_3x3" in wrong_space.output and "s3" in wrong_space.output
