"""Batched seeds (engine/batched.py) against the same seeds stepped one after another: time per step.

Run (a script, not a pytest benchmark):

    OMP_NUM_THREADS=1 python benchmarks/bench_batched.py                        # NB201 C=16 N=5, batch 64
    python benchmarks/bench_batched.py --cells 1 --seeds 1 2 4 --steps 2 --standard-layout
    python benchmarks/bench_batched.py --device cuda --seeds 1 4 8

Per N, N first-order DARTS seeds (NB201's train config: clip over weights and α, Nesterov, weight decay 5e-4)
step on random 32x32 batches of their own, interleaved: N sequential `method.step` calls, then one
`BatchedStep` call on N other copies of the same seeds; the first step of each is a warm-up. CPU time on
CPU, wall time (synchronised) on CUDA. `--standard-layout` runs the sequential steps channels-first too (the
batched step always does: vmap cannot query channels-last contiguity). Also reported: the copies the
batched step adds (stacking every parameter twice a step). Nothing is asserted: ratios depend on the machine.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from nasbench_harness.config import RunConfig, TrainConfig
from nasbench_harness.engine.batched import BatchedStep
from nasbench_harness.methods import Method, get_method_class
from nasbench_harness.spaces import get_space
from nasbench_harness.testing import seed_all


def build(seed: int, args: argparse.Namespace) -> Method:
    cls = get_method_class("darts")
    train = TrainConfig(batch_size=args.batch, clip_scope="all", weight_decay=5e-4, nesterov=True)
    config = RunConfig(method="darts", space="nb201", dataset="cifar10", seed=seed, train=train)
    seed_all(seed)
    net = get_space("nb201").build_supernet(
        num_classes=10, mixer=cls.mixer(cls.Args()), channels=args.channels, cells_per_stage=args.cells
    )
    method = cls(net.to(args.device), config, torch.device(args.device))
    method.net.channels_last = method.net.channels_last and not args.standard_layout
    method.set_epoch(0, train.lr)
    return method


def batch(seed: int, args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(args.batch, 3, 32, 32, generator=g), torch.randint(0, 10, (args.batch,), generator=g)
    return x.to(args.device), y.to(args.device)


def timer(device: str) -> Callable[[], float]:
    if device.startswith("cuda"):

        def wall() -> float:
            torch.cuda.synchronize()
            return time.perf_counter()

        return wall
    return time.process_time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--steps", type=int, default=1, help="timed steps after one warm-up step")
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--cells", type=int, default=5, help="NB201 cells per stage")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--standard-layout", action="store_true", help="sequential steps channels-first too")
    args = parser.parse_args()
    clock = timer(args.device)
    for n in args.seeds:
        alone = [build(s, args) for s in range(n)]
        packed = [build(s, args) for s in range(n)]
        batched = BatchedStep(packed)
        sequential = together = 0.0
        for step in range(args.steps + 1):
            pairs = [(batch(1000 * s + 2 * step, args), batch(1000 * s + 2 * step + 1, args)) for s in range(n)]
            t0 = clock()
            for method, (train, valid) in zip(alone, pairs):
                method.step(train, valid)
            t1 = clock()
            batched(pairs)
            t2 = clock()
            if step:
                sequential, together = sequential + t1 - t0, together + t2 - t1
        params = [dict(m.net.named_parameters()) for m in packed]
        t0 = clock()
        for _ in range(2):
            {name: torch.stack([p[name].detach() for p in params]) for name in params[0]}
        stacking = clock() - t0
        print(
            f"N={n}: sequential {sequential / args.steps:.3f} s/step, batched {together / args.steps:.3f} s/step, "
            f"sequential/batched {sequential / together:.2f}, stacking {1000 * stacking:.1f} ms/step",
            flush=True,
        )


if __name__ == "__main__":
    main()
