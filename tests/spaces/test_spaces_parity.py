"""Parity with the reference code: xautodl's NAS-Bench-201 networks, NAS-Bench-201's parameter
counts, and the DARTS search network's size computed from the original layer definitions."""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace

import pandas as pd
import pytest
import torch
from reference_packages import require
from torch import nn
from torch.nn import functional as F

from nasbench_harness.spaces import get_space
from nasbench_harness.spaces.nb201_network import NB201Network
from nasbench_harness.spaces.space import EdgeOps
from nasbench_harness.testing import TINY_NETWORK


@pytest.fixture(scope="module")
def xautodl() -> SimpleNamespace:
    """The reference classes; only the tests that compare with xautodl ask for them."""
    require("xautodl")
    from xautodl.models.cell_infers.tiny_network import TinyNetwork
    from xautodl.models.cell_operations import NAS_BENCH_201
    from xautodl.models.cell_searchs.genotypes import Structure
    from xautodl.models.cell_searchs.search_model_darts import TinyNetworkDarts

    return SimpleNamespace(
        TinyNetwork=TinyNetwork, NAS_BENCH_201=NAS_BENCH_201, Structure=Structure, TinyNetworkDarts=TinyNetworkDarts
    )


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def copy_by_structure(source: nn.Module, target: nn.Module, skip: tuple[str, ...]) -> None:
    """Load `source`'s state into `target` entry by entry in module order (names differ, layout not)."""
    src = [(k, v) for k, v in source.state_dict().items() if not k.startswith(skip)]
    dst = [(k, v) for k, v in target.state_dict().items() if not k.startswith(skip)]
    assert len(src) == len(dst)
    state = {}
    for (ks, vs), (kd, vd) in zip(src, dst):
        assert vs.shape == vd.shape and ks.rsplit(".", 1)[-1] == kd.rsplit(".", 1)[-1], (ks, kd)
        state[kd] = vs
    target.load_state_dict(state, strict=False)


def pair(xautodl: SimpleNamespace, fused: bool, seed: int = 0, classes: int = 7) -> tuple[nn.Module, NB201Network]:
    torch.manual_seed(seed)
    reference = xautodl.TinyNetworkDarts(4, 1, 4, classes, xautodl.NAS_BENCH_201, False, False).double()
    ours = get_space("nb201").build_supernet(
        **TINY_NETWORK["nb201"], num_classes=classes, fused=fused, channels_last=fused
    )
    ours = ours.double()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # random weights everywhere, so nothing matches by accident
        for p in reference.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype))
    copy_by_structure(reference, ours, skip=("arch_parameters", "alphas"))
    with torch.no_grad():
        ours.alphas["cell"].copy_(reference.arch_parameters)
    return reference, ours


@pytest.mark.parametrize("fused", [True, False], ids=["fast", "op_by_op"])
def test_nb201_search_network_matches_xautodl(xautodl, fused):
    reference, ours = pair(xautodl, fused)
    assert count(ours) == count(reference)
    x = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3])
    for mode in ("train", "eval"):
        reference.train(mode == "train")
        ours.train(mode == "train")
        _, expected = reference(x)
        logits = ours(x)
        torch.testing.assert_close(logits, expected, rtol=1e-10, atol=1e-10)
        ref_grads = torch.autograd.grad(F.cross_entropy(expected, y), reference.get_weights() + reference.get_alphas())
        our_grads = torch.autograd.grad(F.cross_entropy(logits, y), ours.weight_parameters() + ours.arch_parameters())
        for g_ours, g_ref in zip(our_grads, ref_grads):
            torch.testing.assert_close(g_ours, g_ref, rtol=1e-8, atol=1e-10)


def test_nb201_genotype_matches_xautodl(xautodl):
    reference, ours = pair(xautodl, True, seed=3)
    assert str(ours.genotype()) == reference.genotype().tostr()


def test_nb201_supernet_size_matches_xautodl(xautodl):
    ours = get_space("nb201").build_supernet()
    reference = xautodl.TinyNetworkDarts(16, 5, 4, 10, xautodl.NAS_BENCH_201, False, False)
    assert count(ours) == count(reference)


