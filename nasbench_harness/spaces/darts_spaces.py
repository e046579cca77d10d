"""The DARTS space (two variants: with and without `none`) and RobustDARTS S1–S4 (Zela et al., 2020), same
op lists for both cell types except S1, whose lists differ per edge and per cell type."""

from __future__ import annotations

from nasbench_harness.spaces.space import DartsFamilySpace, EdgeOps, register_space

EDGES = 14
SEARCH_NETWORK = {"channels": 16, "layers": 8}

#: DARTS' PRIMITIVES (quark0/darts `cnn/genotypes.py` lines 5-14), as PC-DARTS (`genotypes.py` lines 5-14),
#: RobustDARTS (`src/spaces.py` lines 80-89, its `s5`) and xautodl's GDAS (`DARTS_SPACE`) search it.
DARTS_OPS = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
#: The same list with `none` commented out, as SmoothDARTS and β-DARTS (`sota/cnn/spaces.py` line 81),
#: Λ-DARTS (`sota/cnn/spaces.py` lines 80-92) and DrNAS (`DARTS-space/genotypes.py` line 6) search it.
DARTS_NONONE_OPS = tuple(op for op in DARTS_OPS if op != "none")

S1_NORMAL: EdgeOps = (
    ("skip_connect", "dil_conv_3x3"),
    ("skip_connect", "dil_conv_5x5"),
    ("skip_connect", "dil_conv_5x5"),
    ("skip_connect", "sep_conv_3x3"),
    ("skip_connect", "dil_conv_3x3"),
    ("max_pool_3x3", "skip_connect"),
    ("skip_connect", "sep_conv_3x3"),
    ("skip_connect", "sep_conv_3x3"),
    ("skip_connect", "dil_conv_3x3"),
    ("skip_connect", "sep_conv_3x3"),
    ("max_pool_3x3", "skip_connect"),
    ("skip_connect", "dil_conv_3x3"),
    ("dil_conv_3x3", "dil_conv_5x5"),
    ("dil_conv_3x3", "dil_conv_5x5"),
)
S1_REDUCE: EdgeOps = (
    ("max_pool_3x3", "avg_pool_3x3"),
    ("max_pool_3x3", "dil_conv_3x3"),
    ("max_pool_3x3", "avg_pool_3x3"),
    ("max_pool_3x3", "avg_pool_3x3"),
    ("skip_connect", "dil_conv_5x5"),
    ("max_pool_3x3", "avg_pool_3x3"),
    ("max_pool_3x3", "sep_conv_3x3"),
    ("skip_connect", "dil_conv_3x3"),
    ("skip_connect", "dil_conv_5x5"),
    ("max_pool_3x3", "avg_pool_3x3"),
    ("max_pool_3x3", "avg_pool_3x3"),
    ("skip_connect", "dil_conv_5x5"),
    ("skip_connect", "dil_conv_5x5"),
    ("skip_connect", "dil_conv_5x5"),
)


def uniform(ops: tuple[str, ...]) -> dict[str, EdgeOps]:
    return {"normal": (ops,) * EDGES, "reduce": (ops,) * EDGES}


@register_space("darts")
def darts() -> DartsFamilySpace:
    return DartsFamilySpace(
        "darts",
        "DARTS space: 8 ops on every edge (RobustDARTS s5, with `none`)",
        uniform(DARTS_OPS),
        SEARCH_NETWORK,
    )


@register_space("darts_nonone")
def darts_nonone() -> DartsFamilySpace:
    return DartsFamilySpace(
        "darts_nonone",
        "DARTS space without `none`: 7 ops on every edge (SmoothDARTS, β-DARTS, DrNAS, Λ-DARTS)",
        uniform(DARTS_NONONE_OPS),
        SEARCH_NETWORK,
        variant_of="darts",
    )


@register_space("s1")
def s1() -> DartsFamilySpace:
    return DartsFamilySpace(
        "s1",
        "RobustDARTS S1: the two strongest ops per edge of a DARTS run, per cell type",
        {"normal": S1_NORMAL, "reduce": S1_REDUCE},
        SEARCH_NETWORK,
    )


@register_space("s2")
def s2() -> DartsFamilySpace:
    return DartsFamilySpace(
        "s2",
        "RobustDARTS S2: skip_connect, sep_conv_3x3",
        uniform(("skip_connect", "sep_conv_3x3")),
        SEARCH_NETWORK,
    )


@register_space("s3")
def s3() -> DartsFamilySpace:
    return DartsFamilySpace(
        "s3",
        "RobustDARTS S3: none, skip_connect, sep_conv_3x3",
        uniform(("none", "skip_connect", "sep_conv_3x3")),
        SEARCH_NETWORK,
    )


@register_space("s4")
def s4() -> DartsFamilySpace:
    return DartsFamilySpace(
        "s4", "RobustDARTS S4: noise, sep_conv_3x3", uniform(("noise", "sep_conv_3x3")), SEARCH_NETWORK
    )
