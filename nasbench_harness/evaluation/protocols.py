"""The published retraining protocols and the evaluation run's typed, hashed configuration.

Where each default comes from (file:line of the original code; docs/evaluation.md has the table):

DARTS family (the DARTS space with or without `none`, S1–S4), quark0/darts cnn/train.py and RobustDARTS
src/evaluation/args.py:
- epochs 600 (darts train.py:28, RobustDARTS args.py:32); batch 96 (train.py:22, args.py:33);
  SGD lr 0.025 (train.py:23, args.py:34), momentum 0.9 (train.py:24, args.py:35), weight decay 3e-4
  (train.py:25, args.py:36); cosine to 0 per epoch, CosineAnnealingLR(T_max=epochs) (train.py:95,
  RobustDARTS train.py:92); grad-norm clip 5 (train.py:40/128, args.py:37).
- auxiliary weight 0.4 (train.py:33, args.py:43) and cutout 16 (train.py:35, args.py:47, cutout_prob
  1.0 args.py:48) are on because the launch scripts pass `--auxiliary --cutout` (RobustDARTS
  scripts/DARTS_eval.sh:18; DARTS README.md:64); drop-path 0.2 ramped linearly, 0.2·epoch/epochs
  (train.py:36/100, RobustDARTS train.py:103).
- 20 cells / C 36 on CIFAR-10 (darts train.py:29-30; RobustDARTS paper); 8 cells / C 16 on CIFAR-100
  and SVHN (RobustDARTS args.py:40-41, the defaults DARTS_eval.sh leaves alone). Note: DARTS_eval.sh
  passes no --layers/--init_channels at all, so the released script trains CIFAR-10 at 8 / 16 too; we
  follow the paper's 20 / 36 there (reference.md §4), and `network: {layers: 8, channels: 16}` gives the
  script's setting.

NAS-Bench-201 (xautodl configs/nas-benchmark/hyper-opts/200E.config = CIFAR.config): 200 epochs, SGD
lr 0.1, Nesterov momentum 0.9, weight decay 5e-4, cosine to 0 updated every step
(exps/NAS-Bench-201/functions.py:56), batch 256, no clip, no cutout, no auxiliary head, no drop-path;
TinyNetwork C 16, N 5 (exps/NAS-Bench-201/main.py's channel / num_cells).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt

from nasbench_harness.config import NetworkValue, Strict, canonical_hash
from nasbench_harness.errors import ConfigError


class EvalTrain(Strict):
    epochs: PositiveInt = 600
    batch_size: PositiveInt = 96
    lr: PositiveFloat = 0.025
    lr_min: NonNegativeFloat = 0.0
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = False
    weight_decay: NonNegativeFloat = 3e-4
    grad_clip: PositiveFloat | None = 5.0
    #: "epoch": lr fixed within an epoch (DARTS, PyTorch 0.3 CosineAnnealingLR stepped before the epoch:
    #: epoch e trains at cos(π e / epochs)); "step": xautodl's per-step update, cos(π (e + i/steps) / epochs).
    lr_update: Literal["epoch", "step"] = "epoch"
    auxiliary_weight: NonNegativeFloat = 0.4
    #: Final drop-path probability; epoch e uses drop_path_prob · e / epochs.
    drop_path_prob: float = Field(0.2, ge=0, lt=1)


class EvalData(Strict):
    cutout_length: int = Field(16, ge=0)
    #: "full": train on the whole training set, report the test error (the papers' figure).
    #: "half": train on half of it (DARTS' search split for the seed), report the error on the other
    #: half as `valid_error` too: the selection stage, which must not look at the test set.
    train_on: Literal["full", "half"] = "full"
    limit_train: PositiveInt | None = None
    limit_test: PositiveInt | None = None
    eval_batch_size: PositiveInt = 256
    #: Test the network every this many epochs (the originals test after every epoch); the last epoch always.
    eval_every: PositiveInt = 1


class EvalConfig(Strict):
    """One retraining of one genotype: everything that determines its result (hashed)."""

    genotype: str
    space: str
    dataset: str
    seed: int
    #: The search method that found the genotype ("genotype" when it was given by hand).
    method: str = "genotype"
    #: The search run it came from (`runs/...` relative to the results dir), or None.
    search_run: str | None = None
    #: "final": a full retrain reported in the tables; "select": the short retrain of the selection protocol.
    stage: Literal["final", "select"] = "final"
    protocol: Literal["darts", "nb201"] = "darts"
    train: EvalTrain = EvalTrain()
    data: EvalData = EvalData()
    network: dict[str, NetworkValue] = {}

    #: The run kind, for executors and workers dispatching jobs of either kind.
    kind: Literal["evaluate"] = "evaluate"

    def config_hash(self) -> str:
        return canonical_hash(self.model_dump(mode="json"))

    def run_id(self) -> str:
        return f"{self.seed}-{self.config_hash()}"

    def relative_dir(self) -> Path:
        """evaluations/<space>/<dataset>/<method>/<seed>-<hash>: beside runs/, never mistaken for a search."""
        return Path("evaluations") / self.space / self.dataset / self.method / self.run_id()


def protocol_defaults(space: str, dataset: str) -> dict[str, Any]:
    """The published protocol for (space, dataset) as EvalConfig fields (module docstring: sources); the
    space's family decides it (every variant of the DARTS space retrains as the DARTS space)."""
    from nasbench_harness.registry import unknown_name_message
    from nasbench_harness.spaces import get_space, list_spaces

    if space not in list_spaces():
        raise ConfigError("no evaluation protocol: " + unknown_name_message("space", space, list_spaces()))
    family = get_space(space).family
    if family == "nb201":
        return {
            "protocol": "nb201",
            "train": {
                "epochs": 200,
                "batch_size": 256,
                "lr": 0.1,
                "lr_min": 0.0,
                "momentum": 0.9,
                "nesterov": True,
                "weight_decay": 5e-4,
                "grad_clip": None,
                "lr_update": "step",
                "auxiliary_weight": 0.0,
                "drop_path_prob": 0.0,
            },
            "data": {"cutout_length": 0},
            "network": {"channels": 16, "cells_per_stage": 5},
        }
    if family != "darts":
        raise ConfigError(f"no evaluation protocol for space {space!r} (family {family!r}): only darts and nb201")
    big = dataset == "cifar10"
    return {
        "protocol": "darts",
        "train": {},
        "data": {},
        "network": {"layers": 20 if big else 8, "channels": 36 if big else 16, "auxiliary": True},
    }


def default_eval_config(
    genotype: str, space: str, dataset: str, seed: int, overrides: dict[str, Any] | None = None, **fields: Any
) -> EvalConfig:
    """The protocol's EvalConfig with `overrides` ({"train": {...}, "data": {...}, "network": {...}}) on top."""
    from nasbench_harness.spaces import get_space

    base = protocol_defaults(space, dataset)
    get_space(space).parse_genotype(genotype)  # a genotype of another space fails here, with the op named
    for section, values in (overrides or {}).items():
        if section not in ("train", "data", "network"):
            raise ConfigError(f"evaluate: unknown section {section!r}; expected train, data or network")
        if not isinstance(values, dict):
            raise ConfigError(f"evaluate: {section} must be a mapping, got {values!r}")
        base[section] = {**base[section], **values}
    return EvalConfig.model_validate(
        {**base, **fields, "genotype": genotype, "space": space, "dataset": dataset, "seed": seed}
    )
