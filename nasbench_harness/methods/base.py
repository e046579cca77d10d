"""The method interface: a method is one file, one class, one `@register_method`.

A method decides how edges mix their ops (`mixer`, `mixing_weights`), what one search step does
(`step`: the α update and the weight update), and what happens at epoch boundaries
(`on_epoch_end` may stop early or roll back). It sees the supernet and batches, never files.
Everything it needs to resume lives in `state_dict`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch
from pydantic import BaseModel, ConfigDict
from torch import Tensor, nn

from nasbench_harness.config import RunConfig, canonical_hash
from nasbench_harness.errors import HarnessError
from nasbench_harness.mixing import Mixer, WeightedSum
from nasbench_harness.registry import Registry
from nasbench_harness.spaces import Genotype, SearchSpace, Supernet, get_space
from nasbench_harness.spaces.supernet import MixingWeights

if TYPE_CHECKING:
    from nasbench_harness.data import PairedBatches
    from nasbench_harness.engine.stages import NextStage, Stage

Batch = tuple[Tensor, Tensor]
#: What `Method.step` returns: figure name → detached 0-d tensor (or float), averaged per epoch by the runner.
StepFigures = dict[str, Tensor | float]


class NoArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class EpochDecision:
    """What the runner does after an epoch: go on, stop (with the genotype to report), or restore
    the state saved at `rollback_to` (the method has already adjusted its hyperparameters)."""

    action: Literal["continue", "stop", "rollback"] = "continue"
    genotype: Genotype | None = None
    rollback_to: int | None = None
    reason: str = ""


CONTINUE = EpochDecision()


class Method:
    name: ClassVar[str]
    #: Method hyperparameters with the paper's defaults (validated from `method_args`).
    Args: ClassVar[type[BaseModel]] = NoArgs
    #: Config layers this method changes (e.g. {"train": {"batch_size": 256}}), above the space's.
    defaults: ClassVar[dict[str, Any]] = {}
    #: Per space family (`SearchSpace.family`: "darts", "nb201"), config layers of the method's original code for
    #: that family, above `defaults`: a space registered later in the family gets them too.
    family_defaults: ClassVar[dict[str, dict[str, Any]]] = {}
    #: Per space, config layers of the method's own reference code for that space, above `family_defaults`
    #: (Λ-DARTS' copy of xautodl's NB201 config differs from xautodl's).
    space_defaults: ClassVar[dict[str, dict[str, Any]]] = {}
    #: Train/valid split the method needs; None lets the space decide (one-level methods: "full").
    split: ClassVar[str | None] = None
    #: False for methods that keep α fixed (random search with weight sharing).
    learns_alphas: ClassVar[bool] = True
    #: Whether `step` can be captured as one CUDA graph (engine/fast_path.py): no data-dependent control flow,
    #: no host reads, no random sampling inside the step. Read from the class itself, never inherited, so a
    #: subclass that changes the step declares it again.
    capturable: ClassVar[bool] = False
    #: Whether N seeds' steps can run as one vmapped computation (engine/batched.py reproduces first-order DARTS'
    #: step). Read from the class itself, never inherited, as `capturable`.
    packable: ClassVar[bool] = False
    #: Whether the runner keeps a state snapshot per epoch (methods that roll back need them).
    keeps_snapshots: ClassVar[bool] = False
    #: Every default of this method that departs from its original code, each with why (`nasbench list methods`
    #: prints them, docs/methods.md lists them); empty: none known.
    departures: ClassVar[tuple[str, ...]] = ()
    #: Whether the method decides on the Hessian eigenvalue metric (DARTS-ES, DARTS-ADA): `metrics.eigenvalue`
    #: must not be "off" (`config_problems`); a profile that turns it off gets "fast" for it (`profile_fixes`).
    needs_eigenvalue: ClassVar[bool] = False
    #: The `method_args` key a sweep varies (R-DARTS: "strength"); None: not a sweep. A sweep expands into
    #: one run per value (`expand_args`) and the results keep, per sweep group, the run `select` picks.
    sweep_param: ClassVar[str | None] = None
    #: Benchmark space (`SearchSpace.benchmark`) → the registered variant the method's paper searched, where
    #: that is not the benchmark's own space: SmoothDARTS, β-DARTS, DrNAS and Λ-DARTS searched the DARTS space
    #: without `none` (`{"darts": "darts_nonone"}`); None: not known (no public code). A run on another
    #: variant is marked in tables, leaderboard and report and gets no published figure (`paper_space`).
    paper_spaces: ClassVar[Mapping[str, str | None]] = {}
    #: False for a reconstruction without public code (MSG-DAS): labelled "unofficial" wherever a table,
    #: the leaderboard, the report or `nasbench list methods` names it, and no published figure stands beside it.
    official: ClassVar[bool] = True
    #: The run's search batches, set by the runner after construction (None outside a run); methods
    #: that schedule augmentation (R-DARTS DP ramps `cutout_prob`) or evaluate on the validation split
    #: read it. Epochs are a pure function of (seed, epoch, cutout_prob), so resume is unaffected.
    batches: PairedBatches | None = None

    def __init__(self, net: Supernet, config: RunConfig, device: torch.device):
        self.net, self.config, self.device = net, config, device
        self.args = self.Args.model_validate(config.method_args)
        self.criterion = nn.CrossEntropyLoss()
        train = config.train
        self.w_optimizer = torch.optim.SGD(
            net.weight_parameters(),
            train.lr,
            momentum=train.momentum,
            weight_decay=train.weight_decay,
            nesterov=train.nesterov,
        )
        #: Architecture parameters the method owns beyond the supernet's α (PC-DARTS' β), by `arch_state` name.
        self.extra_arch: dict[str, nn.Parameter] = dict(self.init_extra_arch())
        self.a_optimizer = torch.optim.Adam(
            self.arch_parameters(), train.arch_lr, betas=train.arch_betas, weight_decay=train.arch_weight_decay
        )
        self.epoch = 0

    def init_extra_arch(self) -> Mapping[str, nn.Parameter]:
        """Architecture parameters beyond α, created before the α optimiser (which optimises them with α).

        The base class checkpoints and restores them (`state_dict`), so resume and rollback carry them; the
        runner logs them per epoch (`arch_state`). Name them as in `arch_state_shapes`."""
        return {}

    def arch_parameters(self) -> list[nn.Parameter]:
        """What the α optimiser steps: the supernet's α, then the method's own architecture parameters."""
        return self.net.arch_parameters() + list(self.extra_arch.values())

    def arch_trained(self, epoch: int) -> bool:
        """Whether the α step runs in `epoch` (PC-DARTS and DrNAS freeze the architecture at first)."""
        return self.learns_alphas

    @classmethod
    def expand_args(cls, args: BaseModel) -> list[BaseModel]:
        """One run per returned argument set: a method that sweeps a hyperparameter (R-DARTS) expands
        into one run per value here, and the results select among them."""
        return [args]

    @classmethod
    def config_problems(cls, config: RunConfig) -> list[str]:
        """What keeps this method from running `config`, each with what to change; empty when it can run.

        Suite expansion asks every run before any starts (`suite_expansion.expand_suite`). The base checks the
        stage plan, that every stage's `network.channels` splits into the mixer's partial-channel groups, and
        the eigenvalue metric for `needs_eigenvalue`; a method adds its own constraints."""
        from nasbench_harness.engine import stages  # the engine imports the method registry

        problems = []
        if cls.needs_eigenvalue and config.metrics.eigenvalue == "off":
            problems.append(eigenvalue_problem(cls.name))
        try:
            planned = stages.plan(cls, config)
        except HarnessError as err:
            return [*problems, str(err)]
        configs = [config] if planned is None else [stages.stage_config(config, stage) for stage in planned]
        for stage_config in configs:
            channels = stage_config.network.get("channels")
            divisor = cls.mixer(cls.Args.model_validate(stage_config.method_args)).channel_divisor
            if isinstance(channels, int) and channels % divisor:
                divisors = channel_divisors(cls, config)
                problems.append(
                    f"network.channels {channels} is not divisible by the partial-channel divisor {divisor} "
                    f"(method_args of {cls.name}; every stage's divisors: {divisors}); use a multiple of "
                    f"{math.lcm(*divisors)}"
                )
                break
        return problems

    @classmethod
    def profile_fixes(cls, config: RunConfig) -> dict[str, Any]:
        """The config layer a profile's run of this method needs to run at all (applied above the profile, to
        keys the suite does not set): channels rounded up to a multiple of every stage's partial-channel
        divisor, the fast eigenvalue where the profile turns it off and the method decides on it."""
        fixes: dict[str, Any] = {}
        if cls.needs_eigenvalue and config.metrics.eigenvalue == "off":
            fixes["metrics"] = {"eigenvalue": "fast"}
        channels = config.network.get("channels")
        try:
            divisor = math.lcm(*channel_divisors(cls, config))
        except HarnessError:  # a plan that cannot be made is `config_problems`' to report
            divisor = 1
        if isinstance(channels, int) and channels % divisor:
            fixes["network"] = {"channels": -(-channels // divisor) * divisor}
        return fixes

    @classmethod
    def sweep_group(cls, config: Mapping[str, Any]) -> str:
        """The sweep a run belongs to: a hash of its config (a RunConfig dump) without the swept key."""
        stripped = dict(config)
        args = dict(config.get("method_args", {}))
        stripped["method_args"] = {k: v for k, v in args.items() if k != cls.sweep_param}
        return canonical_hash(stripped)

    @classmethod
    def select(cls, results: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """Per sweep group, the result that stands for the sweep (what the paper reports). Each result
        holds `config` (a RunConfig dump) and `final` (the last epoch's figures; None or partial for runs
        that did not finish). A method with a `sweep_param` defines it; results/load.py calls it."""
        raise NotImplementedError(f"method {cls.name!r} sweeps {cls.sweep_param!r} but defines no select()")

    @classmethod
    def paper_space(cls, space: SearchSpace) -> str | None:
        """The registered space the method's paper searched for the benchmark `space` stands for (None: not
        known); the benchmark's own space unless `paper_spaces` says otherwise."""
        return cls.paper_spaces.get(space.benchmark, space.benchmark)

    @classmethod
    def off_paper_space(cls, space: SearchSpace) -> bool:
        """Whether `space` is another variant of its benchmark than the one the method's paper searched."""
        paper = cls.paper_space(space)
        return paper is not None and paper != space.name

    @classmethod
    def label_notes(cls, space: SearchSpace) -> tuple[str, ...]:
        """Where running on `space` is the harness's extension of the paper's algorithm, not the algorithm
        itself, what results print after the method's name (StacNAS off the DARTS space: "StacNAS-style");
        () elsewhere. ("unofficial" comes from `official`, "paper searched X" from `paper_space`.)"""
        return ()

    @classmethod
    def space_defaults_for(cls, space: SearchSpace) -> Mapping[str, Any]:
        """The method's config layer for `space`: its entry for the space, else for the space's benchmark
        (a variant of the DARTS space runs with the method's DARTS-space settings)."""
        if space.name in cls.space_defaults:
            return cls.space_defaults[space.name]
        return cls.space_defaults.get(space.benchmark, {})

    @classmethod
    def mixer(cls, args: BaseModel) -> Mixer:
        """How edges combine ops; decided before the supernet is built (it can change op widths)."""
        return WeightedSum()

    def mixing_weights(self) -> MixingWeights | None:
        """Weights the supernet mixes with during search; None = softmax(α) per cell type."""
        return None

    def set_epoch(self, epoch: int, lr: float) -> None:
        self.epoch = epoch
        for group in self.w_optimizer.param_groups:
            group["lr"] = lr

    @property
    def lr(self) -> float:
        return float(self.w_optimizer.param_groups[0]["lr"])

    @property
    def weight_decay(self) -> float:
        return float(self.w_optimizer.param_groups[0]["weight_decay"])

    def set_weight_decay(self, value: float) -> None:
        for group in self.w_optimizer.param_groups:
            group["weight_decay"] = value

    def step(self, train: Batch, valid: Batch) -> StepFigures:
        """One search step; returns per-step figures (losses, accuracies) for the epoch averages.

        Figures are detached 0-d tensors (or plain floats for host-side values): the runner sums them on
        the device and reads them once per epoch, so a step never waits for the GPU (no `.item()`)."""
        raise NotImplementedError

    def after_train_steps(self) -> None:
        """Called after the epoch's last step, before the epoch is evaluated (epoch-end selection)."""

    def forward_loss(self, batch: Batch, weights: MixingWeights | None = None) -> tuple[Tensor, Tensor]:
        x, y = batch
        logits = self.net(x, self.mixing_weights() if weights is None else weights)
        return self.criterion(logits, y), logits

    def weight_step(self, batch: Batch, weights: MixingWeights | None = None) -> StepFigures:
        """SGD on the network weights with gradient-norm clipping.

        `train.clip_scope == "weights"` (DARTS): α gradients are not computed. "all" (xautodl's NB201
        scripts, DARTS-V1.py lines 53-58, DARTS-V2.py lines 162-166): as there, the training loss also
        back-propagates into α, adding to the gradient α still holds from the last α step (their weight
        optimiser does not zero it), and the clip measures the norm over weights and α together; only the
        weights step, and the next α step starts from a zeroed gradient. `weights`: the mixing to train
        with (a sampling method's draw), None: `mixing_weights()`."""
        self.zero_weight_grads()
        loss, logits = self.forward_loss(batch, weights)
        params = self.net.weight_parameters()
        clipped = params
        if self.config.train.clip_scope == "all" and self.learns_alphas:
            clipped = params + self.arch_parameters()
        loss.backward(inputs=clipped)
        if self.config.train.grad_clip is not None:
            nn.utils.clip_grad_norm_([p for p in clipped if p.grad is not None], self.config.train.grad_clip)
        self.w_optimizer.step()
        return {"train_loss": loss.detach(), "train_acc": accuracy(logits, batch[1])}

    def first_order_alpha_step(self, batch: Batch, weights: MixingWeights | None = None) -> StepFigures:
        """Adam on α with the validation-loss gradient at the current weights (weight grads skipped, but for
        `train.zero_grad: zeros` the weights this loss reaches first get a gradient: `alpha_backward_inputs`)."""
        self.a_optimizer.zero_grad(set_to_none=True)
        loss, logits = self.forward_loss(batch, weights)
        loss.backward(inputs=self.alpha_backward_inputs())
        self.a_optimizer.step()
        return {"valid_loss": loss.detach(), "valid_acc": accuracy(logits, batch[1])}

    def zero_weight_grads(self) -> None:
        """Clear the weight gradients before a weight step, as `train.zero_grad` says: to None (PyTorch >= 2), or
        zeroed in place (PyTorch < 2's `optimizer.zero_grad()`), so that SGD's weight decay and momentum keep
        moving every parameter that once had a gradient, sampled in this step or not."""
        self.w_optimizer.zero_grad(set_to_none=self.config.train.zero_grad == "to_none")

    def alpha_backward_inputs(self) -> list[Tensor]:
        """What an α step's backward fills: α (and the method's own architecture parameters); with
        `train.zero_grad: zeros` also every weight without a gradient yet. The originals' α backward
        (`arch_loss.backward()`, xautodl GDAS.py line 68) fills the gradient of every weight the α loss
        reaches; under PyTorch < 2 that gradient then stays, zeroed, so the weight is stepped from then on.
        The values do not matter (the next weight step zeroes them first), only that the gradient exists;
        weights that have one are left out, so once all have, the α step costs what it did."""
        if self.config.train.zero_grad == "to_none":
            return self.arch_parameters()
        return self.arch_parameters() + [p for p in self.net.weight_parameters() if p.grad is None]

    def on_epoch_end(self, epoch: int, row: Mapping[str, Any]) -> EpochDecision:
        return CONTINUE

    def after_rollback(self, method_state: Mapping[str, Any], epoch: int) -> None:
        """Called after the runner restored the snapshot of `epoch`; `method_state` is the method's
        state just before the rollback (to carry decisions such as a raised weight decay forward)."""

    def genotype(self) -> Genotype:
        return self.net.genotype()

    def arch_state(self) -> dict[str, Tensor]:
        """The architecture the method learns, by name: α per cell type (`alpha.<cell type>`), then the
        method's own parameters (`init_extra_arch`, e.g. β) and any derived view it logs (Dirichlet
        concentrations). Declared with shapes in `arch_state_shapes`; the conformance suite checks one
        against the other and that all of it survives a checkpoint round trip."""
        alphas = {f"alpha.{cell_type}": alpha for cell_type, alpha in self.net.alphas.items()}
        return {**alphas, **self.extra_arch}

    def arch_state_shapes(self) -> dict[str, tuple[int, ...]]:
        """Expected shape of every `arch_state` tensor, from the space (α: edges × ops per cell type)."""
        return {f"alpha.{cell_type}": shape for cell_type, shape in self.net.space.alpha_shapes().items()}

    def state_dict(self) -> dict[str, Any]:
        """Optimiser states, the method's own architecture parameters (α is in the supernet's state), and
        the architecture gradients: with `clip_scope: all` the next clip norm includes them."""
        grads = [None if a.grad is None else a.grad.detach().clone() for a in self.arch_parameters()]
        state = {
            "w_optimizer": self.w_optimizer.state_dict(),
            "a_optimizer": self.a_optimizer.state_dict(),
            "alpha_grads": grads,
            "extra_arch": {name: p.detach().clone() for name, p in self.extra_arch.items()},
        }
        if self.config.train.zero_grad == "zeros":  # which weights have a (zeroed) gradient the next step keeps
            state["weight_grads_kept"] = [p.grad is not None for p in self.net.weight_parameters()]
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        saved = state.get("extra_arch", {})
        if set(saved) != set(self.extra_arch):
            raise ValueError(
                f"method {self.name!r}: the checkpoint holds architecture parameters {sorted(saved)}, the method "
                f"has {sorted(self.extra_arch)}; it was written by other code: start the run over"
            )
        self.w_optimizer.load_state_dict(state["w_optimizer"])
        self.a_optimizer.load_state_dict(state["a_optimizer"])
        with torch.no_grad():
            for name, p in self.extra_arch.items():
                p.copy_(saved[name])
        for param, grad in zip(self.arch_parameters(), state["alpha_grads"]):
            param.grad = None if grad is None else grad.to(param.device).clone()
        kept = state.get("weight_grads_kept")
        if kept is not None:
            for param, has_grad in zip(self.net.weight_parameters(), kept):
                param.grad = torch.zeros_like(param) if has_grad else None

    def describe(self) -> dict[str, Any]:
        """Result-changing choices for the run metadata, with how results label the run: the space the
        method's paper searched for this benchmark and the label's qualifiers (`label_notes`)."""
        space = get_space(self.config.space)  # the registered space (a stage's has other op lists)
        return {
            "method": self.name,
            "args": self.args.model_dump(mode="json"),
            "zero_grad": "zeroed in place (PyTorch < 2): every parameter that once had a gradient is stepped"
            if self.config.train.zero_grad == "zeros"
            else "set to None: only parameters the step's loss reaches are stepped",
            "lr_epoch": self.config.train.lr_epoch,
            "paper_space": self.paper_space(space),
            "off_paper_space": self.off_paper_space(space),
            "official": self.official,
            "label_notes": list(self.label_notes(space)),
        }

    @classmethod
    def stages(cls, config: RunConfig) -> list[Stage] | None:
        """The run as a list of stages (`engine/stages.py`); None: one stage on the space's op lists."""
        return None

    def next_stage(self, stage: Stage) -> NextStage:
        """Called on a finished stage's method: the op lists of `stage` (the next one) from this result."""
        raise NotImplementedError(f"method {self.name!r} declares stages but no next_stage()")

    def carry_over(self, previous: Method) -> None:
        """Called on a new stage's fresh method with the finished stage's, once, at the transition (never on
        resume: the checkpoint then holds this stage's state). DrNAS copies and widens the trained weights
        and carries α here; default: nothing, the stage starts fresh."""


