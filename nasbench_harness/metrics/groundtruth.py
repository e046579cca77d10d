"""The true quality of the derived cell, every epoch: NAS-Bench-201 table, NB301 surrogate (approx.)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from nasbench_harness.errors import HarnessError
from nasbench_harness.metrics.base import EpochState, register_epoch_metric
from nasbench_harness.spaces import DartsGenotype, NB201Genotype

if TYPE_CHECKING:
    from nasbench_harness.config import RunConfig
    from nasbench_harness.spaces import Genotype


def genotype_ground_truth(
    config: RunConfig, genotype: Genotype, data_dir: Path, provenance: dict[str, Any]
) -> dict[str, Any]:
    """Ground-truth figures for `genotype`; where no oracle exists, provenance says why (once)."""
    if not config.metrics.ground_truth:
        return {}
    from nasbench_harness import groundtruth

    try:
        if isinstance(genotype, NB201Genotype):
            service = groundtruth.open_nb201(data_dir=data_dir)
            provenance.setdefault("ground_truth", service.provenance())
            return service.cross_check(genotype)
        if isinstance(genotype, DartsGenotype):
            if any(op == "noise" for ops in (genotype.ops("normal"), genotype.ops("reduce")) for op in ops):
                provenance.setdefault(
                    "ground_truth", {"available": False, "why": "genotype contains `noise`: no oracle"}
                )
                return {}
            surrogate = groundtruth.open_nb301(data_dir=data_dir)
            provenance.setdefault("ground_truth", surrogate.provenance())
            return surrogate.cross_check(genotype)
    except HarnessError as err:
        provenance.setdefault("ground_truth", {"available": False, "why": str(err)})
    return {}


def ground_truth_notice(
    config: RunConfig, genotype: Genotype, data_dir: Path, provenance: dict[str, Any]
) -> str | None:
    """Why this run will get no ground truth (its oracle's files are missing), or None; said at the start of a
    run so it is not found out from an empty column afterwards, and kept in provenance for the report."""
    if not config.metrics.ground_truth:
        return None
    from nasbench_harness import groundtruth

    try:
        if isinstance(genotype, NB201Genotype):
            groundtruth.open_nb201(data_dir=data_dir)
        elif isinstance(genotype, DartsGenotype):
            groundtruth.open_nb301(data_dir=data_dir)
        else:
            raise HarnessError(f"no ground-truth oracle for the {config.space} space")
    except HarnessError as err:
        provenance.setdefault("ground_truth", {"available": False, "why": str(err)})
        return str(err)
    return None


@register_epoch_metric("ground_truth")
def ground_truth(state: EpochState) -> dict[str, Any]:
    return genotype_ground_truth(state.config, state.genotype, state.data_dir, state.provenance)
