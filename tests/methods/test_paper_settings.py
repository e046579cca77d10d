"""The setting around each method's core, pinned to the original code's file and line (issue 25, part A):
the DARTS space with and without `none` and the variant each paper searched, SmoothDARTS' and β-DARTS'
NB201 BatchNorm (running statistics, also inside SDARTS-ADV's eval-mode attack), DrNAS' pool BatchNorm.

Every expected value below is transcribed from the original repository (commit in the comment), not from
this harness's output."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner
from torch import nn
from torch.nn import functional as F

from nasbench_harness.cli import main
from nasbench_harness.config import SuiteConfig
from nasbench_harness.methods import get_method_class, list_methods, sdarts
from nasbench_harness.methods.base import Method
from nasbench_harness.mixing import MixedEdge
from nasbench_harness.spaces import get_space
from nasbench_harness.spaces.ops import PoolBN
from nasbench_harness.suite_expansion import expand_suite
from nasbench_harness.testing import random_batch, seed_all, tiny_method

#: quark0/darts f276dd3 cnn/genotypes.py lines 5-14 (PC-DARTS b74702f genotypes.py lines 5-14 is the same).
DARTS_PRIMITIVES = [
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
]
#: xiangning-chen/SmoothDARTS d3dbfed sota/cnn/spaces.py lines 80-89, `#'none',` on line 81 (Sunshine-Ye/
#: Beta-DARTS f307704 and dr-faustus/Lambda-DARTS c7ac3ba: the same lines; xiangning-chen/DrNAS f2caa4d
#: DARTS-space/genotypes.py lines 5-14, `# 'none',` on line 6).
NONONE_PRIMITIVES = [
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
]

#: Method → (the DARTS-space variant its paper's code searched, where that code says so).
PAPER_DARTS_SPACE: dict[str, tuple[str | None, str]] = {
    "darts": ("darts", "quark0/darts cnn/genotypes.py line 6"),
    "darts_2nd": ("darts", "quark0/darts cnn/genotypes.py line 6"),
    "pc_darts": ("darts", "yuhuixu1993/PC-DARTS genotypes.py line 6"),
    "gdas": ("darts", "D-X-Y/AutoDL-Projects xautodl/models/cell_operations.py line 97 (DARTS_SPACE)"),
    "darts_es": ("darts", "automl/RobustDARTS src/spaces.py line 81 (s5)"),
    "darts_ada": ("darts", "automl/RobustDARTS src/spaces.py line 81 (s5)"),
    "rdarts_l2": ("darts", "automl/RobustDARTS src/spaces.py line 81 (s5)"),
    "rdarts_dp": ("darts", "automl/RobustDARTS src/spaces.py line 81 (s5)"),
    "random_ws": ("darts", "liamcli/randomNAS_release darts_wrapper_discrete.py lines 2-3 (DARTS' genotypes)"),
    "stacnas": ("darts", "susan0199/StacNAS genotypes.py lines 14-22 (OPS_LIST, `none` line 22)"),
    "sdarts_rs": ("darts_nonone", "xiangning-chen/SmoothDARTS sota/cnn/spaces.py line 81"),
    "sdarts_adv": ("darts_nonone", "xiangning-chen/SmoothDARTS sota/cnn/spaces.py line 81"),
    "beta_darts": ("darts_nonone", "Sunshine-Ye/Beta-DARTS sota/cnn/spaces.py line 81"),
    "drnas": ("darts_nonone", "xiangning-chen/DrNAS DARTS-space/genotypes.py line 6"),
    "lambda_darts": ("darts_nonone", "dr-faustus/Lambda-DARTS sota/cnn/spaces.py lines 80-92"),
    "msg_das": (None, "no public code (abstract only): not known"),
}


def test_the_two_darts_spaces_are_the_originals_op_lists():
    darts, nonone = get_space("darts"), get_space("darts_nonone")
    for cell_type in ("normal", "reduce"):
        assert [list(ops) for ops in darts.edge_ops[cell_type]] == [DARTS_PRIMITIVES] * 14
        assert [list(ops) for ops in nonone.edge_ops[cell_type]] == [NONONE_PRIMITIVES] * 14
    assert nonone.benchmark == darts.benchmark == "darts" and nonone.variant_of == "darts"
    net = nonone.build_supernet(channels=4, layers=3)
    assert not any("none" in edge.op_names for edge in net.modules() if isinstance(edge, MixedEdge))
    # `none` holds no weights: the same search network size (DARTS' log: "param size = 1.930618MB").
    for space in (darts, nonone):
        assert sum(p.numel() for p in space.build_supernet().weight_parameters()) == 1_930_618


@pytest.mark.parametrize("method", list_methods())
def test_each_method_knows_the_darts_space_its_paper_searched(method):
    assert method in PAPER_DARTS_SPACE, f"{method}: add the DARTS space its paper searched, with file and line"
    expected, _source = PAPER_DARTS_SPACE[method]
    cls = get_method_class(method)
    for space in ("darts", "darts_nonone"):
        assert cls.paper_space(get_space(space)) == expected
        assert cls.off_paper_space(get_space(space)) == (expected is not None and expected != space)
    for space in ("nb201", "s1", "s2", "s3", "s4"):  # one variant each: never marked
        assert cls.paper_space(get_space(space)) == space and not cls.off_paper_space(get_space(space))


def test_list_methods_says_each_papers_darts_space_and_labels():
    result = CliRunner().invoke(main, ["list", "methods"])
    assert result.exit_code == 0, result.output
    table = result.output.split("\n\n", 1)[0]  # the departures follow the table after a blank line
    header, *lines = table.splitlines()
    starts = [header.index(h) for h in ("method", "paper's darts space", "labels", "description")]
    rows = {}
    for line in lines:
        cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None])]
        rows[cells[0]] = cells[1:]
    assert set(rows) == set(list_methods())
    for method, (expected, _source) in PAPER_DARTS_SPACE.items():
        assert rows[method][0] == (expected or "not known"), method
    assert rows["msg_das"][1] == "unofficial"
    assert rows["stacnas"][1] == "StacNAS-style on nb201, s1, s2, s3, s4"
    assert rows["darts"][1] == "-" and rows["darts"][2].startswith("DARTS (Liu et al., ICLR 2019): softmax")


def test_a_variant_runs_with_the_methods_darts_space_settings():
    """`space_defaults` keyed "darts" (DrNAS' DARTS-space script, GDAS' NASNet config) also reach darts_nonone."""
    runs = expand({"methods": ["drnas", "gdas"], "spaces": ["darts", "darts_nonone"]})
    by = {(r.method, r.space): r for r in runs}
    for method in ("drnas", "gdas"):
        a, b = by[(method, "darts")], by[(method, "darts_nonone")]
        assert (a.train, a.network, a.method_args) == (b.train, b.network, b.method_args)
    assert by[("drnas", "darts_nonone")].train.lr == 0.1  # DrNAS DARTS-space/train_search.py line 26
    assert by[("gdas", "darts_nonone")].network["layers"] == 6  # GDAS-NASNet-CIFAR.config line 5: N = 2


def expand(sections: dict[str, Any]) -> list[Any]:
    suite = {"name": "x", "datasets": ["cifar10"], "seeds": [0], **sections}
    return expand_suite(SuiteConfig.model_validate(suite))


# SmoothDARTS and β-DARTS on NAS-Bench-201: `Network(C, N, max_nodes, num_classes, criterion,
# search_space=NAS_BENCH_201, affine=False, track_running_stats=True)` (nasbench201/model.py line 128 in both
# repositories), built without overriding either (SmoothDARTS nasbench201/train_search.py line 116, β-DARTS
# line 115).
ORIGINAL_NB201_BN = {"affine": False, "track_running_stats": True}
SMOOTH_FAMILY = ("sdarts_rs", "sdarts_adv", "beta_darts")


def built(config: Any) -> Method:
    """The method as the runner builds it (`SearchRun._build_stage`) from a resolved run config."""
    cls = get_method_class(config.method)
    args = cls.Args.model_validate(config.method_args)
    seed_all(0)
    net = get_space(config.space).build_supernet(num_classes=10, mixer=cls.mixer(args), **config.network)
    return cls(net, config, torch.device("cpu"))


def cell_bns(method: Method) -> list[nn.BatchNorm2d]:
    edges = [m for m in method.net.modules() if isinstance(m, MixedEdge)]
    return [bn for edge in edges for bn in edge.modules() if isinstance(bn, nn.BatchNorm2d)]


@pytest.mark.parametrize("method", SMOOTH_FAMILY)
def test_smoothdarts_family_nb201_search_bn_keeps_running_statistics(method):
    (config,) = expand({"methods": [method], "spaces": ["nb201"]})
    assert {k: config.network[k] for k in ORIGINAL_NB201_BN} == ORIGINAL_NB201_BN
    searched = built(config)
    bns = cell_bns(searched)
    assert bns and all(not bn.affine and bn.track_running_stats for bn in bns)
    assert searched.net.describe()["search_bn_track_running_stats"] is True  # what the run's metadata records
    # Ours (batch statistics, the NB201 space's own default) stays an option.
    (option,) = expand(
        {
            "methods": [method],
            "spaces": ["nb201"],
            "overrides": {"methods": {method: {"network": {"track_running_stats": False}}}},
        }
    )
    assert not any(bn.track_running_stats for bn in cell_bns(built(option)))


def test_adv_attacks_with_running_statistics(monkeypatch):
    """`Linf_PGD_alpha` puts the model in eval mode (SmoothDARTS attacker/perturb.py lines 12-14), which, with
    the NB201 network's running statistics, normalises every cell with them and leaves them unchanged."""
    (config,) = expand({"methods": ["sdarts_adv"], "spaces": ["nb201"], "profile": "tiny"})
    method = built(config)
    bns = cell_bns(method)
    with torch.no_grad():
        for i, bn in enumerate(bns):  # statistics unlike any batch's, so the two modes differ
            bn.running_mean.fill_(0.3 + 0.01 * i)
            bn.running_var.fill_(2.5)
    before = [(bn.running_mean.clone(), bn.running_var.clone()) for bn in bns]
    calls: list[tuple[bool, bool]] = []  # (normalised with running statistics, batch statistics) per BN call
    batch_norm = F.batch_norm

    def spy(x, running_mean, running_var, *args, **kwargs):
        training = kwargs.get("training", args[2] if len(args) > 2 else False)
        calls.append((running_mean is not None, bool(training)))
        return batch_norm(x, running_mean, running_var, *args, **kwargs)

    monkeypatch.setattr(F, "batch_norm", spy)  # the op-by-op BN modules and the fused cells both call it
    base = {t: w.detach() for t, w in method.net.softmax_weights().items()}
    method.net.train()
    sdarts.pgd_linf(method, random_batch(0), base, 0.1, 3, True)
    assert calls and all(tracked and not training for tracked, training in calls), "a BN used batch statistics"
    after = [(bn.running_mean, bn.running_var) for bn in bns]
    assert all(torch.equal(a, c) and torch.equal(b, d) for (a, b), (c, d) in zip(before, after))
    assert method.net.training  # the step goes on in train mode
    assert "running statistics" in method.describe()["attack_cell_bn"]


