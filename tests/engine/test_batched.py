"""engine/batched.py: N seeds of first-order DARTS stepped as one vmapped computation end as each seed stepped
alone with its own `method.step`: parameters, BN buffers, optimiser states, α gradients and figures (float64)."""

from __future__ import annotations

import io
from typing import Any

import pytest
import torch
from sync_support import count_host_syncs

from nasbench_harness.config import RunConfig, TrainConfig
from nasbench_harness.engine.batched import BatchedStep, unsupported
from nasbench_harness.methods import Method, get_method_class
from nasbench_harness.spaces import get_space
from nasbench_harness.testing import TINY_NETWORK, round_trip, seed_all

SEEDS = 3
#: Small enough that the gradient-norm clip bites in every step, so per-seed clipping is exercised.
GRAD_CLIP = 0.05
#: Reached: about 2e-13 elementwise relative after five steps; atol covers BN running means that are rounding
#: noise around 0 (1e-17) in both runs.
RTOL, ATOL = 1e-10, 1e-13
#: NB201 as its original code steps it (weights first, the clip over weights and α); a DARTS-family space with
#: per-edge op lists, pools with BN running statistics, α first and the clip over the weights only.
CASES = [("nb201", "all"), ("s1", "weights"), ("s3", "weights")]


def build(space: str, seed: int, clip_scope: str = "weights", method: str = "darts", **train: Any) -> Method:
    cls = get_method_class(method)
    config = RunConfig(
        method=method,
        space=space,
        dataset="cifar10",
        seed=seed,
        train=TrainConfig(batch_size=4, grad_clip=GRAD_CLIP, clip_scope=clip_scope, **train),
    )
    seed_all(seed)
    net = get_space(space).build_supernet(num_classes=10, mixer=cls.mixer(cls.Args()), **TINY_NETWORK[space])
    return cls(net.double(), config, torch.device("cpu"))


def batch(seed: int, n: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 8, 8, generator=g, dtype=torch.float64), torch.randint(0, 10, (n,), generator=g)


def pairs(step: int, n: int = 4) -> list[tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]]:
    """Each seed's own (train, valid) batches of `step` (its own data order)."""
    return [(batch(1000 * s + 2 * step, n), batch(1000 * s + 2 * step + 1, n)) for s in range(SEEDS)]


def step_alone(methods: list[Method], step: int, n: int = 4) -> list[dict[str, Any]]:
    return [m.step(train, valid) for m, (train, valid) in zip(methods, pairs(step, n))]


