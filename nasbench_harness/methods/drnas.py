"""DrNAS (Chen et al., ICLR 2021): mixing weights drawn from a Dirichlet over each edge's ops.

From its code (github:xiangning-chen/DrNAS at f2caa4d; `utils.py`, `architect.py`, `201-space/`,
`DARTS-space/`):

1. Every forward draws each edge's mixing weights from Dirichlet(ELU(α) + 1) with the reparameterised
   (pathwise) sample `rsample()` (`utils.py` lines 170-172), so the loss is differentiable in the
   concentrations and α; the evaluation of the supernet samples too (`infer` calls `model(input)`).
2. Regulariser (`--reg_type`, `--reg_scale` 1e-3): `l2` (default) is Adam weight decay reg_scale on α
   (`architect.py` lines 17-20); `kl` adds reg_scale · Σ KL(Dir(ELU(α)+1) ‖ Dir(1)) over every edge (and
   both cell types) to the α loss (`201-space/search_model.py` lines 59-72, `DARTS-space/model_search.py`
   lines 196-210) with no Adam weight decay. `train.arch_weight_decay` is therefore not used.
3. α step (first order, on a fresh random α batch), then the weight step on a fresh Dirichlet sample; the
   α gradients are zeroed around the weight step (`train_search.py` `architect.optimizer.zero_grad()`), and
   the clip covers `model.parameters()`: α and the weights on NAS-Bench-201 (α is an nn.Parameter there,
   so `train.clip_scope` "all", α holding only the training-loss gradient), the weights alone on the DARTS
   space (α are plain Variables).
4. The genotype is the softmax(α) rule of DARTS / NAS-Bench-201 (argmax of α = argmax of the Dirichlet mean).

NAS-Bench-201 defaults (`201-space/train_search.py` lines 34-59, `search_model.py` line 18): 100 epochs,
batch 64, lr 0.025 → 0.001, weight decay 3e-4 (no Nesterov), α lr 3e-4, half of the CIFAR training set
for α (`--train_portion` 0.5: the `half` split, not NAS-Bench-201's official files), a fresh random α batch
per step, BatchNorm with running statistics (`track_running_stats=True`), no partial channels (k = 1), α
trained from the first epoch (the `if epoch >= 15` is commented out, line 264).

DARTS-space defaults (`DARTS-space/train_search.py` lines 25-43, 182): batch 64, lr 0.1 → 0.0, α lr 6e-4,
36 channels, 20 cells, 50 epochs, α frozen for the first 10 epochs of each stage.

Progressive learning on the DARTS family (`DARTS-space/train_search.py` lines 118-159): two stages of half
the epochs each (the code's 25 + 25 of 50), partial channels k = 6 with every op, then k = 4 on each edge's
4 ops of largest α. At the transition (`carry_over`, never on resume):

- pruning (`utils.py` `prune` lines 197-207): per edge the `num_keep` largest α (topk; an edge with fewer
  ops keeps them all, so S1-S4 only widen), in the space's op order, their α values kept as they are; the
  α optimiser is not rebuilt (the Adam state of the kept entries carries over). The code keeps the pruned
  entries masked (`process_step_vector`: sample over all ops, zero the pruned, renormalise); that is
  Dirichlet over the kept concentrations (the aggregation property), which a stage-2 net holding only the
  kept ops samples directly. With `reg_type: kl` the code's KL still spans the pruned entries; here it spans
  the kept ones.
- net2wider (`net2wider.py`, `DARTS-space/operations.py` `wider`): every kept op's weights are copied into
  the wider op, each extra channel a copy of a random existing one (`torch.randint`): a depthwise conv
  draws a fresh output index, the dense conv after it takes that index for its inputs, any other dense
  conv draws fresh input and output indices, a BatchNorm takes the index of the conv before it (pools: a
  fresh one; FactorizedReduce: its two convs' output indices concatenated, as the code does, although the
  extra channels are then appended after both halves). It is not function-preserving (the wider op reads
  input channels that bypassed it before, and nothing is rescaled); the SGD momentum buffers are widened
  the same way (`configure_optimizer`). Cell preprocessing, stem and classifier are copied unchanged.
- one cosine schedule over all epochs, continued across the stages (`configure_scheduler`).

`progressive: false` runs one stage at `k` with every op (the paper's single-stage variant). NB201 is
single-stage, as `201-space/train_search.py`. DrNAS' DARTS-space PRIMITIVES has no `none` (genotypes.py
line 6): its paper's space is `darts_nonone` (`paper_spaces`); on `darts` `none` can survive pruning.
Pools: a pool in a mixed edge is followed by one non-affine BatchNorm, as in DrNAS. The `MixedOp`'s own
pool BN is commented out there (model_search.py lines 37-38) because DrNAS' pool ops carry it themselves
(`AvgPoolBN`, `MaxPoolBN`: operations.py lines 10-11, 27-60), so `spaces/ops.py`'s `PoolBN` is the same
layer stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch
from pydantic import BaseModel, ConfigDict, NonNegativeFloat, NonNegativeInt, PositiveInt
from torch import Tensor, nn
from torch.distributions import Dirichlet, kl_divergence
from torch.nn import functional as F

from nasbench_harness.errors import HarnessError
from nasbench_harness.methods.base import Batch, Method, StepFigures, accuracy, register_method
from nasbench_harness.mixing import MixedEdge, Mixer, PartialChannels, WeightedSum
from nasbench_harness.spaces import Supernet, get_space
from nasbench_harness.spaces.ops import FactorizedReduce

if TYPE_CHECKING:
    from nasbench_harness.config import RunConfig
    from nasbench_harness.engine.stages import NextStage, Stage


class DrnasArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: `l2`: Adam weight decay `reg_scale` on α; `kl`: reg_scale · KL(Dir(ELU(α)+1) ‖ Dir(1)) in the α loss.
    reg_type: Literal["l2", "kl"] = "l2"
    reg_scale: NonNegativeFloat = 1e-3
    #: Partial-channel proportion 1/k (1: every channel, the NB201 default; DARTS family: 4 via space defaults).
    k: PositiveInt = 1
    #: Epochs with α frozen, in each stage (0 on NB201; 10 on the DARTS family via space defaults).
    warmup_epochs: NonNegativeInt = 0
    #: Progressive learning: two stages of half the epochs, k = ks[0] with every op, then k = ks[1] on each
    #: edge's `num_keep` ops of largest α (`k` is then set per stage). None: on for the DARTS family (its
    #: DARTS-space code), off on NB201 (its 201-space code).
    progressive: bool | None = None
    ks: tuple[PositiveInt, PositiveInt] = (6, 4)
    num_keep: PositiveInt = 4


def concentrations(alpha: Tensor) -> Tensor:
    """The Dirichlet concentration of each edge: ELU(α) + 1 > 0."""
    return F.elu(alpha) + 1


#: Per tensor of an op: the extra input channels (dim 1) and output channels (dim 0), each a copy of the
#: existing channel at that index (None: that dimension does not grow).
WidenPlan = dict[str, tuple[Tensor | None, Tensor | None]]


def _fresh(old: int, new: int) -> Tensor:
    """`net2wider.py`'s index: which existing channel each of the `new - old` extra channels copies."""
    return torch.randint(low=0, high=old, size=(new - old,))


