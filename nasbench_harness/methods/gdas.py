"""GDAS (Dong & Yang, CVPR 2019): one hard Gumbel-softmax sample per edge, only the sampled op computed.

From xautodl (github:D-X-Y/AutoDL-Projects; `xautodl/models/cell_searchs/search_model_gdas.py`,
`search_model_gdas_nasnet.py`, `search_cells.py`, `exps/NAS-Bench-201-algos/GDAS.py`):

1. Per forward and per α matrix: g = −log(Exp(1)), probs = softmax((log_softmax(α) + g)/τ), the
   one-hot of argmax(probs), hardwts = one_hot − probs.detach() + probs (straight through), drawn again
   while g or probs hold an inf or a NaN (search_model_gdas.py lines 115-129, nasnet lines 164-180).
2. Edge output: NAS-Bench-201 Σ_i (hardwts_i·op_i(x) if i is chosen else hardwts_i) (search_cells.py
   lines 72-86: the unchosen, zero-valued entries are added, so their gradient reaches α directly);
   DARTS family hardwts_k·op_k(x) for the chosen k only (search_cells.py lines 180-181). Either way the
   straight-through softmax passes gradient to every entry of the edge's α row.
3. A step: weights first (SGD on L_train of a fresh sample; the loss also reaches α and the clip of 5
   covers `network.parameters()`, α included), then α (Adam on L_valid of another sample)
   (GDAS.py lines 49-69); τ = τ_max − (τ_max − τ_min)·epoch/(epochs − 1) per epoch (lines 237-239).
   Under the PyTorch 1.x the code ran on, `w_optimizer.zero_grad()` (line 50) zeroes the gradients in place:
   a weight that has once had a gradient (from the weight step or from the α step's `arch_loss.backward()`,
   line 68) keeps a zero one, so SGD's weight decay, momentum and Nesterov term move it at every step, its op
   sampled or not (`train.zero_grad: zeros`, the default; `to_none` steps the sampled ops' weights only).
4. Genotype: NAS-Bench-201 argmax α per edge (search_model_gdas.py lines 101-112); DARTS family, per
   node, the 2 strongest (op, input) pairs over all non-`none` ops of all inputs by softmax(α), so both
   may come from one input (nasnet lines 128-161).

Sampling without host synchronisation: a step draws both its samples (weight step and α step; α does not
change in between) for every cell type at once, and moves all sampled indices and the finiteness flags to
the host in ONE transfer; `SampledSum` then runs the chosen ops from those host indices.

Evaluation (`eval_valid_acc`) and the Hessian use `mixing_weights()`: xautodl's GDAS forward always samples
(its reported validation accuracy is the α step's, on random samples); here it is the noise-free version
of the same forward (g = 0): the argmax-α single path, straight-through gradients through softmax(α/τ).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, PositiveFloat
from torch import Tensor
from torch.nn import functional as F

from nasbench_harness.config import RunConfig
from nasbench_harness.methods.base import Batch, Method, StepFigures, register_method
from nasbench_harness.mixing import Mixer, SampledSum, SampledWeights, indices_to_host
from nasbench_harness.spaces import Genotype, Supernet
from nasbench_harness.spaces.genotype import DartsGenotype
from nasbench_harness.spaces.space import DartsFamilySpace, softmax

#: xautodl's GDAS search configs, the same for every space family (GDAS.py reads one of them). `zero_grad: zeros`:
#: GDAS.py line 50 `w_optimizer.zero_grad()` under the PyTorch 1.x xautodl needs (README line 94: >= 1.5) zeroes
#: gradients in place, so every weight that was once sampled (in a weight or an α step: line 68's backward fills
#: the gradient of every weight the α loss reaches) is moved by weight decay and momentum at every step.
_TRAIN = {
    "epochs": 250,
    "lr": 0.025,
    "lr_min": 0.001,
    "weight_decay": 5e-4,
    "momentum": 0.9,
    "nesterov": True,
    "zero_grad": "zeros",
}
_ARCH = {"arch_lr": 3e-4, "arch_betas": (0.5, 0.999), "arch_weight_decay": 1e-3, "grad_clip": 5.0, "clip_scope": "all"}
#: DARTS family: configs/search-opts/GDAS-NASNet-CIFAR.config (batch 256) and search-archs/GDAS-NASNet-CIFAR.config
#: (C = 16, N = 2: 6 cells, reductions at cells 2 and 4).
DARTS_FAMILY_DEFAULTS: dict[str, Any] = {"train": {**_TRAIN, **_ARCH, "batch_size": 256}, "network": {"layers": 6}}
#: NAS-Bench-201: configs/nas-benchmark/algos/GDAS.config (batch 64) with GDAS.sh's C = 16, N = 5.
NB201_DEFAULTS: dict[str, Any] = {"train": {**_TRAIN, **_ARCH, "batch_size": 64}}


class GdasArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: τ at the first and the last epoch (scripts-search/NAS-Bench-201-algos/GDAS.sh line 41,
    #: NASNet-space-search-by-GDAS.sh line 36).
    tau_max: PositiveFloat = 10.0
    tau_min: PositiveFloat = 0.1


def gumbel_subgraphs(alpha: Tensor, tau: float, k: int, noise: bool = True) -> tuple[list[Tensor], Tensor, Tensor]:
    """k mutually exclusive straight-through one-hot weight matrices from one Gumbel draw (GDAS for k = 1).

    Sub-graph j takes, per edge, the argmax of softmax((log_softmax(α) + g)/τ) over the ops no earlier
    sub-graph took (the Gumbel-top-k order: k draws without replacement), hardwts_j = one_hot_j −
    probs_j.detach() + probs_j. Returns the k matrices, the (edges × k) indices and a 0-d bool "the draw is
    finite" (GDAS's resample test), all on α's device: nothing here waits for it.
    """
    gumbels = -torch.empty_like(alpha).exponential_().log() if noise else torch.zeros_like(alpha)
    perturbed = (alpha.log_softmax(dim=1) + gumbels) / tau
    bad = torch.isinf(gumbels).any()
    taken = torch.zeros_like(alpha, dtype=torch.bool)
    hard, indices = [], []
    for _ in range(k):
        probs = F.softmax(perturbed.masked_fill(taken, float("-inf")), dim=1)
        index = probs.max(-1, keepdim=True)[1]
        one_hot = torch.zeros_like(probs).scatter_(-1, index, 1.0)
        hard.append(one_hot - probs.detach() + probs)
        indices.append(index)
        bad = bad | torch.isinf(probs).any() | torch.isnan(probs).any()
        taken = taken | one_hot.bool()
    return hard, torch.cat(indices, dim=1), ~bad


@dataclass(frozen=True)
class Draw:
    """One Gumbel-top-k draw for every cell type: K weight matrices each, and the host indices."""

    hard: dict[str, list[Tensor]]
    #: cell type → per edge the K chosen op indices, sub-graph order.
    chosen: dict[str, list[list[int]]]

    def subgraph(self, j: int, add_unchosen: bool, scale: Mapping[str, Tensor] | None = None) -> dict[str, Any]:
        """Sub-graph j as mixing weights; `scale` multiplies its weight matrices (Dropblock-Identity)."""
        out = {}
        for t, mats in self.hard.items():
            w = mats[j] if scale is None else mats[j] * scale[t]
            out[t] = SampledWeights(w, [[row[j]] for row in self.chosen[t]], add_unchosen)
        return out


def draw_subgraphs(alphas: Mapping[str, Tensor], tau: float, k: int, draws: int, noise: bool = True) -> list[Draw]:
    """`draws` independent draws of k sub-graphs per cell type, each α matrix drawn again until finite.

    All indices and finiteness flags of a round reach the host in one transfer, so a step costs one
    device→host copy (another only for the rare non-finite draw)."""
    hard: dict[tuple[int, str], list[Tensor]] = {}
    chosen: dict[tuple[int, str], list[list[int]]] = {}
    pending = [(d, t) for d in range(draws) for t in alphas]
    while pending:
        device: dict[str, Tensor] = {}
        drawn = {}
        for d, t in pending:
            mats, index, finite = gumbel_subgraphs(alphas[t], tau, k, noise)
            drawn[(d, t)] = mats
            flag = finite.long().expand(index.shape[0], 1)
            device[f"{d}/{t}"] = torch.cat([index, flag], dim=1)
        host = indices_to_host(device)
        retry = []
        for d, t in pending:
            rows = host[f"{d}/{t}"]
            if all(row[-1] for row in rows):
                hard[(d, t)], chosen[(d, t)] = drawn[(d, t)], [row[:-1] for row in rows]
            else:
                retry.append((d, t))
        pending = retry
    return [Draw({t: hard[(d, t)] for t in alphas}, {t: chosen[(d, t)] for t in alphas}) for d in range(draws)]


def linear_tau(epoch: int, epochs: int, tau_max: float, tau_min: float) -> float:
    """GDAS.py lines 237-239: τ_max at epoch 0, τ_min at the last epoch."""
    return tau_max - (tau_max - tau_min) * epoch / max(epochs - 1, 1)


def gdas_darts_genotype(space: DartsFamilySpace, alphas: Mapping[str, np.ndarray]) -> DartsGenotype:
    """search_model_gdas_nasnet.py lines 128-161: per node, the 2 largest softmax(α) entries over every
    (non-`none` op, input) pair, ties in (input, op) order (Python's stable sort); one input may win twice."""
    genes = {}
    for cell_type in ("normal", "reduce"):
        w = softmax(np.asarray(alphas[cell_type]))
        gene, start = [], 0
        for node in range(space.steps):
            candidates = []
            for j in range(node + 2):
                for k, name in enumerate(space.edge_ops[cell_type][start + j]):
                    if name != "none":
                        candidates.append((name, j, w[start + j, k]))
            gene.extend((name, j) for name, j, _ in sorted(candidates, key=lambda c: -c[2])[:2])
            start += node + 2
        genes[cell_type] = tuple(gene)
    concat = tuple(range(2, 2 + space.steps))
    return DartsGenotype(genes["normal"], genes["reduce"], concat, concat)


def space_family(net: Supernet) -> str:
    return "darts" if isinstance(net.space, DartsFamilySpace) else "nb201"


@register_method("gdas")
class Gdas(Method):
    Args = GdasArgs
    args: GdasArgs
    departures: ClassVar[tuple[str, ...]] = (
        "eval_valid_acc and the eigenvalue use the noise-free forward (argmax α, straight through "
        "softmax(α/τ)); xautodl's validation forward samples (GDAS.py valid_func). A deterministic figure.",
        "DARTS family: the harness' DARTS search network, not xautodl's NASNet search network (which ends in "
        "BN-ReLU before the pooling and has its own preprocessing ops); one network per family for every method.",
    )
    family_defaults: ClassVar[dict[str, dict[str, Any]]] = {"nb201": NB201_DEFAULTS, "darts": DARTS_FAMILY_DEFAULTS}

    @classmethod
    def mixer(cls, args: BaseModel) -> Mixer:
        return SampledSum()

    def __init__(self, net: Supernet, config: RunConfig, device: torch.device):
        super().__init__(net, config, device)
        #: search_cells.py lines 80-83 (NAS-Bench-201) add the unchosen weights; lines 180-181 (NASNet) do not.
        self.add_unchosen = space_family(net) == "nb201"
        self.tau = self.args.tau_max

    def set_epoch(self, epoch: int, lr: float) -> None:
        super().set_epoch(epoch, lr)
        self.tau = linear_tau(epoch, self.config.train.epochs, self.args.tau_max, self.args.tau_min)

    def mixing_weights(self) -> dict[str, Any]:
        """Evaluation and Hessian: the noise-free GDAS forward (argmax α, straight through softmax(α/τ))."""
        draw = draw_subgraphs(dict(self.net.alphas.items()), self.tau, 1, 1, noise=False)[0]
        return draw.subgraph(0, self.add_unchosen)

    def step(self, train: Batch, valid: Batch) -> StepFigures:
        weight_draw, alpha_draw = draw_subgraphs(dict(self.net.alphas.items()), self.tau, 1, 2)
        figures = self.weight_step(train, weight_draw.subgraph(0, self.add_unchosen))
        figures.update(self.first_order_alpha_step(valid, alpha_draw.subgraph(0, self.add_unchosen)))
        return {**figures, "tau": self.tau}

    def genotype(self) -> Genotype:
        if isinstance(self.net.space, DartsFamilySpace):
            return gdas_darts_genotype(
                self.net.space, {t: a.detach().cpu().numpy() for t, a in self.net.alphas.items()}
            )
        return self.net.genotype()

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "sampling": "hard Gumbel-softmax per edge, straight-through, drawn again until finite (xautodl GDAS); "
            "one sample for the weight step, another for the α step, both drawn at the step's start",
            "edge_output": "chosen op times its weight, plus the unchosen weights (NB201 forward_gdas)"
            if self.add_unchosen
            else "chosen op times its weight only (NASNet MixedOp.forward_gdas)",
            "tau": f"linear {self.args.tau_max} -> {self.args.tau_min} over the epochs (GDAS.py lines 237-239)",
            "step_order": "weights first, then α (GDAS.py lines 49-69)",
            "evaluation_mixing": "noise-free forward: argmax-α single path, straight-through softmax(α/τ) "
            "(xautodl evaluates on random samples)",
            "genotype": "per node the 2 strongest (op, input) pairs over all inputs (GDAS NASNet rule)"
            if isinstance(self.net.space, DartsFamilySpace)
            else "argmax α per edge",
        }
