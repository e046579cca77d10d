"""R-DARTS (Zela et al., ICLR 2020): DARTS with stronger regularisation, swept over strengths.

Second-order DARTS by default, as RobustDARTS ran it (`order`, see `methods/order.py`); its
`scripts/DARTS_search.sh` passes the strength as `--weight_decay` / `--drop_path_prob` next to
`--unrolled`, so the look-ahead step of (L2) uses the strength as its weight decay too.

A suite entry `rdarts_l2` or `rdarts_dp` expands (`Method.expand_args`) into one run per strength;
each run's `method_args` carries its `strength` and the sweep list. The reported architecture of a
sweep is the run with the best final validation accuracy: `select_best(results)` picks it, per sweep
group (all config fields equal but the strength; so `order` keeps first- and second-order sweeps
apart); the class declares the sweep (`sweep_param`, `select`), which the results layer reads.

* `rdarts_l2`: weight decay of the network weights = strength; the paper's grid
  {3e-4, 9e-4, 2.7e-3, 8.1e-3}; RobustDARTS' code grid adds 2.43e-2 (set `strengths` to use it).
* `rdarts_dp`: scheduled drop-path with maximum probability = strength in {0, 0.2, 0.4, 0.6}, with
  cutout; both probabilities ramp linearly, p·epoch/(epochs − 1), as in RobustDARTS
  `train_search.py`. At strength 0 RobustDARTS turns cutout off too (`Helper`: no cutout without
  drop-path), and so does this method.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

import torch
from pydantic import BaseModel, Field

from nasbench_harness.config import RunConfig
from nasbench_harness.methods.base import register_method
from nasbench_harness.methods.order import OrderArgs, OrderedDarts
from nasbench_harness.spaces import Supernet

PAPER_L2_GRID = (3e-4, 9e-4, 2.7e-3, 8.1e-3)
CODE_L2_GRID = (*PAPER_L2_GRID, 2.43e-2)
DP_GRID = (0.0, 0.2, 0.4, 0.6)


class SweepArgs(OrderArgs):
    """`strength` unset: a suite expands into one run per entry of `strengths`. A run built directly
    without one (no suite) uses the first entry, the unregularised end of the grid."""

    strength: float | None = Field(None, ge=0)
    strengths: list[float] = Field(min_length=1)


class L2Args(SweepArgs):
    strengths: list[float] = Field(list(PAPER_L2_GRID), min_length=1)


class DropPathArgs(SweepArgs):
    strengths: list[float] = Field(list(DP_GRID), min_length=1)
    #: Final cutout probability of the linear ramp (RobustDARTS `--cutout_prob`).
    cutout_prob: float = Field(1.0, ge=0, le=1)


class RDarts(OrderedDarts):
    """A DARTS run (second order by default) at one strength of a sweep."""

    sweep_param = "strength"

    @classmethod
    def select(cls, results: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        return select_best(results)

    @classmethod
    def expand_args(cls, args: BaseModel) -> list[BaseModel]:
        assert isinstance(args, SweepArgs)
        if args.strength is not None:
            return [args]
        return [args.model_copy(update={"strength": s}) for s in args.strengths]

    @property
    def strength(self) -> float:
        return float(self.args.strength if self.args.strength is not None else self.args.strengths[0])

    def ramp(self, epoch: int) -> float:
        """Fraction epoch / (epochs − 1) of the final probability (RobustDARTS `train_search.py`)."""
        return epoch / max(self.config.train.epochs - 1, 1)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "strength": self.strength,
            "sweep": list(self.args.strengths),
            "selection": "per sweep group, the run with the best final eval_valid_acc (rdarts.select_best)",
        }


@register_method("rdarts_l2")
class RDartsL2(RDarts):
    """Weight decay on the network weights = strength (replaces train.weight_decay)."""

    Args = L2Args
    departures: ClassVar[tuple[str, ...]] = (
        "strengths: the paper's grid {3e-4, 9e-4, 2.7e-3, 8.1e-3} at drop-path 0; RobustDARTS' launcher "
        "(scripts/start_search.sh lines 5-12) also runs 2.43e-2 and crosses every weight decay with every "
        "drop-path value. The paper reports each axis apart; `strengths` takes the code's fifth value.",
    )

    def __init__(self, net: Supernet, config: RunConfig, device: torch.device):
        super().__init__(net, config, device)
        self.set_weight_decay(self.strength)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "weight_decay": self.strength, "replaces": "train.weight_decay"}


@register_method("rdarts_dp")
class RDartsDropPath(RDarts):
    """Drop-path probability strength·ramp on every mixed edge, cutout probability cutout_prob·ramp."""

    Args = DropPathArgs
    departures: ClassVar[tuple[str, ...]] = (
        "strengths {0, 0.2, 0.4, 0.6} at the default weight decay 3e-4; RobustDARTS' launcher "
        "(scripts/start_search.sh lines 5-12) crosses every drop-path value with every weight decay of its grid. "
        "The paper reports each axis apart.",
    )

    def set_epoch(self, epoch: int, lr: float) -> None:
        super().set_epoch(epoch, lr)
        ramp = self.ramp(epoch)
        if self.supports_drop_path:
            self.net.drop_path_prob = self.strength * ramp
        if self.batches is not None:
            self.batches.cutout_prob = self.args.cutout_prob * ramp if self.strength > 0 else 0.0

    @property
    def supports_drop_path(self) -> bool:
        return hasattr(self.net, "drop_path_prob")

    def describe(self) -> dict[str, Any]:
        drop_path = (
            f"max {self.strength:g}, ramped linearly, per mixed-edge output while training"
            if self.supports_drop_path
            else "not available on this supernet (NAS-Bench-201 cells have no drop-path): cutout only"
        )
        cutout = (
            f"probability {self.args.cutout_prob:g}·epoch/(epochs-1) on both search streams"
            if self.strength > 0
            else "off (RobustDARTS: no cutout without drop-path)"
        )
        return {**super().describe(), "drop_path": drop_path, "cutout": cutout}


def sweep_group(config: Mapping[str, Any]) -> str:
    """The sweep a run belongs to: a hash of its config (RunConfig dump) without `method_args.strength`."""
    return RDarts.sweep_group(config)


def select_best(
    results: Iterable[Mapping[str, Any]], group_of: Callable[[Mapping[str, Any]], str] | None = None
) -> list[Mapping[str, Any]]:
    """Per sweep group (`group_of(config)`, default R-DARTS' `sweep_group`), the run with the highest final
    validation accuracy; what R-DARTS reports.

    Each result is a mapping with `config` (a RunConfig dump: `metadata.json["config"]`, or a
    `RunConfig`) and `final` (the last epoch row: `result.json["final"]`), whose `eval_valid_acc` is
    compared. Runs without that figure (failed, unfinished) are left out; a tie keeps the run seen
    first. Groups come out in the order their first run appears.
    """
    best: dict[str, tuple[float, Mapping[str, Any]]] = {}
    for result in results:
        config = result["config"]
        if isinstance(config, RunConfig):
            config = config.model_dump(mode="json")
        accuracy = (result.get("final") or {}).get("eval_valid_acc")
        if accuracy is None:
            continue
        group = (group_of or sweep_group)(config)
        if group not in best or accuracy > best[group][0]:
            best[group] = (float(accuracy), result)
    return [result for _, result in best.values()]