def channel_divisors(cls: type[Method], config: RunConfig) -> list[int]:
    """The partial-channel divisor of each stage of `cls`'s run of `config` (one entry for a single stage)."""
    from nasbench_harness.engine import stages

    planned = stages.plan(cls, config)
    configs = [config] if planned is None else [stages.stage_config(config, stage) for stage in planned]
    return [cls.mixer(cls.Args.model_validate(c.method_args)).channel_divisor for c in configs]


def eigenvalue_problem(name: str) -> str:
    return (
        f"method {name!r} decides on the Hessian eigenvalue, but metrics.eigenvalue is 'off' in this run; set "
        "`metrics: {eigenvalue: exact}` (RobustDARTS-compatible) or `fast` in the suite"
    )


def accuracy(logits: Tensor, labels: Tensor) -> Tensor:
    """Top-1 accuracy (%) as a 0-d tensor on the logits' device (no host synchronisation)."""
    return (logits.detach().argmax(dim=1) == labels).float().mean() * 100.0


@torch.no_grad()
def accuracy_on(net: nn.Module, batches: Iterable[Batch], weights: MixingWeights | None) -> float:
    """Accuracy (%) of the supernet mixed with `weights` over `batches` (the caller sets eval mode)."""
    correct = total = 0
    for x, y in batches:
        correct += (net(x, weights).argmax(1) == y).sum().item()
        total += y.numel()
    return 100.0 * correct / max(total, 1)


METHODS: Registry[type[Method]] = Registry("method")


def register_method(name: str) -> Callable[[type[Method]], type[Method]]:
    """Class decorator: registers the method under `name`; conformance tests pick it up."""

    def decorator(cls: type[Method]) -> type[Method]:
        cls.name = name
        return METHODS.register(name)(cls)

    return decorator


def get_method_class(name: str) -> type[Method]:
    return METHODS.get(name)


def list_methods() -> list[str]:
    return METHODS.names()
