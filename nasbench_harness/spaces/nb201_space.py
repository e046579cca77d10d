"""NAS-Bench-201 (Dong & Yang, 2020): 6 edges × 5 ops, 15,625 cells."""

from __future__ import annotations

from nasbench_harness.spaces.space import NB201Space, register_space

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


@register_space("nb201")
def nb201() -> NB201Space:
    return NB201Space(
        "nb201",
        "NAS-Bench-201 cell: 4 nodes, 6 edges, 5 ops (tabular ground truth for all 15,625 cells)",
        {"cell": (NB201_OPS,) * 6},
        {"channels": 16, "cells_per_stage": 5, "affine": False, "track_running_stats": False},
    )
