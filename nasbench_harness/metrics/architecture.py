"""Collapse signals read off α and the derived genotype: op counts, edge entropy, weight per op type."""

from __future__ import annotations

from typing import Any

import torch

from nasbench_harness.metrics.base import EpochState, register_epoch_metric
from nasbench_harness.spaces import op_counts
from nasbench_harness.spaces.supernet import masked_softmax


@register_epoch_metric("genotype_op_counts")
def genotype_op_counts(state: EpochState) -> dict[str, Any]:
    """Skip connections and parameter-free ops per cell type of the derived genotype."""
    return op_counts(state.genotype)


@register_epoch_metric("mixing_weight_stats")
def mixing_weight_stats(state: EpochState) -> dict[str, Any]:
    """Mean entropy of softmax(α) per edge, and the largest softmax weight each op type reaches."""
    net = state.method.net
    row: dict[str, Any] = {}
    with torch.no_grad():
        for cell_type, alpha in net.alphas.items():
            probs = masked_softmax(alpha.detach().float(), net.alpha_mask(cell_type))
            entropy = -(probs * probs.clamp_min(1e-12).log()).sum(dim=-1)
            row[f"entropy_{cell_type}"] = entropy.mean().item()
            names = net.space.edge_ops[cell_type]
            largest: dict[str, float] = {}
            for e, ops in enumerate(names):
                for k, op in enumerate(ops):
                    largest[op] = max(largest.get(op, 0.0), probs[e, k].item())
            for op, value in largest.items():
                row[f"max_weight_{cell_type}_{op}"] = value
    return row
