"""StacNAS against its code (susan0199/StacNAS): operator groups, the stage-2 op lists and the genotype
from raw α, one-level steps on one batch with the clip over the weights only, and its stages."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from nasbench_harness.config import RunConfig
from nasbench_harness.engine import stages
from nasbench_harness.methods.stacnas import StacNAS, stacnas_genotype, stage1_ops, stage2_ops
from nasbench_harness.spaces import get_space
from nasbench_harness.testing import random_batch, tiny_method

#: genotypes.py:25-30 (`OPS_DICT`) and search.py:134: stage 1 takes the first entry of each pair.
CODE_STAGE1 = ("max_pool_3x3", "skip_connect", "sep_conv_3x3", "dil_conv_3x3", "none")
CODE_STAGE2 = {
    "max_pool_3x3": ("avg_pool_3x3", "max_pool_3x3", "none"),
    "skip_connect": ("skip_connect", "skip_connect", "none"),
    "sep_conv_3x3": ("sep_conv_3x3", "sep_conv_5x5", "none"),
    "dil_conv_3x3": ("dil_conv_3x3", "dil_conv_5x5", "none"),
}


def code_stage2(alpha: np.ndarray) -> list[tuple[str, ...]]:
    """`build_primitive_from_alpha` (genotypes.py:40-50) on one cell's rows, edge by edge."""
    return [CODE_STAGE2[CODE_STAGE1[int(torch.topk(torch.tensor(row[:-1]), 1)[1])]] for row in alpha]


def test_stage1_on_the_darts_space_is_the_codes_list():
    ops = stage1_ops(get_space("darts"))
    assert ops["normal"] == ops["reduce"] == (CODE_STAGE1,) * 14


def test_stage2_op_lists_follow_the_codes_rule_on_raw_alpha():
    rng = np.random.default_rng(0)
    alphas = {t: rng.normal(size=(14, 5)) for t in ("normal", "reduce")}
    alphas["normal"][0] = [0.1, 0.9, 0.2, 0.3, 5.0]  # `none` largest: ignored, skip wins (duplicated)
    alphas["normal"][1] = [0.4, 0.1, 0.2, 0.3, 0.0]  # the pool group: avg before max, as in the code
    ops, chosen = stage2_ops(get_space("darts"), alphas)
    for cell_type in ("normal", "reduce"):
        assert list(ops[cell_type]) == code_stage2(alphas[cell_type])
    assert ops["normal"][0] == ("skip_connect", "skip_connect", "none")
    assert ops["normal"][1] == ("avg_pool_3x3", "max_pool_3x3", "none")
    assert chosen["normal"][:2] == ["skip", "pool"]


def test_the_skip_group_can_be_listed_once():
    alphas = {"cell": np.tile([0.0, 1.0, 0.0, 0.0], (6, 1))}
    ops, _ = stage2_ops(get_space("nb201"), alphas, duplicate_skip=False)
    assert ops["cell"] == (("skip_connect", "none"),) * 6


def test_nb201_groups_and_ragged_stage2_lists():
    assert stage1_ops(get_space("nb201"))["cell"] == (("avg_pool_3x3", "skip_connect", "nor_conv_3x3", "none"),) * 6
    alphas = {"cell": np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 9]])}
    ops, chosen = stage2_ops(get_space("nb201"), alphas)
    assert ops["cell"][:3] == (
        ("avg_pool_3x3", "none"),
        ("skip_connect", "skip_connect", "none"),
        ("nor_conv_1x1", "nor_conv_3x3", "none"),
    )
    assert chosen["cell"] == ["pool", "skip", "nor_conv", "nor_conv", "pool", "pool"]  # `none` never wins


def test_s1_groups_stay_inside_each_edges_ops():
    space = get_space("s1")
    first = stage1_ops(space)
    assert first["normal"][0] == ("skip_connect", "dil_conv_3x3", "none")
    assert first["reduce"][0] == ("max_pool_3x3", "none")  # max and avg pool: one group
    alphas = {t: np.zeros((14, 3)) for t in ("normal", "reduce")}
    alphas["normal"][0] = [0.0, 1.0, 0.0]
    ops, _ = stage2_ops(space, alphas)
    assert ops["normal"][0] == ("dil_conv_3x3", "none")  # dil_conv_5x5 is not on this edge in S1
    assert ops["reduce"][0] == ("avg_pool_3x3", "max_pool_3x3", "none")  # the code's member order


def code_genotype(alpha: np.ndarray, edge_ops) -> list[tuple[str, int]]:
    """`build_genotype_from_alpha(alpha, primitive, 2)` (genotypes.py:53-67) for one cell, flattened."""
    gene, start = [], 0
    for node in range(4):
        top_alphas, top_ops = [], []
        for j in range(node + 2):
            vals, ids = torch.topk(torch.tensor(alpha[start + j][:-1]), 1)
            top_alphas.append(vals[0])
            top_ops.append(edge_ops[start + j][ids.item()])
        _, edges = torch.topk(torch.tensor(top_alphas), 2)
        gene.extend((top_ops[e], int(e)) for e in edges)
        start += node + 2
    return gene