# DrNAS' DARTS-space pools: `OPS['avg_pool_3x3'] = AvgPoolBN(C, stride)`, `OPS['max_pool_3x3'] = MaxPoolBN(C,
# stride)` (DARTS-space/operations.py lines 10-11), each `nn.Sequential(pool, nn.BatchNorm2d(C_out, affine=False))`
# (lines 27-34, 45-52). The MixedOp's extra BN is commented out (model_search.py lines 37-38) because the op
# carries it: a pool in a mixed edge is followed by exactly one non-affine BN, as in DARTS.
@pytest.mark.parametrize("space", ["darts", "darts_nonone"])
def test_drnas_pools_carry_one_non_affine_bn(space):
    method = tiny_method("drnas", space)  # stage 1 (k = 6, every op of the space)
    pools = [
        (name, op)
        for edge in method.net.modules()
        if isinstance(edge, MixedEdge)
        for name, op in zip(edge.op_names, edge.ops)
        if "pool" in name
    ]
    assert pools
    for name, op in pools:
        assert isinstance(op, PoolBN), name
        pool, bn = op
        kind = nn.AvgPool2d if name.startswith("avg") else nn.MaxPool2d
        assert isinstance(pool, kind) and isinstance(bn, nn.BatchNorm2d) and not bn.affine


def test_methods_doc_table_gives_each_methods_paper_space():
    """docs/methods.md "Methods at a glance" names every method once, with the space its class declares."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "methods.md").read_text()
    table = text.split("## Methods at a glance", 1)[1].split("\n\n")[2]
    seen = {}
    for row in table.splitlines()[2:]:
        methods_cell, _code, space_cell = (c.strip() for c in row.strip("|").split("|"))
        space = None if space_cell.startswith("not known") else re.match(r"`(\w+)`", space_cell).group(1)
        for method in re.findall(r"`(\w+)`", methods_cell):
            seen[method] = space
    assert sorted(seen) == sorted(list_methods())
    for method, space in seen.items():
        assert get_method_class(method).paper_space(get_space("darts")) == space, method
