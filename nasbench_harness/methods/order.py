"""First- or second-order DARTS as an argument, for the methods built on DARTS (RobustDARTS family).

RobustDARTS ran DARTS-ES, DARTS-ADA and R-DARTS(L2)/(DP) with second-order DARTS: its search scripts
pass `--unrolled` (`scripts/DARTS_search.sh` line 19, `scripts/DARTS-ADA_search.sh` line 19), its
logged search config says `unrolled: true` (`experiments/search_logs/config.yaml` line 15) and its
README calls the searches "2nd order" (lines 25, 32). So `order` defaults to `second`; `first` is
the former behaviour of these methods. Only the α step changes: `Darts.step` is inherited as is,
and on a space whose original step order depends on the order (NAS-Bench-201: weights first in
xautodl's first-order DARTS-V1, α first in its second-order DARTS-V2) the order picks that script's.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from nasbench_harness.methods.base import Batch, StepFigures
from nasbench_harness.methods.darts import HESSIAN_VECTOR_PRODUCT, Darts, Darts2nd, second_order_alpha_step


class OrderArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: `second`: the unrolled α gradient with the finite-difference Hessian term (RobustDARTS'
    #: `--unrolled`); `first`: ∇α L_valid at the current weights.
    order: Literal["first", "second"] = "second"


class OrderedDarts(Darts):
    """DARTS whose α step follows `args.order` (the method's Args must derive from OrderArgs)."""

    @property
    def step_order(self) -> str:
        original = (Darts2nd if self.args.order == "second" else Darts).original_step_order
        return self.config.train.step_order or original.get(self.config.space, "alpha_first")

    def alpha_step(self, train: Batch, valid: Batch) -> StepFigures:
        if self.args.order == "first":
            return self.first_order_alpha_step(valid)
        return second_order_alpha_step(self, train, valid, self.unrolled_weight_decay())

    def unrolled_weight_decay(self) -> float:
        """λ of the look-ahead weight step: the network weight decay in force."""
        return self.weight_decay

    def describe(self) -> dict[str, Any]:
        described = {**super().describe(), "order": self.args.order}
        if self.args.order == "second":
            described["hessian_vector_product"] = HESSIAN_VECTOR_PRODUCT
        return described
