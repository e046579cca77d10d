"""Genotype derivation on hand-made α, the printed forms and their parsing, op counts."""

from __future__ import annotations

import numpy as np
import pytest

from nasbench_harness.errors import SpaceError
from nasbench_harness.spaces import DartsGenotype, NB201Genotype, get_space, op_counts
from nasbench_harness.spaces.darts_spaces import DARTS_OPS, S1_NORMAL, S1_REDUCE

NONE, MAX, AVG, SKIP, SEP3, SEP5, DIL3, DIL5 = range(8)


def reference_parse(weights: np.ndarray, primitives) -> list[tuple[str, int]]:
    """DARTS / RobustDARTS `Network.genotype()._parse`, transcribed (per-edge op lists as S1 needs)."""
    gene = []
    n = 2
    start = 0
    for i in range(4):
        end = start + n
        W = weights[start:end].copy()
        prims = primitives[start:end]
        edges = sorted(
            range(i + 2),
            key=lambda x: -max(W[x][k] for k in range(len(W[x])) if prims[x][k] != "none"),
        )[:2]
        for j in edges:
            k_best = None
            for k in range(len(W[j])):
                if prims[j][k] != "none" and (k_best is None or W[j][k] > W[j][k_best]):
                    k_best = k
            gene.append((prims[j][k_best], j))
        start = end
        n += 1
    return gene


def softmax(a: np.ndarray) -> np.ndarray:
    e = np.exp(a - a.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_darts_ties_keep_lower_index():
    genotype = get_space("darts").derive({"normal": np.zeros((14, 8)), "reduce": np.zeros((14, 8))})
    # Equal weights everywhere: inputs 0 and 1 (stable sort), the first non-`none` op (strict >).
    assert genotype.normal == (("max_pool_3x3", 0), ("max_pool_3x3", 1)) * 4
    assert genotype.normal_concat == genotype.reduce_concat == (2, 3, 4, 5)


def test_darts_dominant_none_is_excluded_and_order_is_by_strength():
    normal = np.zeros((14, 8))
    normal[0, NONE] = 9.0  # edge 0 (node 0 ← c_{k-2}): `none` dominates, so its other ops are weak
    normal[1, SEP3] = 2.0  # node 0 ← c_{k-1}
    normal[2, DIL5] = 1.0  # node 1 ← c_{k-2}
    normal[4, SKIP] = 3.0  # node 1 ← node 0: stronger, listed first
    normal[8, SEP5] = 2.0  # node 2 ← node 1
    normal[5, AVG] = 1.0  # node 2 ← c_{k-2}
    normal[13, NONE] = 9.0  # node 3 ← node 2: excluded although `none` is the largest entry
    reduce = np.zeros((14, 8))
    genotype = get_space("darts").derive({"normal": normal, "reduce": reduce})
    assert genotype.normal == (
        ("sep_conv_3x3", 1),
        ("max_pool_3x3", 0),  # the `none`-dominated edge still wins against nothing stronger
        ("skip_connect", 2),
        ("dil_conv_5x5", 0),
        ("sep_conv_5x5", 3),
        ("avg_pool_3x3", 0),
        ("max_pool_3x3", 0),
        ("max_pool_3x3", 1),
    )
    assert "none" not in genotype.ops("normal") + genotype.ops("reduce")


def test_darts_none_dominant_edge_loses_to_plain_edge():
    normal = np.zeros((14, 8))
    normal[0, NONE] = 5.0  # node 0: edge 0's best non-none weight is tiny after the softmax
    genotype = get_space("darts").derive({"normal": normal, "reduce": np.zeros((14, 8))})
    assert genotype.normal[:2] == (("max_pool_3x3", 1), ("max_pool_3x3", 0))


@pytest.mark.parametrize("seed", range(5))
def test_darts_family_matches_transcribed_rule(darts_family_space, seed):
    rng = np.random.default_rng(seed)
    alphas = {}
    for cell_type, (rows, cols) in darts_family_space.alpha_shapes().items():
        a = np.round(rng.normal(size=(rows, cols)))  # integer logits: many exact ties
        a[rng.integers(0, rows)] = a[0]  # identical rows: ties between edges
        alphas[cell_type] = a
    genotype = darts_family_space.derive(alphas)
    for cell_type, a in alphas.items():
        expected = reference_parse(softmax(a), darts_family_space.edge_ops[cell_type])
        assert list(genotype.cells()[cell_type]) == expected


def test_s1_uses_per_edge_lists_for_both_cell_types():
    space = get_space("s1")
    assert space.edge_ops == {"normal": S1_NORMAL, "reduce": S1_REDUCE}
    second = np.zeros((14, 2))
    second[:, 1] = 1.0
    genotype = space.derive({"normal": second, "reduce": second})
    # Equal strength on every edge: inputs 0 and 1 of each node, column 1 of that edge's list.
    starts = [0, 2, 5, 9]
    assert genotype.normal == tuple((S1_NORMAL[s + j][1], j) for s in starts for j in (0, 1))
    assert genotype.reduce == tuple((S1_REDUCE[s + j][1], j) for s in starts for j in (0, 1))
    assert genotype.reduce[0] == ("avg_pool_3x3", 0) and genotype.normal[0] == ("dil_conv_3x3", 0)
    assert genotype.reduce[1] == ("dil_conv_3x3", 1) and genotype.normal[4] == ("skip_connect", 0)


def test_s1_table_transcription():
    """reference.md §1's table, column by column (α order matters)."""
    table = """
    skip_connect dil_conv_3x3 | max_pool_3x3 avg_pool_3x3
    skip_connect dil_conv_5x5 | max_pool_3x3 dil_conv_3x3
    skip_connect dil_conv_5x5 | max_pool_3x3 avg_pool_3x3
    skip_connect sep_conv_3x3 | max_pool_3x3 avg_pool_3x3
    skip_connect dil_conv_3x3 | skip_connect dil_conv_5x5
    max_pool_3x3 skip_connect | max_pool_3x3 avg_pool_3x3
    skip_connect sep_conv_3x3 | max_pool_3x3 sep_conv_3x3
    skip_connect sep_conv_3x3 | skip_connect dil_conv_3x3
    skip_connect dil_conv_3x3 | skip_connect dil_conv_5x5
    skip_connect sep_conv_3x3 | max_pool_3x3 avg_pool_3x3
    max_pool_3x3 skip_connect | max_pool_3x3 avg_pool_3x3
    skip_connect dil_conv_3x3 | skip_connect dil_conv_5x5
    dil_conv_3x3 dil_conv_5x5 | skip_connect dil_conv_5x5
    dil_conv_3x3 dil_conv_5x5 | skip_connect dil_conv_5x5
    """
    rows = [line.split("|") for line in table.strip().splitlines()]
    assert tuple(tuple(r[0].split()) for r in rows) == S1_NORMAL
    assert tuple(tuple(r[1].split()) for r in rows) == S1_REDUCE


@pytest.mark.parametrize(
    "name, ops",
    [
        ("darts", DARTS_OPS),
        ("s2", ("skip_connect", "sep_conv_3x3")),
        ("s3", ("none", "skip_connect", "sep_conv_3x3")),
        ("s4", ("noise", "sep_conv_3x3")),
    ],
)
def test_uniform_op_lists(name, ops):
    space = get_space(name)
    assert space.edge_ops == {"normal": (ops,) * 14, "reduce": (ops,) * 14}


def test_s3_excludes_none_and_s4_keeps_noise():
    dominant = np.zeros((14, 3))
    dominant[:, 0] = 5.0
    genotype = get_space("s3").derive({"normal": dominant, "reduce": dominant})
    assert set(genotype.ops("normal")) == {"skip_connect"}
    noise = np.zeros((14, 2))
    noise[:, 0] = 1.0
    assert set(get_space("s4").derive({"normal": noise, "reduce": noise}).ops("normal")) == {"noise"}


def test_nb201_argmax_counts_none_and_ties_keep_lower_index():
    space = get_space("nb201")
    assert str(space.derive({"cell": np.zeros((6, 5))})) == "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    cell = np.zeros((6, 5))
    cell[0, 3] = 1.0  # 1←0 nor_conv_3x3
    cell[1, 0] = 2.0  # 2←0 none (counts in NB201)
    cell[1, 1] = 1.0
    cell[2, [1, 2]] = 1.0  # tie skip / 1x1: the lower index
    cell[3, 4] = 1.0
    cell[4, 2] = 0.5
    cell[5, 1] = 3.0
    assert str(space.derive({"cell": cell})) == (
        "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|skip_connect~2|"
    )


DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
    "normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
    "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
    "('max_pool_3x3', 1)], reduce_concat=range(2, 6))"
)


