"""Random search with weight sharing (Li & Talwalkar, UAI 2019), RobustDARTS' random baseline.

Training: every step samples one architecture uniformly and trains the shared weights on it; α is never
learned. As RobustDARTS does (`src/search/model_search.py` lines 22-23 and 118-131: `MixedOp` returns
`sum(w * op(x))` over every op, the sampled architecture's 0/1 matrix in place of α), every op of every edge
runs, multiplied by its 0/1 weight (`training_forward: all_ops`): every weight gets a (zero) gradient, so
SGD's weight decay and momentum move all of them at every step, and every BatchNorm updates its running
statistics, which the selection (eval mode) reads. `training_forward: sampled` runs the sampled ops only
(`SampledSum`; with `train.zero_grad: to_none` the unsampled ops' weights are not stepped at all). A DARTS-family
cell is sampled as RobustDARTS' `DartsWrapper.sample_arch` (`src/search/randomNAS/darts_wrapper_discrete.py`
lines 221-235; the same in Li & Talwalkar's `benchmarks/cnn/darts/darts_wrapper_discrete.py` lines
258-272) does: per intermediate node, 2 distinct inputs, and on each an op drawn uniformly from all
of the edge's ops, `none` included; the other edges get all-zero weights. A sampled `none` stays in
the genotype, as their `parse_arch_to_darts` writes it (`parse_cnn_arch.py` lines 57-63): that edge
contributes zeros. NAS-Bench-201 (and any other space): one op per edge, `none` included.

Selection (their `get_eval_arch`, `random_weight_share.py` lines 98-132): sample `eval_archs` architectures
(1000), score each on `first_pass_batches` validation batches (10), re-score the `top_k` best (10) on as
many batches as one pass over the validation half has, keep the best; the network is in eval mode, as in
their `evaluate` (`darts_wrapper_discrete.py` lines 139-180). Their batches come from ONE running iterator
over the validation queue (`next(self.valid_iter)`, started again when exhausted, lines 158-164), which the
end of every training epoch also advances by 10 batches (line 130), and that queue is built on the training
set with the training transform (random crop and flip; args.py lines 146-167): `selection_batches: running`
and `selection_augment: true` reproduce that (`PairedBatches.valid_walk`); `shared` scores every candidate
on the same batches and re-scores on the whole validation split, `selection_augment: false` without
augmentation (the former behaviour here). It runs after the last training step of the last epoch (or of
every epoch with `select_every_epoch`).

RobustDARTS ran RandomNAS over its weight-decay grid (`scripts/start_search_RandomNAS.sh` lines 5 and 11-12:
3e-4 · 3^i up to 2.43e-2, passed as `--weight_decay`); `weight_decays` runs that sweep here (one run per
value, the one with the best final validation accuracy kept, as R-DARTS). The same script's drop-path grid
changes nothing in RandomNAS (`DartsWrapper` builds its `Network` without `drop_path_prob`, lines 70-72, and
never turns cutout on), so it is not offered. Default: one run at `train.weight_decay` (the parser's 3e-4).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, PositiveInt
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


#: RobustDARTS' RandomNAS weight-decay grid (`scripts/start_search_RandomNAS.sh` line 5).
WEIGHT_DECAY_GRID = (3e-4, 9e-4, 2.7e-3, 8.1e-3, 2.43e-2)


class RandomWSArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    eval_archs: PositiveInt = 1000
    first_pass_batches: PositiveInt = 10
    top_k: PositiveInt = 10
    select_every_epoch: bool = False
    #: `all_ops`: every op of every edge runs times its 0/1 weight (RobustDARTS `MixedOp`); `sampled`: only the
    #: sampled ops run.
    training_forward: Literal["all_ops", "sampled"] = "all_ops"
    #: `running`: each candidate on the next batches of one running walk over the validation half (RobustDARTS);
    #: `shared`: every candidate on the same batches, the top-k on the whole validation split.
    selection_batches: Literal["running", "shared"] = "running"
    #: The training transform on the selection's images (RobustDARTS' validation queue uses it).
    selection_augment: bool = True
    #: One run's weight decay (replaces `train.weight_decay`); None: `train.weight_decay`, or the sweep.
    weight_decay: float | None = Field(None, ge=0)
    #: A sweep: one run per weight decay (RobustDARTS' grid: `WEIGHT_DECAY_GRID`); None: no sweep.
    weight_decays: list[float] | None = Field(None, min_length=1)


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
    args: RandomWSArgs
    learns_alphas = False
    #: PyTorch 0.3.1's `optimizer.zero_grad()` zeroed gradients in place (RandomNAS.sh line 18 activates
    #: pytorch-0.3.1); with `training_forward: all_ops` every weight has a gradient at every step anyway.
    defaults: ClassVar[dict[str, Any]] = {"train": {"zero_grad": "zeros"}}
    sweep_param: ClassVar[str | None] = "weight_decay"
    departures: ClassVar[tuple[str, ...]] = (
        "Whole epochs: RobustDARTS trains int(epochs * 25000 / batch_size) steps (random_weight_share.py lines "
        "151-154: 19,531 at 50 epochs and batch 64, 20 short of 50 epochs of 391); the engine trains epochs.",
        "One selection round: get_eval_arch runs max(1, int(steps / 10000)) rounds and keeps the first round's best "
        "(random_weight_share.py lines 98-132, 166); later rounds change only the validation iterator's position.",
        "NAS-Bench-201 has no RobustDARTS code: one uniform op per edge and the same training and selection "
        "(ours). The published NB201 RSPS row is xautodl's RANDOM-NAS.py (each sample scored on one batch), "
        "which this is not.",
    )

    @classmethod
    def mixer(cls, args: BaseModel) -> Mixer:
        return SampledSum()

    @classmethod
    def expand_args(cls, args: BaseModel) -> list[BaseModel]:
        assert isinstance(args, RandomWSArgs)
        if args.weight_decay is not None or args.weight_decays is None:
            return [args]
        return [args.model_copy(update={"weight_decay": value}) for value in args.weight_decays]

    @classmethod
    def select(cls, results: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """Per weight-decay sweep, the run with the best final validation accuracy (a run alone stands for itself)."""
        from nasbench_harness.methods.rdarts import select_best

        return select_best(results, cls.sweep_group)

    def __init__(self, net: Supernet, config: RunConfig, device: torch.device):
        super().__init__(net, config, device)
        if self.args.weight_decay is not None:
            self.set_weight_decay(self.args.weight_decay)
        self.space = net.space
        self.current: Arch = sample_arch(self.space, torch.Generator().manual_seed(config.seed))
        self.selection: dict[str, Any] | None = None
        #: Batches of the running validation walk consumed so far (RobustDARTS' `valid_iter`).
        self.valid_position = 0

    def mixing_weights(self) -> dict[str, SampledWeights]:
        """The step's sample while training; the selected architecture once there is one. Evaluation runs the
        sampled ops only: in eval mode the unsampled ops' zero-weighted outputs add exactly nothing."""
        return arch_sampled(self.space, self.current, self.net.arch_parameters()[0])

    def step(self, train: Batch, valid: Batch) -> StepFigures:
        self.current = sample_arch(self.space)
        if self.args.training_forward == "all_ops":
            # Plain 0/1 matrices: `SampledSum` then runs every op of every edge, times its weight.
            return self.weight_step(train, arch_weights(self.space, self.current, self.net.arch_parameters()[0]))
        return self.weight_step(train)

    def after_train_steps(self) -> None:
        # RobustDARTS evaluates the epoch's last sample on the next 10 batches at every epoch's end
        # (darts_wrapper_discrete.py line 130), which moves its running validation iterator on.
        self.valid_position += self.args.first_pass_batches
        if self.epoch == self.config.train.epochs - 1 or self.args.select_every_epoch:
            self.select_architecture()

    def accuracy(self, arch: Arch, batches: list[Batch]) -> float:
        return accuracy_on(self.net, batches, arch_sampled(self.space, arch, self.net.arch_parameters()[0]))

    def walk(self, count: int) -> list[Batch]:
        """The next `count` batches of the running validation walk."""
        assert self.batches is not None
        batches = self.batches.valid_walk(self.valid_position, count, augment=self.args.selection_augment)
        self.valid_position += count
        return batches

    def select_architecture(self) -> None:
        """Their protocol: `eval_archs` samples on a few validation batches, the `top_k` on a pass's worth."""
        assert self.batches is not None
        generator = epoch_generator(self.config.seed, 1_000_000 + self.epoch)
        candidates = [sample_arch(self.space, generator) for _ in range(self.args.eval_archs)]
        was_training = self.net.training
        self.net.eval()
        first_pass, top_k = self.args.first_pass_batches, self.args.top_k
        if self.args.selection_batches == "running":
            scores = [self.accuracy(arch, self.walk(first_pass)) for arch in candidates]
            top = sorted(range(len(candidates)), key=lambda i: -scores[i])[:top_k]
            per_pass = self.batches.valid_batches_per_pass()
            finals = [self.accuracy(candidates[i], self.walk(per_pass)) for i in top]
        else:
            first, full = self.shared_batches(generator)
            scores = [self.accuracy(arch, first) for arch in candidates]
            top = sorted(range(len(candidates)), key=lambda i: -scores[i])[:top_k]
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

    def shared_batches(self, generator: torch.Generator) -> tuple[list[Batch], list[Batch]]:
        """`selection_batches: shared`: the same `first_pass_batches` random batches for every candidate, and the
        whole validation split for the top k (with `selection_augment`, one augmented pass of it)."""
        assert self.batches is not None
        ds, batch = self.batches.dataset, self.config.train.batch_size
        if self.args.selection_augment:
            per_pass = self.batches.valid_batches_per_pass()
            return self.batches.valid_walk(0, self.args.first_pass_batches), self.batches.valid_walk(0, per_pass)
        images, labels = self.batches.split.valid_images(ds)  # the split's architecture side
        valid_idx = torch.arange(len(labels))
        first_idx = valid_idx[torch.randperm(len(valid_idx), generator=generator)]
        first_idx = first_idx[: self.args.first_pass_batches * batch]

        def batches(idx: Tensor, size: int) -> list[Batch]:
            return list(eval_batches(images[idx], labels[idx], size, device=self.device, mean=ds.mean, std=ds.std))

        return batches(first_idx, batch), batches(valid_idx, self.config.data.eval_batch_size)

    def genotype(self) -> Genotype:
        """The selected architecture; before any selection, the (uninformative) one of the initial α."""
        if self.selection is None:
            return self.net.genotype()
        return arch_genotype(self.space, self.selection["arch"])

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "current": self.current,
            "selection": self.selection,
            "valid_position": self.valid_position,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.current, self.selection = state["current"], state["selection"]
        self.valid_position = int(state.get("valid_position", 0))

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "alphas": "not learned: α stays at its 1e-3·N(0,1) init (the α optimizer never steps)",
            "training": "one uniformly sampled architecture per step, weights only; "
            + (
                "every op of every edge runs times its 0/1 weight (RobustDARTS MixedOp): all weights get a "
                "gradient and all BatchNorms update their statistics"
                if self.args.training_forward == "all_ops"
                else "only the sampled ops run"
            ),
            "weight_decay": self.weight_decay,
            "sampling": "DARTS family: per node 2 distinct inputs, a uniform op each from all the edge's ops "
            "(none included, kept in the genotype; RobustDARTS sample_arch); else one uniform op per edge",
            "selection_protocol": f"{self.args.eval_archs} samples scored on {self.args.first_pass_batches} "
            f"validation batches, top {self.args.top_k} re-scored, eval mode; "
            + (
                "each on the next batches of one running walk over the validation half (a pass's worth for the "
                f"top {self.args.top_k}; every epoch's end moves it on by {self.args.first_pass_batches})"
                if self.args.selection_batches == "running"
                else "every candidate on the same batches, the top k on the whole validation split"
            )
            + (", training transform (crop, flip)" if self.args.selection_augment else ", no augmentation"),
            "selection": self.selection,
        }
