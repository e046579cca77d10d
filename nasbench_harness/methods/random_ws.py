"""Random search with weight sharing (Li & Talwalkar, UAI 2019), RobustDARTS' random baseline.

Training: every step samples one architecture uniformly and trains the shared weights on it alone
(one-hot mixing through `SampledSum`, so only the sampled ops run); α is never learned. A DARTS-family
cell is sampled as RobustDARTS' `DartsWrapper.sample_arch` (`src/search/randomNAS/darts_wrapper_discrete.py`
lines 221-235; the same in Li & Talwalkar's `benchmarks/cnn/darts/darts_wrapper_discrete.py` lines
258-272) does: per intermediate node, 2 distinct inputs, and on each an op drawn uniformly from all
of the edge's ops, `none` included; the other edges get all-zero weights. A sampled `none` stays in
the genotype, as their `parse_arch_to_darts` writes it (`parse_cnn_arch.py` lines 57-63): that edge
contributes zeros. NAS-Bench-201 (and any other space): one op per edge, `none` included.

Selection (their `get_eval_arch`): sample `eval_archs` architectures (1000 in the paper), score each
on `first_pass_batches` validation batches (10), re-score the `top_k` best (10) on the whole
validation split, keep the best; the network is in eval mode, as in their `evaluate`. It runs after
the last training step of the last epoch (or of every epoch with `select_every_epoch`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, PositiveInt
from torch import Tensor

from nasbench_harness.config import RunConfig
from nasbench_harness.data import eval_batches
from nasbench_harness.data.pipeline import epoch_generator
from nasbench_harness.methods.base import Batch, Method, StepFigures, accuracy_on, register_method
from nasbench_harness.mixing import Mixer, SampledSum, SampledWeights
from nasbench_harness.spaces import Genotype, Supernet
from nasbench_harness.spaces.genotype import DartsGenotype
from nasbench_harness.spaces.space import DartsFamilySpace, SearchSpace

#: cell type → [edge, op] of every sampled edge.
Arch = dict[str, list[list[int]]]


class RandomWSArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    eval_archs: PositiveInt = 1000
    first_pass_batches: PositiveInt = 10
    top_k: PositiveInt = 10
    select_every_epoch: bool = False


def sample_arch(space: SearchSpace, generator: torch.Generator | None = None) -> Arch:
    """A uniform random discrete architecture. DARTS family: per node 2 distinct inputs, in the order
    drawn, and a uniform op on each from all the edge's ops (`none` included, as in RobustDARTS);
    otherwise one uniform op per edge."""

    def pick(n: int) -> int:
        return int(torch.randint(n, (1,), generator=generator))

    arch: Arch = {}
    for cell_type, edges in space.edge_ops.items():
        chosen = []
        if isinstance(space, DartsFamilySpace):
            offset = 0
            for node in range(space.steps):
                for j in torch.randperm(node + 2, generator=generator)[:2].tolist():
                    chosen.append([offset + j, pick(len(edges[offset + j]))])
                offset += node + 2
        else:
            chosen = [[e, pick(len(ops))] for e, ops in enumerate(edges)]
        arch[cell_type] = chosen
    return arch


def arch_weights(space: SearchSpace, arch: Arch, like: Tensor) -> dict[str, Tensor]:
    """One-hot mixing weights of `arch` (zeros on unsampled edges), dtype and device of `like`."""
    weights = {}
    for cell_type, shape in space.alpha_shapes().items():
        w = torch.zeros(shape, dtype=like.dtype, device=like.device)
        for edge, op in arch[cell_type]:
            w[edge, op] = 1.0
        weights[cell_type] = w
    return weights


def arch_sampled(space: SearchSpace, arch: Arch, like: Tensor) -> dict[str, SampledWeights]:
    """`arch_weights` with each edge's sampled op index on the host, so `SampledSum` runs it without a sync."""
    sampled = {}
    for cell_type, weights in arch_weights(space, arch, like).items():
        chosen: list[list[int]] = [[] for _ in range(len(weights))]
        for edge, op in arch[cell_type]:
            chosen[edge].append(op)
        sampled[cell_type] = SampledWeights(weights, chosen)
    return sampled


