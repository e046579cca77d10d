"""Alignment of the cells' α-gradients, Λ-DARTS' collapse signal (Movahedi et al., ICLR 2023).

Λ-DARTS explains DARTS' collapse by the cells' gradients with respect to their (shared) mixing weights
drifting apart: the softmax saturates and the cells near the output dominate the choice. Its code logs
the mean pairwise cosine of the per-cell gradients g_l = ∂L_train/∂A_l, A_l being cell l's own copy of
the mixing weights (`model_search.py` `get_corr`, lines 285-296; NB201 `search_model_darts_v1.py`
lines 113-126), over the normal cells on the DARTS family and over all 15 cells on NAS-Bench-201.

`grad_corr` measures the same for every method whose supernet has α, once per epoch, on the epoch's
last training batch (regenerated: batches are a pure function of seed and epoch), at the end-of-epoch
weights, with the method's own mixing weights, in train mode as the original; BatchNorm buffers, module
modes and the RNG are restored afterwards, so measuring never changes the search. Cost: one forward and
one backward pass. `grad_corr_<type>` reports each cell type with at least two cells (the DARTS family's
two reduction cells give one pair).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from nasbench_harness.metrics.base import EpochState, register_epoch_metric
from nasbench_harness.metrics.hessian import _measurement
from nasbench_harness.mixing import weight_matrix, with_matrix
from nasbench_harness.spaces import Supernet
from nasbench_harness.spaces.supernet import MixingWeights

#: Cell types whose gradients Λ-DARTS aligns: all but the DARTS family's reduction cells (its code
#: perturbs normal cells only, `model_search.py` lines 263-265; every cell on NAS-Bench-201).
UNALIGNED_CELL_TYPES = frozenset({"reduce"})


def aligned_cells(net: Supernet) -> list[int]:
    """Indices (in forward order) of the searched cells Λ-DARTS aligns and `grad_corr` measures."""
    return [i for i, t in enumerate(net.searched_cell_types) if t not in UNALIGNED_CELL_TYPES]


def mean_pairwise_cosine(grads: Sequence[Tensor]) -> float | None:
    """Mean over pairs i < j of cos(g_i, g_j); None with fewer than two gradients or a zero one."""
    if len(grads) < 2:
        return None
    flat = torch.stack([g.reshape(-1) for g in grads]).double()
    norms = flat.norm(dim=1)
    if not bool((norms > 0).all()):
        return None
    unit = flat / norms[:, None]
    cos = unit @ unit.T
    i, j = torch.triu_indices(len(grads), len(grads), offset=1)
    return float(cos[i, j].mean())


def per_cell_gradients(net: Supernet, batch: tuple[Tensor, Tensor], weights: MixingWeights | None) -> list[Tensor]:
    """g_l = ∂L/∂A_l for every searched cell, A_l a detached copy of cell l's mixing weights."""
    cells = net.per_cell(weights)
    copies = [weight_matrix(w).detach().clone().requires_grad_() for w in cells]
    x, y = batch
    loss = F.cross_entropy(net(x, [with_matrix(w, c) for w, c in zip(cells, copies)]), y)
    return list(torch.autograd.grad(loss, copies, allow_unused=True, materialize_grads=True))


@register_epoch_metric("grad_corr")
def grad_corr(state: EpochState) -> dict[str, Any]:
    """`grad_corr` (the aligned cells) and `grad_corr_<type>` per cell type; None where undefined."""
    method, net = state.method, state.method.net
    state.provenance.setdefault(
        "grad_corr",
        {
            "batch": "the epoch's last training (weight) batch",
            "weights": "end-of-epoch network weights, the method's mixing_weights(), one detached copy per cell",
            "network_mode": "train, BN buffers, module modes and RNG restored afterwards",
            "cells": "grad_corr: all cells but reduction cells (Λ-DARTS); grad_corr_<type>: the cells of that type",
            "value": "mean pairwise cosine of the flattened dL_train/dA_l (Λ-DARTS get_corr)",
        },
    )
    types = net.searched_cell_types
    row: dict[str, Any] = {"grad_corr": None, **{f"grad_corr_{t}": None for t in sorted(set(types))}}
    batches = method.batches
    if not net.arch_parameters() or batches is None or len(batches) == 0:
        return row
    train, _ = next(iter(batches.epoch(state.epoch, start_step=len(batches) - 1)))
    with _measurement(net), torch.enable_grad():
        grads = per_cell_gradients(net, train, method.mixing_weights())
    row["grad_corr"] = mean_pairwise_cosine([grads[i] for i in aligned_cells(net)])
    for t in set(types):
        row[f"grad_corr_{t}"] = mean_pairwise_cosine([g for g, c in zip(grads, types) if c == t])
    return row