def widen_plan(old_op: nn.Module, new_op: nn.Module) -> WidenPlan:
    """The channel copies that widen `old_op` to `new_op` (same op, more channels), by the rule of DrNAS'
    `operations.py` `wider` methods (see the module docstring)."""
    old = dict(old_op.named_modules())
    plan: WidenPlan = {}
    if isinstance(new_op, FactorizedReduce):
        outs = []
        for name in ("conv_1", "conv_2"):
            o, n = old[name].weight.shape, getattr(new_op, name).weight.shape
            out = _fresh(o[0], n[0])
            plan[f"{name}.weight"] = (_fresh(o[1], n[1]), out)
            outs.append(out)
        plan["bn"] = (None, torch.cat(outs))
        return plan
    previous: Tensor | None = None  # the preceding conv's output index
    depthwise_before = False
    for name, module in new_op.named_modules():
        if isinstance(module, nn.Conv2d):
            o, n = old[name].weight.shape, module.weight.shape
            depthwise = module.groups > 1
            out = _fresh(o[0], n[0])
            inputs = None if depthwise else previous if depthwise_before else _fresh(o[1], n[1])
            plan[f"{name}.weight"] = (inputs, out)
            previous, depthwise_before = out, depthwise
        elif isinstance(module, nn.BatchNorm2d):
            plan[name] = (
                None,
                previous if previous is not None else _fresh(old[name].num_features, module.num_features),
            )
            depthwise_before = False
    return plan