#: The best, the all-skip (collapsed DARTS), the first rows and a few with `none` / pools.
CELLS = [0, 1, 1835, 6111, 9930, 4000, 12000, 15624]
DATASETS = {"cifar10valid": 10, "cifar100": 100, "imagenet16": 120}


@pytest.fixture(scope="module")
def ground_truth(reference_data_dir) -> pd.DataFrame:
    columns = ["index", "arch_str"] + [f"{d}_params_mb" for d in DATASETS]
    table = pd.read_csv(reference_data_dir / "nb201" / "nb201_ground_truth.csv.gz", usecols=columns)
    return table.set_index("index")


@pytest.mark.parametrize("index", CELLS)
def test_nb201_discrete_parameter_count(index, ground_truth):
    """Against NAS-Bench-201's recorded sizes (MB = 1e6 parameters, 6 decimals); needs no xautodl."""
    row = ground_truth.loc[index]
    space = get_space("nb201")
    genotype = space.parse_genotype(row["arch_str"])
    for dataset, classes in DATASETS.items():
        ours = count(NB201Network.discrete(space, genotype, num_classes=classes))
        assert abs(ours / 1e6 - row[f"{dataset}_params_mb"]) < 5e-7 + 1e-12, (dataset, ours)


@pytest.mark.parametrize("index", CELLS)
def test_nb201_discrete_network_size_matches_xautodl(index, ground_truth, xautodl):
    arch = ground_truth.loc[index, "arch_str"]
    space = get_space("nb201")
    for classes in DATASETS.values():
        ours = count(NB201Network.discrete(space, space.parse_genotype(arch), num_classes=classes))
        assert ours == count(xautodl.TinyNetwork(16, 5, xautodl.Structure.str2structure(arch), classes))


def darts_search_size(edge_ops: Mapping[str, EdgeOps], c: int = 16, layers: int = 8, classes: int = 10) -> int:
    """Weights of the DARTS search `Network` (model_search.py) written out from its layer definitions.

    stem: Conv(3, 3C, 3x3) + BN(3C, affine); per cell: preprocess0 = FactorizedReduce (two 1x1 convs
    to C/2) or ReLUConvBN 1x1, preprocess1 = ReLUConvBN 1x1, both with non-affine BNs; per edge, the
    ops of operations.py with affine=False (sep_conv: two depthwise kxk + pointwise 1x1, dil_conv: one,
    skip at stride 2: FactorizedReduce, pools: a non-affine BN); classifier Linear(4C_last, classes).
    """

    def op_size(name: str, width: int, stride: int) -> int:
        if name.startswith(("sep_conv", "dil_conv")):
            k = int(name[-1])
            single = width * k * k + width * width
            return 2 * single if name.startswith("sep") else single
        if name == "skip_connect" and stride == 2:
            return 2 * width * (width // 2)
        return 0

    total = 3 * (3 * c) * 9 + 2 * (3 * c)
    c_pp, c_p, c_curr = 3 * c, 3 * c, c
    for i in range(layers):
        reduction = i in (layers // 3, 2 * layers // 3)
        c_curr = 2 * c_curr if reduction else c_curr
        total += c_pp * c_curr + c_p * c_curr
        names = iter(edge_ops["reduce" if reduction else "normal"])
        for node in range(4):
            for j in range(node + 2):
                stride = 2 if reduction and j < 2 else 1
                total += sum(op_size(name, c_curr, stride) for name in next(names))
        c_pp, c_p = c_p, 4 * c_curr
    return total + c_p * classes + classes


def test_darts_family_search_network_size(darts_family_space):
    net = darts_family_space.build_supernet()
    expected = darts_search_size(darts_family_space.edge_ops)
    assert sum(p.numel() for p in net.weight_parameters()) == expected
    if darts_family_space.name == "darts":
        assert expected == 1_930_618  # DARTS' logged "param size" for its search model: 1.93 MB