def arch_genotype(space: SearchSpace, arch: Arch) -> Genotype:
    """The sampled cell itself. DARTS family: its (op, input) pairs as drawn, `none` kept (deriving from
    the one-hot weights would drop a `none` edge, since derivation skips `none`); otherwise by argmax."""
    if not isinstance(space, DartsFamilySpace):
        return space.derive_from_weights({t: w.numpy() for t, w in arch_weights(space, arch, torch.zeros(())).items()})
    offsets = [sum(range(2, node + 2)) for node in range(space.steps)]  # first edge of each node: 0, 2, 5, 9

    def gene(cell_type: str) -> tuple[tuple[str, int], ...]:
        pairs = []
        for edge, op in arch[cell_type]:
            start = max(o for o in offsets if o <= edge)
            pairs.append((space.edge_ops[cell_type][edge][op], edge - start))
        return tuple(pairs)

    concat = tuple(range(2, 2 + space.steps))
    return DartsGenotype(gene("normal"), gene("reduce"), concat, concat)


@register_method("random_ws")
class RandomWS(Method):
    Args = RandomWSArgs
    learns_alphas = False

    @classmethod
    def mixer(cls, args: BaseModel) -> Mixer:
        return SampledSum()

    def __init__(self, net: Supernet, config: RunConfig, device: torch.device):
        super().__init__(net, config, device)
        self.space = net.space
        self.current: Arch = sample_arch(self.space, torch.Generator().manual_seed(config.seed))
        self.selection: dict[str, Any] | None = None

    def mixing_weights(self) -> dict[str, SampledWeights]:
        """The step's sample while training; the selected architecture once there is one."""
        return arch_sampled(self.space, self.current, self.net.arch_parameters()[0])

    def step(self, train: Batch, valid: Batch) -> StepFigures:
        self.current = sample_arch(self.space)
        return self.weight_step(train)

    def after_train_steps(self) -> None:
        if self.epoch == self.config.train.epochs - 1 or self.args.select_every_epoch:
            self.select()

    def accuracy(self, arch: Arch, batches: list[Batch]) -> float:
        return accuracy_on(self.net, batches, arch_sampled(self.space, arch, self.net.arch_parameters()[0]))

    def select(self) -> None:
        """Their protocol: `eval_archs` samples on a few validation batches, the `top_k` on all of it."""
        assert self.batches is not None
        ds = self.batches.dataset
        images, labels = self.batches.split.valid_images(ds)  # the split's architecture side
        valid_idx = torch.arange(len(labels))
        generator = epoch_generator(self.config.seed, 1_000_000 + self.epoch)
        candidates = [sample_arch(self.space, generator) for _ in range(self.args.eval_archs)]
        first_idx = valid_idx[torch.randperm(len(valid_idx), generator=generator)]
        first_idx = first_idx[: self.args.first_pass_batches * self.config.train.batch_size]

        def batches(idx: Tensor, size: int) -> list[Batch]:
            return list(eval_batches(images[idx], labels[idx], size, device=self.device, mean=ds.mean, std=ds.std))

        was_training = self.net.training
        self.net.eval()
        first = batches(first_idx, self.config.train.batch_size)
        scores = [self.accuracy(arch, first) for arch in candidates]
        top = sorted(range(len(candidates)), key=lambda i: -scores[i])[: self.args.top_k]
        full = batches(valid_idx, self.config.data.eval_batch_size)
        finals = [self.accuracy(candidates[i], full) for i in top]
        self.net.train(was_training)
        best = top[int(np.argmax(finals))]
        self.current = candidates[best]
        self.selection = {
            "epoch": self.epoch,
            "arch": candidates[best],
            "genotype": str(arch_genotype(self.space, candidates[best])),
            "valid_acc": max(finals),
            "top": [
                {"genotype": str(arch_genotype(self.space, candidates[i])), "first_pass_acc": scores[i], "valid_acc": a}
                for i, a in zip(top, finals)
            ],
        }

    def genotype(self) -> Genotype:
        """The selected architecture; before any selection, the (uninformative) one of the initial α."""
        if self.selection is None:
            return self.net.genotype()
        return arch_genotype(self.space, self.selection["arch"])

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "current": self.current, "selection": self.selection}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.current, self.selection = state["current"], state["selection"]

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "alphas": "not learned: α stays at its 1e-3·N(0,1) init (the α optimizer never steps)",
            "training": "one uniformly sampled single-path architecture per step, weights only",
            "sampling": "DARTS family: per node 2 distinct inputs, a uniform op each from all the edge's ops "
            "(none included, kept in the genotype; RobustDARTS sample_arch); else one uniform op per edge",
            "selection_protocol": f"{self.args.eval_archs} samples scored on {self.args.first_pass_batches} "
            f"validation batches, top {self.args.top_k} re-scored on the whole validation split, eval mode, "
            "no augmentation, the same batches for every candidate",
            "selection": self.selection,
        }