def test_genotype_is_the_codes_rule_on_raw_alpha_not_softmax():
    space = stages.stage_space(get_space("darts"), stage1_ops(get_space("darts")))
    rng = np.random.default_rng(1)
    alphas = {t: rng.normal(size=(14, 5)) for t in ("normal", "reduce")}
    # node 0: edge 0 has the larger raw α (3.2), edge 1 the larger softmax weight (a lone 2.0)
    alphas["normal"][0] = [3.0, 3.1, 3.2, 3.05, 3.15]  # no ties: torch.topk breaks them arbitrarily
    alphas["normal"][1] = [2.0, -5.0, -5.0, -5.0, -5.0]
    genotype = stacnas_genotype(space, alphas, space.edge_ops)
    for cell_type in ("normal", "reduce"):
        assert list(genotype.cells()[cell_type]) == code_genotype(alphas[cell_type], space.edge_ops[cell_type])
    softmax_rule = space.derive(alphas)
    assert genotype.normal[:2] != softmax_rule.normal[:2]


def test_one_level_step_uses_the_training_batch_for_both_updates_and_clips_only_the_weights():
    method = tiny_method("stacnas", "darts")
    method.set_epoch(0, 0.025)
    train = random_batch(0)
    poisoned = (torch.full_like(train[0], float("nan")), train[1])  # any use of `valid` turns figures NaN
    reference = copy.deepcopy(method)
    loss, _ = reference.forward_loss(train)
    loss.backward()
    alpha_grads = [a.grad.clone() for a in reference.net.arch_parameters()]

    calls = []
    forward = method.net.forward
    method.net.forward = lambda x, w=None: calls.append(x) or forward(x, w)
    method.config = method.config.model_copy(
        update={"train": method.config.train.model_copy(update={"grad_clip": 1e-8})}
    )
    figures = method.step(train, poisoned)
    assert len(calls) == 1 and calls[0] is train[0]
    assert torch.isfinite(figures["train_loss"])
    # α's gradient is the training loss's, unclipped; the weights' is clipped to the tiny norm
    for got, expected in zip(method.net.arch_parameters(), alpha_grads):
        assert torch.allclose(got.grad, expected, rtol=1e-5, atol=1e-9)
    norm = torch.cat([p.grad.flatten() for p in method.net.weight_parameters() if p.grad is not None]).norm()
    assert norm <= 1.1e-8
    # both optimisers stepped
    assert any(not torch.equal(a, b) for a, b in zip(method.net.arch_parameters(), reference.net.arch_parameters()))


def test_stages_defaults_and_metadata():
    config = RunConfig(method="stacnas", space="darts", dataset="cifar10", seed=0, train={"epochs": 80})
    first, second = StacNAS.stages(config)
    assert (first.name, first.epochs, dict(first.network)) == ("groups", 80, {"layers": 14})
    assert (second.name, second.epochs, dict(second.network), second.edge_ops) == (
        "operators",
        80,
        {"layers": 20},
        None,
    )
    nb201 = StacNAS.stages(config.model_copy(update={"space": "nb201"}))
    assert dict(nb201[0].network) == {} and dict(nb201[1].network) == {}
    train = StacNAS.defaults["train"]
    assert (train["epochs"], train["batch_size"], train["grad_clip"], train["clip_scope"]) == (80, 64, 3.0, "weights")
    assert StacNAS.split == "full" and StacNAS.defaults["data"]["split"] == "full"
    described = json.loads(json.dumps(tiny_method("stacnas", "nb201").describe()))
    groups = described["grouping"]["cell"][0]
    assert {name: g["members"] for name, g in groups.items()} == {
        "pool": ["avg_pool_3x3"],
        "skip": ["skip_connect", "skip_connect"],
        "nor_conv": ["nor_conv_1x1", "nor_conv_3x3"],
    }


def test_an_op_outside_every_group_is_a_clear_error():
    space = stages.stage_space(get_space("nb201"), {"cell": (("none", "sep_conv_7x7"),) * 6})
    with pytest.raises(Exception, match="no operator group for \\['sep_conv_7x7'\\]"):
        stage1_ops(space)


def test_the_methods_genotype_reads_its_raw_alpha():
    method = tiny_method("stacnas", "darts")
    rng = np.random.default_rng(2)
    with torch.no_grad():
        for alpha in method.net.arch_parameters():
            alpha.copy_(torch.from_numpy(rng.normal(size=tuple(alpha.shape))))
        method.net.alphas["normal"][0] = torch.tensor([3.0, 3.1, 3.2, 3.05, 3.15])
        method.net.alphas["normal"][1] = torch.tensor([2.0, -5.0, -5.0, -5.0, -5.0])
    alphas = {t: a.detach().double().numpy() for t, a in method.net.alphas.items()}
    genotype = method.genotype()
    for cell_type in ("normal", "reduce"):
        expected = code_genotype(alphas[cell_type], method.net.space.edge_ops[cell_type])
        assert list(genotype.cells()[cell_type]) == expected
