"""DARTS-ES and DARTS-ADA (Zela et al., ICLR 2020): DARTS watched by the Hessian eigenvalue.

Both run second-order DARTS by default, as RobustDARTS did (`order`, see `methods/order.py`), read
the `eigenvalue` figure the runner's metric writes into each epoch row (see `metrics/hessian.py`)
and keep every measurement, with the genotype of its epoch, in their state.

The stop signal follows RobustDARTS' code (`utils.EVLocalAvg`, `train_search.py`), not the paper's
wording: the local average at a measurement is the mean of the last `window` = 5 eigenvalues (all of
them while fewer than 5, from the 3rd on); it is compared with the local average `delta` = 4
measurements earlier; the search stops when their ratio exceeds `factor` = 1.3, looking back
`every`·(window // 2 + delta) epochs (12 with a measurement every 2 epochs), provided that epoch is at
least `start_epoch` = 10. The last epoch is never checked. `rule: paper` applies the paper's
formulation instead (see `stop_signal`).

DARTS-ES stops there and reports the look-back genotype. DARTS-ADA instead restores the look-back
epoch's snapshot (weights, α, both optimizers), multiplies the network weight decay by
`weight_decay_factor`, and continues the same learning-rate schedule with the tracker RobustDARTS
goes on with: the original one, its measurements from before the rollback included
(`tracker_after_rollback`).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from pydantic import NonNegativeInt, PositiveFloat, PositiveInt

from nasbench_harness.config import RunConfig
from nasbench_harness.errors import ConfigError
from nasbench_harness.methods.base import CONTINUE, EpochDecision, eigenvalue_problem, register_method
from nasbench_harness.methods.order import OrderArgs, OrderedDarts
from nasbench_harness.spaces import Supernet

#: One eigenvalue measurement: (epoch, eigenvalue, genotype string of that epoch).
Measurement = tuple[int, float, str]


class EarlyStopArgs(OrderArgs):
    #: `code`: RobustDARTS' EVLocalAvg rule; `paper`: ratio of local averages k epochs apart < 0.75.
    rule: Literal["code", "paper"] = "code"
    window: PositiveInt = 5
    factor: PositiveFloat = 1.3
    delta: PositiveInt = 4
    #: The look-back epoch must be at least this (RobustDARTS `es_start_epoch`).
    start_epoch: NonNegativeInt = 10
    paper_ratio: PositiveFloat = 0.75
    paper_k: PositiveInt = 5


@dataclass(frozen=True)
class StopSignal:
    epoch: int
    genotype: str
    ratio: float


def local_average(values: list[float], index: int, window: int) -> float | None:
    """EVLocalAvg's average at measurement `index`: the last `window` values, or all of them while
    fewer; undefined before ceil(window / 2) values exist."""
    if index + 1 < math.ceil(window / 2):
        return None
    return sum(values[max(0, index + 1 - window) : index + 1]) / min(index + 1, window)


def stop_signal(measurements: list[Measurement], args: EarlyStopArgs, every: int) -> StopSignal | None:
    """The stop decision at the newest measurement, or None; `every` is the measurement period in epochs.

    `code` (RobustDARTS `EVLocalAvg.early_stop`, `src/utils.py` lines 117-140): la(i) / la(i − delta)
    > factor, the local averages taken over the tracker in the order its values came (after a
    rollback that includes the measurements from before it); look-back epoch = newest epoch −
    every·(window//2 + delta), an epoch computed, not a measurement counted back, and its genotype
    the one last recorded for that epoch (their `la_epochs` and `genotypes` dicts).
    `paper` (our reading of the paper's text): la(j) / la(i) < paper_ratio, where j is the newest
    measurement at least `paper_k` epochs before i; look-back measurement j.
    Either way the look-back epoch must be ≥ start_epoch.
    """
    values = [ev for _, ev, _ in measurements]
    i = len(measurements) - 1
    current = local_average(values, i, args.window)
    if current is None:
        return None
    newest_epoch = measurements[i][0]
    if args.rule == "code":
        back_epoch = newest_epoch - every * (args.window // 2 + args.delta)
        earlier_index = i - args.delta
        earlier = local_average(values, earlier_index, args.window) if earlier_index >= 0 else None
        recorded = [genotype for epoch, _, genotype in measurements if epoch == back_epoch]
        if back_epoch < args.start_epoch or earlier is None or earlier == 0 or not recorded:
            return None
        ratio = current / earlier
        return StopSignal(back_epoch, recorded[-1], ratio) if ratio > args.factor else None
    candidates = [j for j, (epoch, _, _) in enumerate(measurements) if epoch <= newest_epoch - args.paper_k]
    if not candidates or current == 0:
        return None
    back = candidates[-1]
    earlier = local_average(values, back, args.window)
    if earlier is None or measurements[back][0] < args.start_epoch:
        return None
    ratio = earlier / current
    return StopSignal(measurements[back][0], measurements[back][2], ratio) if ratio < args.paper_ratio else None


@register_method("darts_es")
class DartsEs(OrderedDarts):
    """DARTS (second order by default) that stops on the eigenvalue signal and reports the look-back genotype."""

    Args = EarlyStopArgs
    needs_eigenvalue = True
    departures: ClassVar[tuple[str, ...]] = (
        "The eigenvalue measurement restores BatchNorm statistics, module modes and the RNG afterwards; "
        "RobustDARTS measures inside train() and moves the statistics. Here the metric never changes a search "
        "(docs/collapse.md).",
    )

    def __init__(self, net: Supernet, config: RunConfig, device: torch.device):
        super().__init__(net, config, device)
        if config.metrics.eigenvalue == "off":
            raise ConfigError(eigenvalue_problem(self.name))
        self.measurements: list[Measurement] = []
        self.stopped: dict[str, Any] | None = None

    def on_epoch_end(self, epoch: int, row: Mapping[str, Any]) -> EpochDecision:
        value = row.get("eigenvalue")
        if value is None:
            return CONTINUE
        self.measurements.append((epoch, float(value), str(row.get("genotype") or self.genotype())))
        if epoch == self.config.train.epochs - 1:
            return CONTINUE
        signal = stop_signal(self.measurements, self.args, self.config.metrics.eigenvalue_every)
        return CONTINUE if signal is None else self.on_signal(signal, epoch)

    def on_signal(self, signal: StopSignal, epoch: int) -> EpochDecision:
        self.stopped = {
            "decided_at": epoch,
            "stop_epoch": signal.epoch,
            "ratio": signal.ratio,
            "genotype": signal.genotype,
        }
        return EpochDecision(
            "stop",
            genotype=self.net.space.parse_genotype(signal.genotype),
            reason=f"eigenvalue local-average ratio {signal.ratio:.3f} at epoch {epoch}; "
            f"genotype of epoch {signal.epoch}",
        )

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "early_stop": {
                "measurements": [list(m) for m in self.measurements],
                "stopped": copy.deepcopy(self.stopped),
            },
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.measurements = [(int(e), float(v), str(g)) for e, v, g in state["early_stop"]["measurements"]]
        self.stopped = copy.deepcopy(state["early_stop"]["stopped"])

    def describe(self) -> dict[str, Any]:
        rule = (
            "RobustDARTS code: la = mean of the last `window` eigenvalues of the tracker; stop when "
            "la(i)/la(i-delta) > factor; look-back epoch = epoch - eigenvalue_every*(window//2+delta) >= "
            "start_epoch; last epoch unchecked"
            if self.args.rule == "code"
            else "paper text: stop when la(j)/la(i) < paper_ratio, j the newest measurement paper_k epochs "
            "before i; look-back j; look-back epoch >= start_epoch; last epoch unchecked"
        )
        return {**super().describe(), "early_stop_rule": rule, "signal": "row['eigenvalue']", "stop": self.stopped}


class AdaArgs(EarlyStopArgs):
    weight_decay_factor: PositiveFloat = 10.0
    #: Never exceeded; RobustDARTS' argparse defaults are factor 3 and 2.43e-2 (the L2 grid).
    max_weight_decay: PositiveFloat = 3e-2
    #: A signal when the next raise would pass the cap: `continue` ignores it (RobustDARTS: the final
    #: iteration runs to the end), `stop` stops as DARTS-ES does.
    at_cap: Literal["continue", "stop"] = "continue"
    #: The tracker after a rollback. `original` (RobustDARTS' code): the one from before the rollback,
    #: every measurement kept: `train_search.py` builds a new EVLocalAvg (line 271) but the recursive
    #: `train_epochs` call (line 299) does not pass it, so the default argument bound at definition
    #: (line 95) carries the first tracker on. `fresh`: an empty one (the paper's description);
    #: `restored`: the tracker as it was at the look-back epoch (what `load_checkpoint` into the new
    #: tracker, line 274, was written to do).
    tracker_after_rollback: Literal["original", "fresh", "restored"] = "original"
    #: λ of the second-order look-ahead step. `lagged` (RobustDARTS): the weight decay before the latest
    #: raise, since the new Architect copies `args.weight_decay` (`train_search.py` line 267) before it
    #: is multiplied (line 278); `current`: the weight decay the network optimizer uses.
    unrolled_weight_decay: Literal["lagged", "current"] = "lagged"


@register_method("darts_ada")
class DartsAda(DartsEs):
    """On the DARTS-ES signal: roll back to the look-back epoch and raise the weight decay."""

    Args = AdaArgs
    keeps_snapshots = True

    def __init__(self, net: Supernet, config: RunConfig, device: torch.device):
        super().__init__(net, config, device)
        #: One entry per rollback: when, where to, the new weight decay and the genotype left behind.
        self.rollbacks: list[dict[str, Any]] = []

    def on_signal(self, signal: StopSignal, epoch: int) -> EpochDecision:
        raised = self.weight_decay * self.args.weight_decay_factor
        if raised > self.args.max_weight_decay * (1 + 1e-9):
            return super().on_signal(signal, epoch) if self.args.at_cap == "stop" else CONTINUE
        self.rollbacks.append(
            {
                "decided_at": epoch,
                "rollback_to": signal.epoch,
                "ratio": signal.ratio,
                "weight_decay": raised,
                "genotype_at_rollback": signal.genotype,
            }
        )
        self.set_weight_decay(raised)
        return EpochDecision(
            "rollback",
            rollback_to=signal.epoch,
            reason=f"eigenvalue local-average ratio {signal.ratio:.3f} at epoch {epoch}; weight decay → {raised:g}",
        )

    def after_rollback(self, method_state: Mapping[str, Any], epoch: int) -> None:
        """The snapshot restored weights, α, optimizers and the tracker of `epoch`; carry the decision
        forward and set the tracker up as `tracker_after_rollback` says."""
        self.rollbacks = copy.deepcopy(method_state["ada"]["rollbacks"])
        self.set_weight_decay(self.rollbacks[-1]["weight_decay"])
        if self.args.tracker_after_rollback == "original":
            self.measurements = [(int(e), float(v), str(g)) for e, v, g in method_state["early_stop"]["measurements"]]
        elif self.args.tracker_after_rollback == "fresh":
            self.measurements = []

    def unrolled_weight_decay(self) -> float:
        if self.args.unrolled_weight_decay == "current":
            return self.weight_decay
        history = [self.config.train.weight_decay, *(r["weight_decay"] for r in self.rollbacks)]
        return float(history[-2] if len(history) > 1 else history[0])

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "ada": {"rollbacks": copy.deepcopy(self.rollbacks)}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.rollbacks = copy.deepcopy(state["ada"]["rollbacks"])

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "on_signal": f"rollback to the look-back epoch, weight decay × {self.args.weight_decay_factor:g} "
            f"(at most {self.args.max_weight_decay:g}; beyond: {self.args.at_cap}), same lr schedule, "
            f"{self.args.tracker_after_rollback} tracker",
            "unrolled_weight_decay": f"{self.args.unrolled_weight_decay}: {self.unrolled_weight_decay():g}"
            if self.args.order == "second"
            else "n/a (first order)",
            "rollbacks": self.rollbacks,
            "weight_decay_now": self.weight_decay,
        }
