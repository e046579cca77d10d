"""Conformance checks every registered method must pass (in the spirit of Optuna's sampler tests).

`tests/methods/test_conformance.py` runs them for every name in `list_methods()`, so a new method is
checked the moment it is registered. Third-party methods can call `check_method` in their own tests.
"""

from __future__ import annotations

import json
import math

import torch

from nasbench_harness.config import RunConfig, TrainConfig
from nasbench_harness.methods import EpochDecision, Method, get_method_class
from nasbench_harness.spaces import get_space

TINY_NETWORK = {"nb201": {"channels": 4, "cells_per_stage": 1}, "s3": {"channels": 4, "layers": 3}}


def tiny_method(name: str, space: str, seed: int = 0) -> Method:
    cls = get_method_class(name)
    args = cls.expand_args(cls.Args())[0]
    config = RunConfig(method=name, space=space, dataset="cifar10", seed=seed, train=TrainConfig(batch_size=4),
                       method_args=args.model_dump(mode="json"))
    torch.manual_seed(seed)
    net = get_space(space).build_supernet(num_classes=10, mixer=cls.mixer(args), **TINY_NETWORK[space])
    return cls(net, config, torch.device("cpu"))


def random_batch(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(4, 3, 16, 16, generator=g), torch.randint(0, 10, (4,), generator=g)


def check_method(name: str, space: str) -> None:
    """A method steps with finite figures, learns what it claims to, derives a valid genotype, describes
    itself in JSON, and restores its state exactly."""
    method = tiny_method(name, space)
    assert method.name == name
    json.dumps(method.describe())
    net = method.net
    weights_before = [p.detach().clone() for p in net.weight_parameters()]
    alphas_before = [a.detach().clone() for a in net.arch_parameters()]
    method.set_epoch(0, 0.025)
    for step in range(2):
        stats = method.step(random_batch(2 * step), random_batch(2 * step + 1))
        assert stats and all(isinstance(v, float) and math.isfinite(v) for v in stats.values()), stats
    assert any(not torch.equal(a, b) for a, b in zip(weights_before, net.weight_parameters())), "weights unchanged"
    alphas_changed = any(not torch.equal(a, b) for a, b in zip(alphas_before, net.arch_parameters()))
    assert alphas_changed == method.learns_alphas, f"α changed: {alphas_changed}, learns_alphas: {method.learns_alphas}"

    genotype = method.genotype()
    assert get_space(space).parse_genotype(str(genotype)) == genotype

    record = {"epoch": 0, "eigenvalue": None, "eval_valid_acc": 10.0, "genotype": str(genotype)}
    decision = method.on_epoch_end(0, record)
    assert isinstance(decision, EpochDecision)

    restored = tiny_method(name, space, seed=1)
    restored.net.load_state_dict(net.state_dict())
    restored.load_state_dict(method.state_dict())
    assert _flatten(restored.state_dict()) == _flatten(method.state_dict())


def _flatten(state: object) -> object:
    """Comparable form of a nested state dict (tensors as lists)."""
    if isinstance(state, dict):
        return {k: _flatten(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return [_flatten(v) for v in state]
    if isinstance(state, torch.Tensor):
        return state.tolist()
    return state
