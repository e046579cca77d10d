"""NAS-Bench-201 (Dong & Yang, 2020): 6 edges × 5 ops, 15,625 cells."""

from __future__ import annotations

from nasbench_harness.spaces.space import NB201Space, register_space

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: The search settings of the original code: xautodl's DARTS.config (weight decay 5e-4 with Nesterov), its
#: official split files, its SearchDataset's random α images and its clip over all parameters.
NB201_CONFIG = {
    "train": {"weight_decay": 5e-4, "nesterov": True, "clip_scope": "all"},
    "data": {"split": "nb201_official", "valid_sampling": "nb201_random"},
}


@register_space("nb201")
def nb201() -> NB201Space:
    return NB201Space(
        "nb201",
        "NAS-Bench-201 cell: 4 nodes, 6 edges, 5 ops (tabular ground truth for all 15,625 cells)",
        {"cell": (NB201_OPS,) * 6},
        {"channels": 16, "cells_per_stage": 5, "affine": False, "track_running_stats": False},
        NB201_CONFIG,
    )