def test_darts_genotype_round_trip():
    genotype = get_space("darts").parse_genotype(DARTS_V2)
    assert str(genotype) == DARTS_V2  # prints exactly as the namedtuple in DARTS' genotypes.py
    assert DartsGenotype.parse(str(genotype)) == genotype
    assert genotype.normal[7] == ("dil_conv_3x3", 2)


@pytest.mark.parametrize("seed", range(3))
def test_derived_genotypes_round_trip(space, seed):
    rng = np.random.default_rng(seed)
    genotype = space.derive({t: rng.normal(size=s) for t, s in space.alpha_shapes().items()})
    assert space.parse_genotype(str(genotype)) == genotype


def test_nb201_round_trip_and_canonical_order():
    text = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    genotype = get_space("nb201").parse_genotype(text)
    assert str(genotype) == text
    assert genotype.edge_ops()[3] == "skip_connect"
    shuffled = "|nor_conv_3x3~0|+|nor_conv_3x3~1|nor_conv_3x3~0|+|nor_conv_3x3~2|skip_connect~0|nor_conv_3x3~1|"
    assert NB201Genotype.parse(shuffled) == genotype
    assert NB201Genotype.from_edge_ops(genotype.edge_ops()) == genotype


@pytest.mark.parametrize(
    "space_name, text, message",
    [
        ("nb201", "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "not a NAS-Bench-201 op"),
        ("nb201", "|none~0|+|none~0|none~1|", "3 nodes"),
        ("nb201", "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "exactly one edge"),
        ("nb201", "none~0", "malformed"),
        ("darts", "Genotype(normal=[('conv_7x7', 0)], reduce=[])", "not in space 'darts'"),
        ("darts", "Genotype(normal=[('sep_conv_3x3', 9)], reduce=[])", "out of range"),
        ("darts", "Genotype(normal=[", "cannot parse"),
        ("darts", "Genotype(normal=[])", "lacks"),
        ("s2", "Genotype(normal=[('max_pool_3x3', 0)], reduce=[])", "not in space 's2'"),
    ],
)
def test_parse_errors(space_name, text, message):
    with pytest.raises(SpaceError, match=message):
        get_space(space_name).parse_genotype(text)


def test_op_counts():
    genotype = get_space("darts").parse_genotype(DARTS_V2)
    assert op_counts(genotype) == {
        "skip_normal": 2,
        "param_free_normal": 2,
        "skip_reduce": 3,
        "param_free_reduce": 8,
    }
    nb201 = NB201Genotype.parse("|none~0|+|skip_connect~0|avg_pool_3x3~1|+|nor_conv_1x1~0|noise~1|none~2|")
    assert op_counts(nb201) == {"skip_cell": 1, "param_free_cell": 5}