def widen(tensor: Tensor, inputs: Tensor | None, outputs: Tensor | None) -> Tensor:
    """`tensor` with copies of the indexed input channels appended (dim 1), then of the output channels
    (dim 0), as `InChannelWider` then `OutChannelWider` (and `configure_optimizer` for momentum)."""
    if inputs is not None and tensor.dim() > 1:
        tensor = torch.cat([tensor, tensor[:, inputs.to(tensor.device)]], dim=1)
    if outputs is not None and tensor.dim() > 0:
        tensor = torch.cat([tensor, tensor[outputs.to(tensor.device)]], dim=0)
    return tensor


def prune(alpha: Tensor, names: tuple[tuple[str, ...], ...], num_keep: int) -> tuple[tuple[str, ...], ...]:
    """Per edge, the `num_keep` ops of largest α in the edge's op order (`utils.py` `prune`: topk)."""
    kept = []
    for row, ops in zip(alpha.detach(), names):
        top = row[: len(ops)].topk(min(num_keep, len(ops))).indices.tolist()
        kept.append(tuple(ops[i] for i in sorted(top)))
    return tuple(kept)


_DARTS_FAMILY: dict[str, Any] = {
    "train": {"lr": 0.1, "lr_min": 0.0, "arch_lr": 6e-4},
    "network": {"channels": 36, "layers": 20},
    "method_args": {"k": 4, "warmup_epochs": 10},
}
_NB201: dict[str, Any] = {
    "train": {
        "epochs": 100,
        "lr": 0.025,
        "lr_min": 0.001,
        "arch_lr": 3e-4,
        "weight_decay": 3e-4,
        "nesterov": False,
        "clip_scope": "all",
    },
    "data": {"split": "half", "valid_sampling": "darts_fresh_batch"},
    "network": {"channels": 16, "track_running_stats": True},
    "method_args": {"k": 1, "warmup_epochs": 0},
}


