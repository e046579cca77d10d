"""DARTS-ES and DARTS-ADA (Zela et al., ICLR 2020): first-order DARTS watched by the Hessian eigenvalue.

Both read the `eigenvalue` figure the runner's metric writes into each epoch row (see
`metrics/hessian.py`) and keep every measurement, with the genotype of its epoch, in their state.

The stop signal follows RobustDARTS' code (`utils.EVLocalAvg`, `train_search.py`), not the paper's
wording: the local average at a measurement is the mean of the last `window` = 5 eigenvalues (all of
them while fewer than 5, from the 3rd on); it is compared with the local average `delta` = 4
measurements earlier; the search stops when their ratio exceeds `factor` = 1.3, looking back to the
measurement `window // 2 + delta` earlier (the centre of the earlier window: 12 epochs back with a
measurement every 2 epochs), provided that epoch is at least `start_epoch` = 10. The last epoch is
never checked. `rule: paper` applies the paper's formulation instead (see `stop_signal`).

DARTS-ES stops there and reports the look-back genotype. DARTS-ADA instead restores the look-back
epoch's snapshot (weights, α, both optimizers), multiplies the network weight decay by
`weight_decay_factor`, and continues the same learning-rate schedule with a fresh tracker.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, NonNegativeInt, PositiveFloat, PositiveInt

from nasbench_harness.config import RunConfig
from nasbench_harness.errors import ConfigError
from nasbench_harness.methods.base import CONTINUE, EpochDecision, register_method
from nasbench_harness.methods.darts import Darts
from nasbench_harness.spaces import Supernet

#: One eigenvalue measurement: (epoch, eigenvalue, genotype string of that epoch).
Measurement = tuple[int, float, str]


class EarlyStopArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

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


def stop_signal(measurements: list[Measurement], args: EarlyStopArgs) -> StopSignal | None:
    """The stop decision at the newest measurement, or None.

    `code` (RobustDARTS): la(i) / la(i − delta) > factor, look-back measurement i − window//2 − delta.
    `paper` (our reading of the paper's text): la(j) / la(i) < paper_ratio, where j is the newest
    measurement at least `paper_k` epochs before i; look-back measurement j.
    Either way the look-back epoch must be ≥ start_epoch.
    """
    values = [ev for _, ev, _ in measurements]
    i = len(measurements) - 1
    current = local_average(values, i, args.window)
    if current is None:
        return None
    if args.rule == "code":
        back, earlier_index = i - args.window // 2 - args.delta, i - args.delta
        earlier = local_average(values, earlier_index, args.window) if earlier_index >= 0 else None
        if back < 0 or earlier is None or earlier == 0 or measurements[back][0] < args.start_epoch:
            return None
        ratio = current / earlier
        fired = ratio > args.factor
    else:
        newest_epoch = measurements[i][0]
        candidates = [j for j, (epoch, _, _) in enumerate(measurements) if epoch <= newest_epoch - args.paper_k]
        if not candidates or current == 0:
            return None
        back = candidates[-1]
        earlier = local_average(values, back, args.window)
        if earlier is None or measurements[back][0] < args.start_epoch:
            return None
        ratio = earlier / current
        fired = ratio < args.paper_ratio
    return StopSignal(measurements[back][0], measurements[back][2], ratio) if fired else None


@register_method("darts_es")
class DartsEs(Darts):
    """First-order DARTS that stops on the eigenvalue signal and reports the look-back genotype."""

    Args = EarlyStopArgs

    def __init__(self, net: Supernet, config: RunConfig, device: torch.device):
        super().__init__(net, config, device)
        if config.metrics.eigenvalue == "off":
            raise ConfigError(
                f"method {self.name!r} decides on the Hessian eigenvalue, but metrics.eigenvalue is 'off' "
                "in this run (the `tiny` profile turns it off); set `metrics: {eigenvalue: exact}` "
                "(RobustDARTS-compatible) or `fast` in the suite"
            )
        self.measurements: list[Measurement] = []
        self.stopped: dict[str, Any] | None = None

    def on_epoch_end(self, epoch: int, row: Mapping[str, Any]) -> EpochDecision:
        value = row.get("eigenvalue")
        if value is None:
            return CONTINUE
        self.measurements.append((epoch, float(value), str(row.get("genotype") or self.genotype())))
        if epoch == self.config.train.epochs - 1:
            return CONTINUE
        signal = stop_signal(self.measurements, self.args)
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
            "RobustDARTS code: la = mean of the last `window` eigenvalues; stop when la(i)/la(i-delta) > "
            "factor; look-back window//2+delta measurements; look-back epoch >= start_epoch; last epoch unchecked"
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
    #: `fresh`: an empty tracker after a rollback (the paper); `restored`: the tracker as it was at the
    #: look-back epoch (what RobustDARTS' `load_checkpoint` into a new tracker was written to do).
    tracker_after_rollback: Literal["fresh", "restored"] = "fresh"


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
        """The snapshot restored weights, α, optimizers and the tracker of `epoch`; carry the decision."""
        self.rollbacks = copy.deepcopy(method_state["ada"]["rollbacks"])
        self.set_weight_decay(self.rollbacks[-1]["weight_decay"])
        if self.args.tracker_after_rollback == "fresh":
            self.measurements = []

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
            "rollbacks": self.rollbacks,
            "weight_decay_now": self.weight_decay,
        }
