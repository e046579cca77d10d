"""StacNAS (Li et al., 2019; code: susan0199/StacNAS): a two-stage search over operator groups.

Correlated operators (the two pools, the two separable convolutions, the two dilated convolutions) split
DARTS' softmax among themselves; StacNAS first picks an operator *group* per edge, then an operator
inside it:

1. Stage `groups`: every edge carries one representative per group plus `none` (`none` last), 14 cells.
2. Stage `operators`: every edge carries the members of the group its stage-1 α chose (argmax of the raw
   α over all ops but the last, `none`), plus `none`; 20 cells. The skip group's members are
   `skip_connect` twice, as in the code (genotypes.py:27).

Each stage is a fresh search (search.py run twice by run_all.py:126-128): new supernet, new optimisers,
the same seed. One-level optimisation on the whole training set (run_all.py:58 `--train_ratio 1.0`): one
forward and backward on the training batch feeds both the α (Adam) and the weight (SGD) step, the clip
(3, run_all.py:66) over the weights only (search.py:60-72). The genotype takes, per node, the 2 incoming
edges with the largest raw α among non-`none` ops, on each that op (genotypes.py:53-67); α is read raw,
not softmaxed (`save_alphas(self._alphas, ...)`, search_cnn.py:219-221).

Spaces other than DARTS: the same group table restricted to each edge's ops (see `GROUPS`), documented in
docs/methods.md and recorded in the run metadata (`describe()["grouping"]`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from nasbench_harness.config import RunConfig
from nasbench_harness.errors import SpaceError
from nasbench_harness.methods.base import Batch, Method, StepFigures, accuracy, register_method
from nasbench_harness.spaces import DartsGenotype, Genotype, NB201Genotype, SearchSpace, get_space
from nasbench_harness.spaces.space import DartsFamilySpace, EdgeOps

if TYPE_CHECKING:
    from nasbench_harness.engine.stages import NextStage, Stage, StageOps


@dataclass(frozen=True)
class OpGroup:
    """An operator group: the op that stands for it in stage 1, and its stage-2 members (α column order)."""

    name: str
    representative: str
    members: tuple[str, ...]


#: The groups of genotypes.py:25-30 (`OPS_DICT`, in its order), then the groups of ops the DARTS space
#: lacks: NAS-Bench-201's convolutions (its 3x3 stands for the group, as sep_conv_3x3 and dil_conv_3x3 do)
#: and S4's noise. On a space, each edge keeps the groups with a member among its ops, each group's
#: members restricted to those ops; a representative the edge lacks is replaced by its first member
#: there (NB201's pool group is `avg_pool_3x3` alone).
GROUPS: tuple[OpGroup, ...] = (
    OpGroup("pool", "max_pool_3x3", ("avg_pool_3x3", "max_pool_3x3")),
    OpGroup("skip", "skip_connect", ("skip_connect", "skip_connect")),
    OpGroup("sep_conv", "sep_conv_3x3", ("sep_conv_3x3", "sep_conv_5x5")),
    OpGroup("dil_conv", "dil_conv_3x3", ("dil_conv_3x3", "dil_conv_5x5")),
    OpGroup("nor_conv", "nor_conv_3x3", ("nor_conv_1x1", "nor_conv_3x3")),
    OpGroup("noise", "noise", ("noise",)),
)
NONE = "none"
#: The ops the code's groups hold (genotypes.py:25-30): where every edge carries exactly these (besides
#: `none`), the two stages are StacNAS' own; elsewhere the grouping is ours ("StacNAS-style").
CODE_OPS = frozenset(m for g in GROUPS[:4] for m in g.members)


def edge_groups(ops: Sequence[str], duplicate_skip: bool = True) -> list[OpGroup]:
    """The groups of one edge of the space: `GROUPS` restricted to `ops` (`none` is no group's member)."""
    present = set(ops) - {NONE}
    known = {m for g in GROUPS for m in g.members}
    unknown = sorted(present - known)
    if unknown:
        raise SpaceError(f"StacNAS has no operator group for {unknown}; groups: {[g.members for g in GROUPS]}")
    groups = []
    for group in GROUPS:
        members = tuple(m for m in group.members if m in present)
        if not members:
            continue
        if group.name == "skip" and not duplicate_skip:
            members = ("skip_connect",)
        representative = group.representative if group.representative in present else members[0]
        groups.append(OpGroup(group.name, representative, members))
    return groups


def space_groups(space: SearchSpace, duplicate_skip: bool = True) -> dict[str, list[list[OpGroup]]]:
    """Per cell type, per edge of the space, its groups."""
    return {t: [edge_groups(ops, duplicate_skip) for ops in edges] for t, edges in space.edge_ops.items()}


def stage1_ops(space: SearchSpace, duplicate_skip: bool = True) -> dict[str, EdgeOps]:
    """One representative per group, then `none` (search.py:134, genotypes.py:26-30)."""
    return {
        t: tuple(tuple(g.representative for g in groups) + (NONE,) for groups in edges)
        for t, edges in space_groups(space, duplicate_skip).items()
    }


def stage2_ops(
    space: SearchSpace, stage1_alphas: Mapping[str, np.ndarray], duplicate_skip: bool = True
) -> tuple[dict[str, EdgeOps], dict[str, list[str]]]:
    """The stage-2 op lists from raw stage-1 α (`build_primitive_from_alpha`, genotypes.py:40-50): per edge
    the group of the largest α among all columns but the last (`none`), its members and `none`. Also the
    chosen group's name per edge."""
    ops: dict[str, EdgeOps] = {}
    chosen: dict[str, list[str]] = {}
    for cell_type, edges in space_groups(space, duplicate_skip).items():
        alpha = np.asarray(stage1_alphas[cell_type], dtype=np.float64)
        lists, names = [], []
        for e, groups in enumerate(edges):
            group = groups[int(np.argmax(alpha[e, : len(groups)]))]  # columns: representatives, then none
            lists.append(group.members + (NONE,))
            names.append(group.name)
        ops[cell_type], chosen[cell_type] = tuple(lists), names
    return ops, chosen


def stacnas_genotype(space: SearchSpace, alphas: Mapping[str, np.ndarray], edge_ops: StageOps) -> Genotype:
    """The genotype from raw α (`build_genotype_from_alpha`, genotypes.py:53-67): on each edge the op of the
    largest α except `none`; DARTS cells keep, per node, the 2 edges whose that α is largest (strongest
    first, as `torch.topk` orders them); NAS-Bench-201 keeps every edge (its cell has no edge choice)."""

    def best(cell_type: str, e: int) -> tuple[float, str]:
        names = edge_ops[cell_type][e]
        row = np.asarray(alphas[cell_type], dtype=np.float64)[e]
        k = max((k for k, n in enumerate(names) if n != NONE), key=lambda k: (row[k], -k))
        return float(row[k]), names[k]

    if isinstance(space, DartsFamilySpace):
        genes = {}
        for cell_type in ("normal", "reduce"):
            gene, start = [], 0
            for node in range(space.steps):
                candidates = [(*best(cell_type, start + j), j) for j in range(node + 2)]
                strongest = sorted(candidates, key=lambda c: (-c[0], c[2]))[:2]
                gene.extend((op, j) for _, op, j in strongest)
                start += node + 2
            genes[cell_type] = tuple(gene)
        concat = tuple(range(2, 2 + space.steps))
        return DartsGenotype(genes["normal"], genes["reduce"], concat, concat)
    edges = edge_ops["cell"]
    return NB201Genotype.from_edge_ops([best("cell", e)[1] for e in range(len(edges))])


class StacNASArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: Cells of the DARTS-family search network per stage (run_all.py:22-23); NAS-Bench-201's network is
    #: the benchmark's and keeps its cells. None: the run's `network.layers` (test-sized suites).
    stage1_layers: int | None = Field(14, ge=3)
    stage2_layers: int | None = Field(20, ge=3)
    #: The code's skip group lists `skip_connect` twice (genotypes.py:27); False: once.
    duplicate_skip: bool = True


@register_method("stacnas")
class StacNAS(Method):
    Args = StacNASArgs
    departures: ClassVar[tuple[str, ...]] = (
        "Learning rate of each epoch: lr(e), scheduler.step() before the epoch (search.py lines 245-247) under the "
        "README's minimum PyTorch 1.0.0; under >= 1.1 it would be lr(e + 1) (train.lr_epoch: next). The version "
        "behind the published numbers is not stated.",
    )
    #: run_all.py:20-28 and search.py / config.py defaults: 80 epochs per stage, batch 64, clip 3 over the
    #: weights, SGD 0.025 → 0.001, momentum 0.9, wd 3e-4 (no Nesterov); Adam 3e-4, (0.5, 0.999), wd 1e-3;
    #: the whole training set for one-level steps (no α split), plain crop+flip, no cutout.
    defaults: ClassVar[dict[str, Any]] = {
        "train": {
            "epochs": 80,
            "batch_size": 64,
            "lr": 0.025,
            "lr_min": 0.001,
            "momentum": 0.9,
            "weight_decay": 3e-4,
            "nesterov": False,
            "grad_clip": 3.0,
            "clip_scope": "weights",
            "arch_lr": 3e-4,
            "arch_betas": (0.5, 0.999),
            "arch_weight_decay": 1e-3,
        },
        "data": {"split": "full", "valid_sampling": "darts_fresh_batch"},
    }
    split: ClassVar[str | None] = "full"

    @classmethod
    def label_notes(cls, space: SearchSpace) -> tuple[str, ...]:
        """The label "StacNAS-style" where the space's edges are not the DARTS ops the code groups: on S1–S4 the
        groups mostly hold one op, so stage 1 alone fixes most edges; on NAS-Bench-201 `none` is never
        picked (the genotype keeps every edge). There the two stages are our extension, not the paper's."""
        own = all(set(ops) - {NONE} == CODE_OPS for edges in space.edge_ops.values() for ops in edges)
        return () if own else ("StacNAS-style",)

    @classmethod
    def stages(cls, config: RunConfig) -> list[Stage]:
        from nasbench_harness.engine.stages import Stage  # the engine imports the method registry

        args = cls.Args.model_validate(config.method_args)
        space = get_space(config.space)
        darts_family = "layers" in space.default_network

        def network(layers: int | None) -> dict[str, Any]:
            return {"layers": layers} if darts_family and layers is not None else {}

        epochs = config.train.epochs
        return [
            Stage("groups", epochs, network(args.stage1_layers), stage1_ops(space, args.duplicate_skip)),
            Stage("operators", epochs, network(args.stage2_layers)),
        ]

    def step(self, train: Batch, valid: Batch) -> StepFigures:
        """One-level: one forward/backward on the training batch; the clip over the weights; Adam on α and
        SGD on the weights from those same gradients (search.py:60-72). `valid` is not used."""
        self.a_optimizer.zero_grad(set_to_none=True)
        self.zero_weight_grads()
        loss, logits = self.forward_loss(train)
        loss.backward()
        if self.config.train.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.net.weight_parameters(), self.config.train.grad_clip)
        self.a_optimizer.step()
        self.w_optimizer.step()
        return {"train_loss": loss.detach(), "train_acc": accuracy(logits, train[1])}

    def raw_alphas(self) -> dict[str, np.ndarray]:
        return {t: a.detach().cpu().double().numpy() for t, a in self.net.alphas.items()}

    def genotype(self) -> Genotype:
        return stacnas_genotype(self.net.space, self.raw_alphas(), self.net.space.edge_ops)

    def next_stage(self, stage: Stage) -> NextStage:
        from nasbench_harness.engine.stages import NextStage

        space = get_space(self.config.space)
        ops, chosen = stage2_ops(space, self.raw_alphas(), self.args.duplicate_skip)
        return NextStage(ops, {"groups": chosen})

    def describe(self) -> dict[str, Any]:
        space = get_space(self.config.space)
        groups = space_groups(space, self.args.duplicate_skip)
        return {
            **super().describe(),
            "optimisation": "one-level: one backward on the training batch feeds the α and weight steps",
            "clip": "weights only",
            "genotype_rule": "raw α (not softmax): per edge the best non-none op; per node the 2 best edges",
            "stage2_rule": "raw stage-1 α: argmax over all columns but the last (none)",
            "grouping": {
                t: [
                    {g.name: {"representative": g.representative, "members": list(g.members)} for g in edge}
                    for edge in edges
                ]
                for t, edges in groups.items()
            },
        }