@register_method("drnas")
class Drnas(Method):
    Args = DrnasArgs
    args: DrnasArgs
    #: DrNAS' DARTS-space PRIMITIVES has `none` commented out: DARTS-space/genotypes.py line 6.
    paper_spaces: ClassVar[Mapping[str, str | None]] = {"darts": "darts_nonone"}
    family_defaults: ClassVar[dict[str, dict[str, Any]]] = {"nb201": _NB201, "darts": _DARTS_FAMILY}
    departures: ClassVar[tuple[str, ...]] = (
        "Progressive stages of half of train.epochs each: the code fixes 25 + 25 (DARTS-space/train_search.py "
        "line 122); runs of other lengths need a rule, and an odd count gives stage 2 the extra epoch.",
        "reg_type kl in stage 2: the KL spans the kept ops; the code's also spans the pruned columns "
        "(concentration 1 there).",
        "On the darts space `none` is an op; DrNAS' DARTS-space PRIMITIVES comments it out (genotypes.py line 6). "
        "Its pools carry one non-affine BatchNorm (operations.py lines 10-11), as the space's do.",
    )

    @classmethod
    def mixer(cls, args: BaseModel) -> Mixer:
        assert isinstance(args, DrnasArgs)
        return PartialChannels(args.k) if args.k > 1 else WeightedSum()

    def __init__(self, net: Supernet, config: Any, device: torch.device):
        super().__init__(net, config, device)
        l2 = self.args.reg_scale if self.args.reg_type == "l2" else 0.0
        for group in self.a_optimizer.param_groups:
            group["weight_decay"] = l2

    def arch_state(self) -> dict[str, Tensor]:
        """α and the Dirichlet concentrations ELU(α)+1 (derived from α, logged per epoch)."""
        state = super().arch_state()
        state.update({f"concentration.{t}": concentrations(a).detach() for t, a in self.net.alphas.items()})
        return state

    def arch_state_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = super().arch_state_shapes()
        shapes.update({f"concentration.{t}": shape for t, shape in self.net.space.alpha_shapes().items()})
        return shapes

    def arch_trained(self, epoch: int) -> bool:
        return epoch >= self.args.warmup_epochs

    def mixing_weights(self) -> dict[str, Tensor]:
        """One pathwise Dirichlet sample per edge and cell type, drawn at every call (every forward)."""
        return {t: Dirichlet(concentrations(a)).rsample() for t, a in self.net.alphas.items()}

    def kl_regulariser(self) -> Tensor:
        """reg_scale · Σ over cell types and edges of KL(Dir(ELU(α)+1) ‖ Dir(1))."""
        total = sum(
            kl_divergence(Dirichlet(concentrations(a)), Dirichlet(torch.ones_like(a))).sum()
            for a in self.net.alphas.values()
        )
        return self.args.reg_scale * total

    def alpha_step(self, valid: Batch) -> StepFigures:
        self.a_optimizer.zero_grad(set_to_none=True)
        loss, logits = self.forward_loss(valid)
        objective = loss + self.kl_regulariser() if self.args.reg_type == "kl" else loss
        objective.backward(inputs=self.arch_parameters())
        self.a_optimizer.step()
        return {"valid_loss": loss.detach(), "valid_acc": accuracy(logits, valid[1])}

    def weight_step(self, batch: Batch) -> StepFigures:
        """The base weight step with α's gradient zeroed before and after, as DrNAS' loop does."""
        for p in self.arch_parameters():
            p.grad = None
        figures = super().weight_step(batch)
        for p in self.arch_parameters():
            p.grad = None
        return figures

    def step(self, train: Batch, valid: Batch) -> StepFigures:
        if not self.arch_trained(self.epoch):
            return self.weight_step(train)
        return {**self.alpha_step(valid), **self.weight_step(train)}

    @classmethod
    def stages(cls, config: RunConfig) -> list[Stage] | None:
        """The DARTS-space code's progressive plan (`train_search.py` lines 118-122: ks [6, 4], num_keeps
        [7 (every op), 4], epochs [25, 25] of 50; here half of `train.epochs` each, the rest to stage 2)."""
        from nasbench_harness.engine.stages import Stage  # the engine imports the method registry

        args = DrnasArgs.model_validate(config.method_args)
        darts_family = "layers" in get_space(config.space).default_network
        if args.progressive is False or (args.progressive is None and not darts_family):
            return None
        if not darts_family:
            raise HarnessError(
                f"drnas: method_args.progressive is for the DARTS family; DrNAS' NB201 search (201-space/"
                f"train_search.py) is single-stage: set progressive: false for space {config.space!r}"
            )
        epochs = config.train.epochs
        if epochs < 2:
            raise HarnessError(f"drnas: progressive learning needs train.epochs >= 2 (two stages), got {epochs}")
        first = epochs // 2
        return [
            Stage(f"k{args.ks[0]}_all_ops", first, method_args={"k": args.ks[0]}, lr_schedule="run"),
            Stage(f"k{args.ks[1]}_pruned", epochs - first, method_args={"k": args.ks[1]}, lr_schedule="run"),
        ]

    def next_stage(self, stage: Stage) -> NextStage:
        """Each edge pruned to its `num_keep` ops of largest α (`model.pruning(num_keeps[i+1])`)."""
        from nasbench_harness.engine.stages import NextStage

        edge_ops = {
            t: prune(self.net.alphas[t], self.net.space.edge_ops[t], self.args.num_keep) for t in self.net.alphas
        }
        return NextStage(edge_ops, {f"kept.{t}": [list(ops) for ops in edges] for t, edges in edge_ops.items()})

    def carry_over(self, previous: Method) -> None:
        """`model.pruning` + `model.wider` + `configure_optimizer`: α and its Adam state for the kept ops,
        every weight copied (the kept ops' widened by net2wider) with its SGD momentum buffer."""
        old_net, new_net = previous.net, self.net
        with torch.no_grad():
            for t, alpha in new_net.alphas.items():
                old_alpha = old_net.alphas[t]
                state = previous.a_optimizer.state.get(old_alpha, {})
                carried = {k: v.clone() if v.dim() == 0 else torch.zeros_like(alpha) for k, v in state.items()}
                kept = zip(old_net.space.edge_ops[t], new_net.space.edge_ops[t])
                for edge, (names, kept_names) in enumerate(kept):
                    columns = torch.tensor([names.index(op) for op in kept_names], device=alpha.device)
                    alpha[edge, : len(columns)] = old_alpha[edge, columns]
                    for key, value in state.items():
                        if value.dim() > 0:
                            carried[key][edge, : len(columns)] = value[edge, columns]
                if carried:
                    self.a_optimizer.state[alpha] = carried
        renamed, plans = _edge_maps(old_net, new_net)
        old_state = old_net.state_dict()
        arch = {f"alphas.{t}" for t in new_net.alphas}
        state = {}
        for key, value in new_net.state_dict().items():
            if key in arch:
                continue
            module, _, leaf = key.rpartition(".")
            plan = plans.get(key) or plans.get(module)
            source = old_state[renamed.get(module, module) + "." + leaf]
            state[key] = widen(source, *plan) if plan is not None and leaf != "num_batches_tracked" else source
            if state[key].shape != value.shape:
                raise HarnessError(
                    f"drnas carry-over: {key} is {tuple(state[key].shape)}, expected {tuple(value.shape)}"
                )
        new_net.load_state_dict({**state, **{k: v for k, v in new_net.state_dict().items() if k in arch}})
        old_params = dict(old_net.named_parameters())
        for key, param in new_net.named_parameters():
            if key in arch:
                continue
            module, _, leaf = key.rpartition(".")
            old_state_p = previous.w_optimizer.state.get(old_params[renamed.get(module, module) + "." + leaf], {})
            if "momentum_buffer" in old_state_p:
                plan = plans.get(key) or plans.get(module)
                buffer = old_state_p["momentum_buffer"]
                self.w_optimizer.state[param] = {"momentum_buffer": widen(buffer, *plan) if plan else buffer.clone()}

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "order": "first",
            "step_order": "alpha_first",
            "mixing": "Dirichlet(ELU(α)+1).rsample() per edge at every forward, evaluation included",
            "regulariser": "Adam weight decay reg_scale on α"
            if self.args.reg_type == "l2"
            else "reg_scale * sum KL(Dir(ELU(α)+1) || Dir(1)) in the α loss, no Adam weight decay",
            "arch_weight_decay_used": self.a_optimizer.param_groups[0]["weight_decay"],
            "arch_frozen_epochs": self.args.warmup_epochs,
            "partial_channels": self.args.k,
            "alpha_grad_in_weight_step": "zeroed before and after (clip_scope all: the training loss's only)",
            "progressive_learning": {
                "stages": [f"k={k}" for k in self.args.ks],
                "epochs": "half of train.epochs per stage (the code's 25 + 25), one cosine over both",
                "prune": f"per edge the {self.args.num_keep} ops of largest α (topk), their α and Adam state kept",
                "net2wider": "kept ops' weights and momentum copied, each extra channel a copy of a random "
                "existing one (net2wider.py); not function-preserving; α frozen the first warmup_epochs of each stage",
            }
            if self.args.progressive is not False and "layers" in self.net.space.default_network
            else "off: one stage at k with every op of the space",
            "eigenvalue": "Hessian with respect to α of the loss at one Dirichlet sample (the search's loss)",
            "genotype_rule": "the space's softmax(α) rule",
            "source": "github:xiangning-chen/DrNAS f2caa4d",
        }


