"""Per-epoch metrics: each is a function of the epoch's state, registered by name, run for every run.

The runner calls every registered metric after each epoch and merges the returned figures into the
epoch's row of `metrics.jsonl`; a new metric is one function with `@register_epoch_metric`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nasbench_harness.registry import Registry

if TYPE_CHECKING:
    from nasbench_harness.config import RunConfig
    from nasbench_harness.methods.base import Batch, Method
    from nasbench_harness.spaces import Genotype


@dataclass
class EpochState:
    config: RunConfig
    method: Method
    epoch: int
    is_last_epoch: bool
    genotype: Genotype
    #: The epoch's last validation (α) batch: RobustDARTS measures the Hessian on it.
    last_valid_batch: Batch
    data_dir: Path
    #: Provenance of optional services (ground truth files, modes), merged into the run metadata.
    provenance: dict[str, Any] = field(default_factory=dict)


EpochMetric = Callable[[EpochState], dict[str, Any]]
EPOCH_METRICS: Registry[EpochMetric] = Registry("epoch metric")


def register_epoch_metric(name: str) -> Callable[[EpochMetric], EpochMetric]:
    return EPOCH_METRICS.register(name)


def compute_epoch_metrics(state: EpochState) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for name in EPOCH_METRICS.names():
        row.update(EPOCH_METRICS.get(name)(state))
    return row
