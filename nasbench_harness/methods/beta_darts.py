"""β-DARTS (Ye et al., CVPR 2022): DARTS with the beta-decay regulariser on α in the α loss.

From its code (github:Sunshine-Ye/Beta-DARTS at f307704), built on SmoothDARTS' code:
`optimizers/darts/architect.py` lines 55-59 (`mlc_loss`) and 80-85 (`_backward_step`), search script
`nasbench201/train_search.py`:

- α loss: L_valid(softmax(α)) + λ_e · mean over edges of logsumexp(α) (raw α, over the ops of each edge).
  Its gradient pushes every α_k down by λ_e·softmax(α)_k / |edges|, the "beta decay".
- λ_e = 50·e/100 at epoch e (0-based), hard-coded with 100 (architect.py line 81), whatever the run's
  epoch count: 0 → 49.5 over the NB201 script's 100 epochs. `ramp_epochs: null` scales the ramp to the
  run's epochs instead (an option, not the code).
- Everything else is SmoothDARTS' search with `--perturb_alpha none` (the NB201 script's default, line 54):
  first-order α step first, then the weight step at softmax(α), see `methods/sdarts.py`. That includes the
  learning rate of each epoch: `scheduler.step()` before the epoch (nasbench201/train_search.py lines 160-162)
  under PyTorch >= 1.1 (the script imports `torch.utils.tensorboard`, line 26), so epoch e trains at lr(e + 1)
  (`train.lr_epoch: next`, inherited from sdarts).

On the DARTS family the public code cannot run as published: `sota/cnn/train_search.py` line 213 calls
`architect.step` without the `epoch` argument that architect.py line 40 requires, and α there is a list of
two matrices that `mlc_loss` does not take. Here the term is the mean over the edges of every cell type
(normal and reduction: one mean over all 28 edges; the paper's Eq. averages over all edges). That script's
parser also defaults to `--perturb_alpha random` (line 56), i.e. β-DARTS on top of SDARTS-RS: offered as
`perturbation: random`; the default is `none`, the regulariser alone, as on NB201.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import torch
from pydantic import PositiveFloat, PositiveInt
from torch import Tensor

from nasbench_harness.methods.base import Batch, StepFigures, accuracy, register_method
from nasbench_harness.methods.sdarts import PerturbArgs, Perturbation, PerturbedDarts

#: λ_e = LAMBDA_MAX · e / RAMP_EPOCHS (architect.py line 81: `weights = 0 + 50*epoch/100`).
LAMBDA_MAX = 50.0
RAMP_EPOCHS = 100


class BetaArgs(PerturbArgs):
    #: First order only: the code's unrolled α step (`_backward_step_unrolled`) has no β term.
    order: Literal["first"] = "first"
    #: Strength at e = ramp_epochs (the code's 50).
    lambda_: PositiveFloat = LAMBDA_MAX
    #: λ_e = lambda_·e/ramp_epochs; the code's 100 whatever the epochs; None: the run's epochs.
    ramp_epochs: PositiveInt | None = RAMP_EPOCHS
    #: SmoothDARTS' weight-step perturbation on top: none (NB201 script), random (DARTS-space script default).
    perturbation: Literal["none", "random"] = "none"


def beta_regulariser(alphas: Mapping[str, Tensor]) -> Tensor:
    """mean over all edges (rows of every cell type's α) of logsumexp over the edge's ops (`mlc_loss`)."""
    return torch.cat([torch.logsumexp(a, dim=-1) for a in alphas.values()]).mean()


def lambda_at(lambda_: float, epoch: int, ramp_epochs: int) -> float:
    return lambda_ * epoch / ramp_epochs


@register_method("beta_darts")
class BetaDarts(PerturbedDarts):
    Args = BetaArgs
    args: BetaArgs
    #: β-DARTS' DARTS space (`s5`, its script's default `--search_space`, train_search.py line 55) has `none`
    #: commented out: sota/cnn/spaces.py line 81.
    paper_spaces: ClassVar[Mapping[str, str | None]] = {"darts": "darts_nonone"}
    departures: ClassVar[tuple[str, ...]] = (
        "DARTS family, where the public script does not run (sota/cnn/train_search.py line 213 omits the epoch "
        "architect.py line 40 needs): the term is one mean over the edges of both cell types, and perturbation "
        "none (that script's parser says random, line 56): β-DARTS as the paper and the NB201 script have it.",
    )

    @property
    def perturbation_kind(self) -> Perturbation:
        return self.args.perturbation

    @property
    def lambda_(self) -> float:
        ramp = self.args.ramp_epochs if self.args.ramp_epochs is not None else self.config.train.epochs
        return lambda_at(self.args.lambda_, self.epoch, ramp)

    def alpha_step(self, train: Batch, valid: Batch) -> StepFigures:
        self.a_optimizer.zero_grad(set_to_none=True)
        loss, logits = self.forward_loss(valid)
        term = beta_regulariser(self.net.alphas)
        (loss + self.lambda_ * term).backward(inputs=self.net.arch_parameters())
        self.a_optimizer.step()
        return {
            "valid_loss": loss.detach(),
            "valid_acc": accuracy(logits, valid[1]),
            "beta_term": term.detach(),
            "beta_lambda": self.lambda_,
        }

    def describe(self) -> dict[str, Any]:
        ramp = self.args.ramp_epochs if self.args.ramp_epochs is not None else "epochs"
        return {
            **super().describe(),
            "regulariser": "lambda_e * mean over all edges of logsumexp(alpha) over the edge's ops, in the alpha loss",
            "lambda_schedule": f"{self.args.lambda_} * epoch / {ramp}",
        }
