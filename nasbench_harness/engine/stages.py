"""Staged searches: a run made of stages, each with its own supernet, epochs and optimisers.

A method declares its run as data (`Method.stages(config)` → a list of `Stage`); a method that declares
none is one stage, exactly as before. When a stage ends, the finished stage's method (its supernet, α,
genotype) gives the next stage's per-edge op lists (`Method.next_stage`); the next stage then starts like
a fresh search script: the global RNG is seeded with the run's seed, a new supernet and a new method
(fresh optimisers) are built.

Epochs are numbered run-wide (stage 2 of two 80-epoch stages starts at epoch 80), so the metrics log,
checkpoints and resume work as for one stage; each row adds `stage` (index), `stage_name` and
`stage_epoch` (the epoch within its stage, which drives that stage's own cosine schedule).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from nasbench_harness.config import RunConfig
from nasbench_harness.errors import HarnessError
from nasbench_harness.spaces.space import EdgeOps, SearchSpace

#: Per cell type, one op list per edge (α row and column order).
StageOps = Mapping[str, EdgeOps]


@dataclass(frozen=True)
class Stage:
    """One stage of a search.

    `edge_ops`: the stage's op lists; None = the space's for the first stage, the previous stage's
    `Method.next_stage` for later ones. `network` overrides the run's network options for this stage
    (cells); `train` overrides `TrainConfig` fields (optimiser settings) and `method_args` the method's
    arguments for this stage. `lr_schedule`: "stage" restarts the cosine schedule in every stage (over the
    stage's epochs); "run" continues one cosine over the whole run (a scheduler carried across stages).
    """

    name: str
    epochs: int
    network: Mapping[str, Any] = field(default_factory=dict)
    edge_ops: StageOps | None = None
    train: Mapping[str, Any] = field(default_factory=dict)
    method_args: Mapping[str, Any] = field(default_factory=dict)
    lr_schedule: Literal["stage", "run"] = "stage"

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "epochs": self.epochs,
            "network": dict(self.network),
            "train": dict(self.train),
            "method_args": dict(self.method_args),
            "lr_schedule": self.lr_schedule,
            "edge_ops": None if self.edge_ops is None else ops_to_json(self.edge_ops),
        }


@dataclass(frozen=True)
class NextStage:
    """What a finished stage hands on: the next stage's op lists, and `choice`, a JSON summary of the
    decision per edge (StacNAS: the winning operator group), logged in every row of the stage."""

    edge_ops: StageOps
    choice: Mapping[str, Any] = field(default_factory=dict)


def plan(method_cls: Any, config: RunConfig) -> list[Stage] | None:
    """The method's stages (checked), or None for a single-stage method."""
    stages = method_cls.stages(config)
    if stages is None:
        return None
    stages = list(stages)
    if method_cls.keeps_snapshots:
        raise HarnessError(
            f"method {config.method!r} rolls back to epoch snapshots and declares stages: a snapshot holds one "
            "stage's network, so the two cannot be combined"
        )
    if not stages:
        raise HarnessError(f"method {config.method!r} declares an empty list of stages")
    names = [s.name for s in stages]
    if len(set(names)) != len(names):
        raise HarnessError(f"method {config.method!r} declares stages with repeated names {names}")
    for stage in stages:
        if stage.epochs < 1:
            raise HarnessError(f"stage {stage.name!r} of method {config.method!r} has {stage.epochs} epochs")
    return stages


def boundaries(stages: Sequence[Stage]) -> list[int]:
    """Run-wide epoch at which each stage starts, then the total."""
    starts = [0]
    for stage in stages:
        starts.append(starts[-1] + stage.epochs)
    return starts


def stage_at(stages: Sequence[Stage], epoch: int) -> int:
    """Index of the stage that trains run-wide `epoch` (the last stage for the epoch after the run)."""
    starts = boundaries(stages)
    for index in range(len(stages)):
        if epoch < starts[index + 1]:
            return index
    return len(stages) - 1


def stage_space(space: SearchSpace, edge_ops: StageOps | None) -> SearchSpace:
    """The space with the stage's op lists (same genotype rules, cells and defaults)."""
    if edge_ops is None:
        return space
    if set(edge_ops) != set(space.edge_ops):
        raise HarnessError(
            f"stage op lists cover cell types {sorted(edge_ops)}, space {space.name!r} has {sorted(space.edge_ops)}"
        )
    for cell_type, edges in edge_ops.items():
        expected = len(space.edge_ops[cell_type])
        if len(edges) != expected or any(len(names) == 0 for names in edges):
            raise HarnessError(
                f"stage op lists for {cell_type!r} cells need {expected} non-empty edges, got {list(edges)}"
            )
    frozen = {t: tuple(tuple(names) for names in edges) for t, edges in edge_ops.items()}
    return dataclasses.replace(space, edge_ops=frozen)


def stage_config(config: RunConfig, stage: Stage) -> RunConfig:
    """The run's config as the stage's method sees it: the stage's epochs and train/network/method_args
    overrides. (Checkpoints and the run directory keep the run's own config and hash.)"""
    train = config.train.model_validate({**config.train.model_dump(), **stage.train, "epochs": stage.epochs})
    update = {
        "train": train,
        "network": {**config.network, **stage.network},
        "method_args": {**config.method_args, **stage.method_args},
    }
    return config.model_copy(update=update)


def ops_to_json(edge_ops: StageOps) -> dict[str, list[list[str]]]:
    return {t: [list(names) for names in edges] for t, edges in edge_ops.items()}


def ops_from_json(data: Mapping[str, Sequence[Sequence[str]]]) -> dict[str, EdgeOps]:
    return {t: tuple(tuple(names) for names in edges) for t, edges in data.items()}
