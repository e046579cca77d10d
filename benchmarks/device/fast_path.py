"""GPU check of the fast path (engine/fast_path.py), at most ~8 minutes on one H100/H200:

1. steps/s of first-order DARTS on NB201 (full size, batch 64): plain eager step, fast path (CUDA graph), each
   channels-first (the default on CUDA) and channels-last, and xautodl's TinyNetworkDarts with DARTS-V1's step; the
   DARTS space (8 cells) plain vs fast vs xautodl's NASNetworkDARTS;
2. fp32 genotype trajectory of plain vs fast path over 300 steps (6 "epochs" of 50 steps, cosine lr, a
   genotype per epoch; the last batch of each epoch smaller, so the eager fallback is in the trajectory), and
   the same for bf16 autocast against fp32;
3. packed seeds: N = 1, 4, 8 runs of different seeds driven by the seed-pack driver (engine/packed.py),
   interleaved (each run's fast-path graph replayed on its own CUDA stream) and batched (one vmapped step);
4. the 50-epoch time extrapolated: fast step time x 391 steps (25k CIFAR-10 images, batch 64) x 50.

Inputs are synthetic (no dataset on the device machine): fixed random batches per step from a seeded
generator. Writes $OUT/fast_path.json (commit it as results/benchmarks/fast_path_<gpu>.json).

    OUT=/tmp/out python benchmarks/device/fast_path.py
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import torch

from nasbench_harness.bench import steps as S
from nasbench_harness.bench.measure import environment
from nasbench_harness.engine import fast_path
from nasbench_harness.methods import get_method_class
from nasbench_harness.spaces import get_space

DEVICE = torch.device("cuda")
STEPS_PER_EPOCH, EPOCHS = 391, 50


def build(space: str, seed: int = 0, precision: str = "fp32", fast: bool = True, **network):
    config = S.run_config("darts", space)
    config = config.model_copy(update={"seed": seed, "train": config.train.model_copy(update={"precision": precision})})
    cls = get_method_class("darts")
    torch.manual_seed(seed)
    options = {**config.network, **network}
    net = get_space(space).build_supernet(num_classes=S.CLASSES, mixer=cls.mixer(cls.Args()), **options).to(DEVICE)
    method = cls(net, config, DEVICE)
    plan = fast_path.plan(method, DEVICE, precision) if fast else fast_path.Plan(False, "plain", precision)
    return method, fast_path.Stepper(method, DEVICE, plan)


def batch(step: int, size: int = 64) -> tuple:
    g = torch.Generator().manual_seed(10_000 + step)
    x = [torch.randn(size, 3, S.SIZE, S.SIZE, generator=g).to(DEVICE) for _ in range(2)]
    y = [torch.randint(0, S.CLASSES, (size,), generator=g).to(DEVICE) for _ in range(2)]
    return (x[0], y[0]), (x[1], y[1])


def seconds_per_step(step, steps: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def speed(space: str, steps: int) -> dict:
    train, valid = batch(0)
    config = S.run_config("darts", space)
    out = {"xautodl": seconds_per_step(S.reference("darts", space, DEVICE, 64), steps)}
    for name, fast, network in (  # the default layout on CUDA is channels-first
        ("plain", False, {}),
        ("fast", True, {}),
        ("plain_channels_last", False, {"channels_last": True}),
        ("fast_channels_last", True, {"channels_last": True}),
    ):
        method, stepper = build(space, fast=fast, **network)
        method.set_epoch(0, config.train.lr)
        out[name] = seconds_per_step(lambda stepper=stepper: stepper(train, valid), steps)
        out[f"{name}_describe"] = stepper.describe()
    for name in ("plain", "fast", "plain_channels_last", "fast_channels_last"):
        out[f"{name}_speedup_vs_xautodl"] = out["xautodl"] / out[name]
    return out


def trajectory(precision: str, fast: bool, epochs: int = 6, steps: int = 50) -> dict:
    method, stepper = build("nb201", precision=precision, fast=fast)
    genotypes, alphas, losses = [], [], []
    for epoch in range(epochs):
        method.set_epoch(epoch, S.run_config("darts", "nb201").train.lr * (1 + math.cos(math.pi * epoch / epochs)) / 2)
        total = torch.zeros((), device=DEVICE)
        for i in range(steps):
            train, valid = batch(epoch * steps + i, size=64 if i < steps - 1 else 40)
            total += stepper(train, valid)["train_loss"]
        losses.append(float(total / steps))
        genotypes.append(str(method.genotype()))
        alphas.append([a.detach().float().cpu() for a in method.net.arch_parameters()])
    return {"genotypes": genotypes, "alphas": alphas, "losses": losses, "describe": stepper.describe()}


def compare(a: dict, b: dict) -> dict:
    return {
        "same_genotypes_per_epoch": a["genotypes"] == b["genotypes"],
        "epochs_with_same_genotype": sum(x == y for x, y in zip(a["genotypes"], b["genotypes"])),
        "max_abs_alpha_difference": max(
            float((x - y).abs().max()) for xs, ys in zip(a["alphas"], b["alphas"]) for x, y in zip(xs, ys)
        ),
        "losses": [a["losses"], b["losses"]],
    }


def packed(n: int, steps: int, mode: str) -> dict:
    """N runs of different seeds as a seed pack: the pack driver users run (engine/packed.py), fed synthetic
    sessions through `nasbench_harness.bench.packed.PackRounds` (as `nasbench bench --pack-seeds` times it).
    "interleaved": each run's fast-path graph replayed on its own stream with its own RNG state; "batched":
    one vmapped eager step for all runs (engine/batched.py; with N = 1 the one run's plain eager step, as a
    pack of one is never batched)."""
    from nasbench_harness.bench.packed import PackRounds

    runs = [build("nb201", seed=seed, fast=mode == "interleaved") for seed in range(n)]
    for method, _ in runs:
        method.set_epoch(0, 0.025)
    warmup = 10  # eager warm-up and capture
    rounds = PackRounds(runs, mode, DEVICE, batch(0), warmup + steps, synchronise=False)
    try:
        for _ in range(warmup):
            rounds()
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(steps):
            rounds()
        torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    finally:
        rounds.close()
    return {
        "runs": n,
        "mode": mode,
        "seconds_per_round": seconds / steps,
        "steps_per_second_total": n * steps / seconds,
        "packing": rounds.packing,
    }


def main() -> None:
    out_dir = Path(os.environ.get("OUT", "/tmp/fast_path"))
    out_dir.mkdir(parents=True, exist_ok=True)
    report: dict = {"environment": environment(DEVICE, torch.get_num_threads())}
    started = time.perf_counter()

    def save() -> None:
        report["wall_seconds"] = time.perf_counter() - started
        text = json.dumps(report, indent=2, default=str) + "\n"
        (out_dir / "fast_path.json").write_text(text)

    report["nb201_speed"] = speed("nb201", steps=50)
    nb = report["nb201_speed"]
    report["nb201_50_epochs_extrapolated_seconds"] = {
        k: nb[k] * STEPS_PER_EPOCH * EPOCHS for k in ("xautodl", "plain", "fast", "fast_channels_last")
    }
    save()
    plain, fast = trajectory("fp32", fast=False), trajectory("fp32", fast=True)
    report["fp32_plain_vs_fast"] = compare(plain, fast)
    report["fp32_fast_describe"] = fast["describe"]
    save()
    report["bf16_vs_fp32_plain"] = compare(plain, trajectory("bf16", fast=False))
    save()
    report["packed_seeds"] = [packed(n, steps=30, mode=mode) for mode in ("interleaved", "batched") for n in (1, 4, 8)]
    save()
    report["darts_speed"] = speed("darts", steps=10)
    save()
    print(json.dumps({k: v for k, v in report.items() if k != "environment"}, indent=1, default=str)[:6000])


if __name__ == "__main__":
    main()
