"""Search steps to time: a registered method's own `Method.step`, built and stepped as a run builds and
steps it, seed packs of such runs (bench/packed.py), and xautodl's reference steps for the (method, space)
pairs that have one.

Ours: `expand_suite` applies the space's and method's defaults (and a profile, for tests), the supernet comes
from the space registry with the method's mixer, the method class from the method registry. Inputs are one
fixed pair of random CIFAR-sized batches (32x32, 10 classes) on the device, so only the step is timed.

References (xautodl, the code of the NAS-Bench-201 paper), each with its own `search_func` step:
- darts on nb201: `TinyNetworkDarts(16, 5, 4, ...)` (configs/nas-benchmark/algos/DARTS.config) with
  DARTS-V1's step (exps/NAS-Bench-201-algos/DARTS-V1.py lines 52-73: weights with `clip_grad_norm_(5)`,
  SGD momentum 0.9 Nesterov, wd 5e-4; then α with Adam(3e-4, (0.5, 0.999), wd 1e-3); `.item()` on both losses).
- gdas on nb201: `TinyNetworkGDAS(16, 5, 4, ...)` with GDAS.py's step (lines 50-76, the same two updates; τ=10,
  the first epoch's temperature).
- darts on the DARTS space: `NASNetworkDARTS` (`nasnet-super`, configs/search-archs/DARTS-NASNet-CIFAR.config:
  C=16, N=2, 4 steps, multiplier 4, stem multiplier 3, wd 3e-4) with DARTS-V1's step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from nasbench_harness.bench.packed import PackRounds, stepper
from nasbench_harness.config import PROFILES, RunConfig, SuiteConfig
from nasbench_harness.methods import get_method_class
from nasbench_harness.methods.base import Method
from nasbench_harness.spaces import get_space
from nasbench_harness.suite_expansion import expand_suite

SIZE, CLASSES = 32, 10
#: Weight-side images of one epoch per split protocol on full CIFAR-10 (50,000 training images):
#: DARTS' half and NAS-Bench-201's split (its official file's `train` list holds 25,000) train on half.
CIFAR10_WEIGHT_IMAGES = {"half": 25_000, "nb201": 25_000, "nb201_official": 25_000, "full": 50_000}

Step = Callable[[], None]
Batch = tuple[Tensor, Tensor]


@dataclass(frozen=True)
class Reference:
    """An xautodl search network and the step its script takes."""

    label: str
    build: Callable[[dict[str, Any]], nn.Module]
    weight_decay: float


def _tiny_darts(network: dict[str, Any]) -> nn.Module:
    from xautodl.models.cell_operations import NAS_BENCH_201
    from xautodl.models.cell_searchs.search_model_darts import TinyNetworkDarts

    return TinyNetworkDarts(network["C"], network["N"], 4, CLASSES, NAS_BENCH_201, False, False)


def _tiny_gdas(network: dict[str, Any]) -> nn.Module:
    from xautodl.models.cell_operations import NAS_BENCH_201
    from xautodl.models.cell_searchs.search_model_gdas import TinyNetworkGDAS

    net = TinyNetworkGDAS(network["C"], network["N"], 4, CLASSES, NAS_BENCH_201, False, False)
    net.set_tau(10.0)
    return net


def _nasnet_darts(network: dict[str, Any]) -> nn.Module:
    from xautodl.models.cell_operations import DARTS_SPACE
    from xautodl.models.cell_searchs.search_model_darts_nasnet import NASNetworkDARTS

    return NASNetworkDARTS(network["C"], network["N"], 4, 4, 3, CLASSES, DARTS_SPACE, False, True)


#: (method, space) → its xautodl reference; other pairs are reported without one.
REFERENCES: dict[tuple[str, str], Reference] = {
    ("darts", "nb201"): Reference("xautodl TinyNetworkDarts, DARTS-V1 step", _tiny_darts, 5e-4),
    ("gdas", "nb201"): Reference("xautodl TinyNetworkGDAS, GDAS step", _tiny_gdas, 5e-4),
    ("darts", "darts"): Reference("xautodl NASNetworkDARTS (nasnet-super), DARTS-V1 step", _nasnet_darts, 3e-4),
}
#: The references' sizes: the papers' (C=16; NB201 N=5, nasnet-super N=2) or, under a profile, its channels
#: and one cell per stage (a tool test, not a comparison).
FULL_REFERENCE_SIZE = {"nb201": {"C": 16, "N": 5}, "darts": {"C": 16, "N": 2}}


def reference_size(space: str, profile: str | None) -> dict[str, Any]:
    if profile is None:
        return FULL_REFERENCE_SIZE[space]
    return {"C": PROFILES[profile]["network"]["channels"], "N": 1}


def run_config(method: str, space: str, profile: str | None = None) -> RunConfig:
    """The configuration `nasbench run` gives this method on this space for CIFAR-10."""
    suite = SuiteConfig(
        name="bench", methods=[method], spaces=[space], datasets=["cifar10"], seeds=[0], profile=profile
    )
    (config,) = expand_suite(suite)
    return config


def steps_per_epoch(config: RunConfig) -> int:
    """Weight steps of one epoch of this configuration on full CIFAR-10 (the protocol's split, its batch)."""
    method_split = get_method_class(config.method).split
    space_split = get_space(config.space).config_defaults.get("data", {}).get("split")
    protocol = config.data.split or method_split or space_split or "half"
    n, batch = CIFAR10_WEIGHT_IMAGES[protocol], config.train.batch_size
    return n // batch if config.data.drop_last else -(-n // batch)


def batches(batch_size: int, device: torch.device) -> tuple[Batch, Batch]:
    g = torch.Generator().manual_seed(0)
    x_train, x_valid = (torch.randn(batch_size, 3, SIZE, SIZE, generator=g).to(device) for _ in range(2))
    y_train, y_valid = (torch.randint(0, CLASSES, (batch_size,), generator=g).to(device) for _ in range(2))
    return (x_train, y_train), (x_valid, y_valid)


def synchroniser(device: torch.device) -> Callable[[], None]:
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def build_method(config: RunConfig, device: torch.device, network: dict[str, Any] | None = None) -> Method:
    """The method on the supernet a run of `config` builds (seeded with its seed; `network` overrides options),
    at its first epoch, in training mode."""
    cls = get_method_class(config.method)
    args = cls.Args.model_validate(config.method_args)
    torch.manual_seed(config.seed)
    options = {**config.network, **(network or {})}
    net = get_space(config.space).build_supernet(num_classes=CLASSES, mixer=cls.mixer(args), **options).to(device)
    method = cls(net, config, device)
    method.set_epoch(0, config.train.lr)
    net.train()
    return method


def ours(config: RunConfig, device: torch.device, network: dict[str, Any] | None = None) -> Step:
    """The registered method's `step` as a run of `config` takes it: through the run's Stepper (eager on CPU;
    on CUDA the fast path where the method declares its step capturable, after its warm-up steps)."""
    method = build_method(config, device, network)
    run_step = stepper(method, device)
    train, valid = batches(config.train.batch_size, device)
    sync = synchroniser(device)

    def step() -> None:
        run_step(train, valid)
        sync()

    return step


def pack(
    config: RunConfig, seeds: int, mode: str, device: torch.device, rounds: int, network: dict[str, Any] | None = None
) -> PackRounds:
    """`seeds` runs of `config` with seeds 0..seeds-1, each built as `ours` builds one with its own Stepper
    (fast path off in a batched pack, as `execute_pack` sets it), as a seed pack of `mode` driven by the real
    `PackDriver` for `rounds` rounds on the same fixed batches."""
    runs = []
    for seed in range(seeds):
        method = build_method(config.model_copy(update={"seed": seed}), device, network)
        runs.append((method, stepper(method, device, mode)))
    return PackRounds(runs, mode, device, batches(config.train.batch_size, device), rounds)


def reference(method: str, space: str, device: torch.device, batch_size: int, profile: str | None = None) -> Step:
    """xautodl's network and script step for (method, space); KeyError where there is none."""
    ref = REFERENCES[(method, space)]
    torch.manual_seed(0)
    net = ref.build(reference_size(space, profile)).to(device)
    w_optimizer = torch.optim.SGD(net.get_weights(), 0.025, momentum=0.9, weight_decay=ref.weight_decay, nesterov=True)
    a_optimizer = torch.optim.Adam(net.get_alphas(), lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    (base_inputs, base_targets), (arch_inputs, arch_targets) = batches(batch_size, device)
    net.train()
    sync = synchroniser(device)

    def step() -> None:
        w_optimizer.zero_grad()
        _, logits = net(base_inputs)
        base_loss = F.cross_entropy(logits, base_targets)
        base_loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        w_optimizer.step()
        base_loss.item()
        a_optimizer.zero_grad()
        _, logits = net(arch_inputs)
        arch_loss = F.cross_entropy(logits, arch_targets)
        arch_loss.backward()
        a_optimizer.step()
        arch_loss.item()
        sync()

    return step