def assert_close(a: object, b: object, where: str) -> None:
    """Nested state (dicts, lists, tensors, plain values): tensors within RTOL/ATOL, the rest equal."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            assert_close(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_close(x, y, f"{where}/{i}")
    elif isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), where
        torch.testing.assert_close(b, a, rtol=RTOL, atol=ATOL, msg=lambda m: f"{where}: {m}")
    else:
        assert a == b, where


def assert_same_seeds(alone: list[Method], packed: list[Method]) -> None:
    for seed, (a, p) in enumerate(zip(alone, packed)):
        assert_close(a.net.state_dict(), p.net.state_dict(), f"seed {seed} net")
        assert_close(a.state_dict(), p.state_dict(), f"seed {seed} method")


def checkpoint_bytes(method: Method) -> int:
    buffer = io.BytesIO()
    torch.save({"net": method.net.state_dict(), "method": method.state_dict()}, buffer)
    return buffer.tell()


@pytest.mark.parametrize(("space", "clip_scope"), CASES)
def test_batched_seeds_equal_each_seed_alone(space: str, clip_scope: str) -> None:
    alone = [build(space, s, clip_scope) for s in range(SEEDS)]
    packed = [build(space, s, clip_scope) for s in range(SEEDS)]
    batched = BatchedStep(packed)
    for step, (lr, n) in enumerate([(0.1, 4), (0.05, 4), (0.02, 2)]):  # a new lr per epoch; a smaller last batch
        for m in alone + packed:
            m.set_epoch(step, lr)
        expected, got = step_alone(alone, step, n), batched(pairs(step, n))
        for seed, (e, g) in enumerate(zip(expected, got)):
            assert list(e) == list(g), f"seed {seed}: figure names or order"
            for key in e:
                assert g[key].dim() == 0 and not g[key].requires_grad, key
            assert_close(e, g, f"seed {seed} step {step} figures")
    assert_same_seeds(alone, packed)
    for a, p in zip(alone, packed):  # a packed seed's checkpoint holds that seed only (no views into N seeds)
        assert checkpoint_bytes(p) == checkpoint_bytes(a)


def test_a_seed_restored_from_its_checkpoint_steps_as_alone() -> None:
    space, clip_scope = CASES[0]
    alone = [build(space, s, clip_scope) for s in range(SEEDS)]
    packed = [build(space, s, clip_scope) for s in range(SEEDS)]
    batched = BatchedStep(packed)
    for m in alone + packed:
        m.set_epoch(0, 0.1)
    saved: dict[str, Any] = {}
    for step in range(5):
        step_alone(alone, step)
        batched(pairs(step))
        if step == 1:  # seed 1's checkpoint after two steps, through bytes as the runner writes it
            saved = {
                "alone": round_trip({"net": alone[1].net.state_dict(), "method": alone[1].state_dict()}),
                "packed": round_trip({"net": packed[1].net.state_dict(), "method": packed[1].state_dict()}),
            }
        if step == 2:  # seed 1 loses step 2: it is rolled back to its checkpoint, the others go on
            for method, state in ((alone[1], saved["alone"]), (packed[1], saved["packed"])):
                method.net.load_state_dict(state["net"])
                method.load_state_dict(state["method"])
            batched.restored()
    assert_same_seeds(alone, packed)


def test_unsupported_says_why() -> None:
    darts = [build("nb201", s) for s in range(2)]
    assert unsupported(darts) is None  # seeds differ in their seed only
    assert unsupported([]) == "no methods to batch"
    second = [build("nb201", s, method="darts_2nd") for s in range(2)]
    assert "'darts_2nd' (Darts2nd) does not declare `packable = True` on its own class" in str(unsupported(second))
    assert (
        unsupported([darts[0], second[1]]) == "seed 1 runs Darts2nd, seed 0 runs Darts: batched seeds share one method"
    )
    other_lr = build("nb201", 1, lr=0.05)
    assert unsupported([darts[0], other_lr]) == (
        "seed 1's config differs from seed 0's beyond the seed, in train.lr (0.025 vs 0.05)"
    )
    bf16 = [build("nb201", s, precision="bf16") for s in range(2)]
    assert unsupported(bf16) == "train.precision 'bf16': the batched step runs without autocast (fp32 only)"
    single = build("nb201", 1)
    single.net.float()
    assert "seed 1's supernet differs from seed 0's" in str(unsupported([darts[0], single]))
    darts[1].net.eval()
    assert unsupported(darts) == "seed 1's supernet is in eval mode, seed 0's in train mode"
    darts[1].net.train()
    noisy = [build("s4", s) for s in range(2)]
    assert "random numbers in its forward (cells.0.edges.0.ops.0: Noise)" in str(unsupported(noisy))
    darts[0].net.drop_path_prob = 0.2
    assert "drop-path is on (drop_path_prob=0.2)" in str(unsupported(darts))
    darts[0].net.drop_path_prob = 0.0
    bn = next(m for m in darts[1].net.modules() if isinstance(m, torch.nn.BatchNorm2d) and m.track_running_stats)
    bn.momentum = None
    assert "keeps a cumulative average (momentum=None)" in str(unsupported(darts))
    bn.momentum = 0.1
    with pytest.raises(ValueError, match="seeds cannot be batched: method 'darts_2nd'"):
        BatchedStep(second)
    batched = BatchedStep(darts)
    with pytest.raises(ValueError, match=r"batched seeds need train batches of one shape"):
        batched([(batch(0, 4), batch(1, 4)), (batch(2, 2), batch(3, 2))])
    batched.restored()  # still batchable
    darts[1].net.eval()
    with pytest.raises(ValueError, match="after the restore: seed 1's supernet is in eval mode"):
        batched.restored()


def test_a_batched_step_makes_no_host_synchronisation() -> None:
    packed = [build("s1", s) for s in range(2)]
    batched = BatchedStep(packed)
    assert batched.describe()["mode"] == "vmap" and batched.describe()["seeds"] == 2
    batched([(batch(2 * s), batch(2 * s + 1)) for s in range(2)])  # optimiser state created
    with count_host_syncs() as calls:
        batched([(batch(2 * s + 10), batch(2 * s + 11)) for s in range(2)])
    assert calls == []
