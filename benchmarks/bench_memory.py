"""Peak memory of a search step per method and space, relative to DARTS: the point of single-path methods.

Run (a script, not a pytest benchmark; each configuration in a fresh subprocess, so peaks do not mix):

    python benchmarks/bench_memory.py                     # CPU: peak RSS
    python benchmarks/bench_memory.py --device cuda       # GPU: torch.cuda.max_memory_allocated
    python benchmarks/bench_memory.py --config gdas --config 'msg_das:{"k": 3}' --space nb201

A configuration is a registered method name plus its `method_args` (JSON): add a method to `CONFIGS`
with one line. Each worker builds the real-sized supernet (DARTS space C = 16, 8 layers; NB201 C = 16,
N = 5) with the method's mixer, takes `--steps` `Method.step`s on random 32x32 batches of `--batch`
images (train and α batch alike), and reports the peak over the steps minus the memory held before them
(weights, optimiser state, the interpreter: "step peak"), and the whole-process peak. Every method runs
with the same `TrainConfig` (batch, optimiser) so only the method differs; the table prints ratios to the
first configuration (darts). Nothing is asserted: the numbers depend on the machine and allocator.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from typing import Any

#: (method, method_args) in table order; the first is the reference of the ratios.
CONFIGS: list[tuple[str, dict[str, Any]]] = [
    ("darts", {}),
    ("gdas", {}),
    ("msg_das", {"k": 1}),
    ("msg_das", {"k": 2}),
    ("msg_das", {"k": 3}),
    ("msg_das", {"k": 4}),
    ("pc_darts", {"warmup_epochs": 0}),  # after its warm-up: the α step runs too
    ("drnas", {}),
    ("drnas", {"k": 4}),  # its DARTS-family partial channels
    ("sdarts_rs", {}),
    ("sdarts_adv", {}),
    ("beta_darts", {}),
]
#: Real-sized search networks per space (DARTS' and NAS-Bench-201's search settings).
NETWORKS: dict[str, dict[str, Any]] = {
    "darts": {"channels": 16, "layers": 8},
    "nb201": {"channels": 16, "cells_per_stage": 5},
}


def worker(method: str, args: dict[str, Any], space: str, batch: int, steps: int, device_name: str) -> dict[str, float]:
    """In this (fresh) process: build, step, and measure. Returns MiB figures."""
    import torch

    from nasbench_harness.config import RunConfig, TrainConfig
    from nasbench_harness.methods import get_method_class
    from nasbench_harness.spaces import get_space

    torch.set_num_threads(1)
    torch.manual_seed(0)
    device = torch.device(device_name)
    cls = get_method_class(method)
    config = RunConfig(
        method=method,
        space=space,
        dataset="cifar10",
        seed=0,
        train=TrainConfig(batch_size=batch),
        method_args=args,
        network=NETWORKS[space],
    )
    parsed = cls.Args.model_validate(args)
    net = get_space(space).build_supernet(num_classes=10, mixer=cls.mixer(parsed), **NETWORKS[space]).to(device)
    m = cls(net, config, device)
    m.set_epoch(0, config.train.lr)

    def batch_of(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(seed)
        x, y = torch.randn(batch, 3, 32, 32, generator=g), torch.randint(0, 10, (batch,), generator=g)
        return x.to(device), y.to(device)

    batches = [(batch_of(2 * s), batch_of(2 * s + 1)) for s in range(steps)]
    mib = 1024.0**2
    if device.type == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated() / mib
        torch.cuda.reset_peak_memory_stats()
    else:
        before = _current_rss_mib()
    for train, valid in batches:
        m.step(train, valid)
    if device.type == "cuda":
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() / mib
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    return {"before_mib": before, "peak_mib": peak, "step_peak_mib": peak - before}


def _current_rss_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 1024.0**2


def label(method: str, args: dict[str, Any]) -> str:
    return method + (" " + ", ".join(f"{k}={v}" for k, v in args.items()) if args else "")


def measure(method: str, args: dict[str, Any], space: str, batch: int, steps: int, device: str) -> dict[str, float]:
    command = [sys.executable, __file__, "--worker", json.dumps([method, args, space, batch, steps, device])]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{label(method, args)} on {space} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def parse_config(text: str) -> tuple[str, dict[str, Any]]:
    method, _, raw = text.partition(":")
    try:
        args = json.loads(raw) if raw else {}
    except json.JSONDecodeError as err:
        raise SystemExit(f"--config {text!r}: method_args after ':' must be a JSON object ({err})") from None
    if not isinstance(args, dict):
        raise SystemExit(f"--config {text!r}: method_args after ':' must be a JSON object, got {raw}")
    return method, args


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--config", action="append", help="METHOD or METHOD:JSON_ARGS (repeatable)")
    parser.add_argument("--space", action="append", choices=sorted(NETWORKS), help="default: darts and nb201")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    opts = parser.parse_args()
    if opts.worker:
        print(json.dumps(worker(*json.loads(opts.worker))))
        return
    configs = [parse_config(c) for c in opts.config] if opts.config else CONFIGS
    spaces = opts.space or list(NETWORKS)
    kind = "peak RSS" if opts.device == "cpu" else "max_memory_allocated"
    print(f"{kind}, batch {opts.batch}, {opts.steps} steps, device {opts.device}; ratios to {label(*configs[0])}")
    print("| space | method | step peak (MiB) | ratio | process peak (MiB) |")
    print("|---|---|---|---|---|")
    for space in spaces:
        reference = None
        for method, args in configs:
            row = measure(method, args, space, opts.batch, opts.steps, opts.device)
            reference = reference or row["step_peak_mib"]
            step, ratio, peak = row["step_peak_mib"], row["step_peak_mib"] / reference, row["peak_mib"]
            print(f"| {space} | {label(method, args)} | {step:.0f} | {ratio:.2f} | {peak:.0f} |", flush=True)


if __name__ == "__main__":
    main()