def _edge_maps(old_net: Supernet, new_net: Supernet) -> tuple[dict[str, str], dict[str, Any]]:
    """For the new net's kept ops: their module names in the old net, and the widen plan of each of their
    tensors (by parameter name, BatchNorms by module name) under the new net's names."""
    old_edges = [(n, m) for n, m in old_net.named_modules() if isinstance(m, MixedEdge)]
    new_edges = [(n, m) for n, m in new_net.named_modules() if isinstance(m, MixedEdge)]
    if [n for n, _ in old_edges] != [n for n, _ in new_edges]:
        raise HarnessError("drnas carry-over: the two stages' supernets have different edges")
    renamed: dict[str, str] = {}
    plans: dict[str, Any] = {}
    for (name, old_edge), (_, new_edge) in zip(old_edges, new_edges):
        for j, op_name in enumerate(new_edge.op_names):
            i = old_edge.op_names.index(op_name)
            old_prefix, new_prefix = f"{name}.ops.{i}", f"{name}.ops.{j}"
            for sub, _ in new_edge.ops[j].named_modules():
                renamed[f"{new_prefix}.{sub}" if sub else new_prefix] = f"{old_prefix}.{sub}" if sub else old_prefix
            for key, plan in widen_plan(old_edge.ops[i], new_edge.ops[j]).items():
                plans[f"{new_prefix}.{key}"] = plan
    return renamed, plans
