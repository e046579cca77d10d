"""`nasbench bench`: step time, extrapolated epoch time and peak memory per (method, space), ours against
xautodl's reference in the same process.

Timing: every step to compare is built first, then each round takes one step of every variant in turn
(interleaved, after one warm-up step each), so machine load hits them alike; the figure is the minimum over
rounds (the median is kept too). Epoch time is the step time × the weight steps of one epoch of the real
protocol on full CIFAR-10 (`steps.steps_per_epoch`): an extrapolation, not a measured epoch (data loading,
evaluation and metrics are not in it).

A seed pack's variant (`pack` runs) is timed one round of the real pack driver per call (bench/packed.py),
in the same interleaved rounds; its row sets the round against the run alone's step (round / runs).

Peak memory is measured in a fresh subprocess per variant, so variants cannot inflate each other's peaks:
CPU, the growth of the peak resident set (`VmHWM`, else `getrusage` maxrss) from before the network is built
to after the steps (Python heap tracers do not see torch's allocations); CUDA, `torch.cuda.max_memory_allocated`.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch

from nasbench_harness.bench import steps as S
from nasbench_harness.bench.packed import PackRounds
from nasbench_harness.engine import fast_path
from nasbench_harness.errors import HarnessError


@dataclass(frozen=True)
class Variant:
    """One thing to time: our method's step (`reference=False`), the pair's xautodl reference, or one round
    of a seed pack of `pack` runs of our method (`pack_mode`: engine/packed.py's modes)."""

    method: str
    space: str
    reference: bool = False
    pack: int = 0
    pack_mode: str = "interleaved"

    @property
    def name(self) -> str:
        if self.pack:
            return f"{self.method}/{self.space} (pack of {self.pack}, {self.pack_mode})"
        return f"{self.method}/{self.space}" + (" (xautodl)" if self.reference else "")


def build_step(variant: Variant, device: torch.device, profile: str | None, calls: int) -> S.Step:
    """The variant's step, to be called `calls` times (a pack's sessions request exactly that many rounds)."""
    config = S.run_config(variant.method, variant.space, profile)
    if variant.reference:
        return S.reference(variant.method, variant.space, device, config.train.batch_size, profile)
    if variant.pack:
        return S.pack(config, variant.pack, variant.pack_mode, device, calls)
    return S.ours(config, device)


def variants(
    methods: list[str], spaces: list[str], pack: int = 0, pack_modes: tuple[str, ...] = ("interleaved",)
) -> list[Variant]:
    """Ours for every pair, each followed by its reference where xautodl has one, then (with `pack`) a pack of
    that many runs per mode."""
    out = []
    for space in spaces:
        for method in methods:
            out.append(Variant(method, space))
            if (method, space) in S.REFERENCES:
                out.append(Variant(method, space, reference=True))
            if pack:
                out.extend(Variant(method, space, pack=pack, pack_mode=mode) for mode in pack_modes)
    return out


def warmup_steps(device: torch.device) -> int:
    """Untimed steps before the rounds: one, and on CUDA enough for the fast path's eager warm-up and capture."""
    return fast_path.WARMUP_STEPS + 1 if device.type == "cuda" else 1


def time_interleaved(steps: dict[str, S.Step], rounds: int, warmup: int = 1) -> dict[str, list[float]]:
    """Seconds per step of each variant over `rounds` interleaved rounds, after `warmup` untimed steps each."""
    for _ in range(warmup):
        for step in steps.values():
            step()
    seconds: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            seconds[name].append(time.perf_counter() - start)
    return seconds


def _max_rss_bytes() -> int:
    """This process's peak resident set. Linux: VmHWM, which exec resets (getrusage's maxrss is inherited
    from the parent across fork and exec, so a child of a large process would report the parent's peak)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux, bytes on macOS
    return rss if sys.platform == "darwin" else rss * 1024


def measure_memory(variant: Variant, device: torch.device, profile: str | None, steps: int = 1) -> int:
    """Peak memory of `steps` steps (pack: rounds) of `variant` in this process (call it in a fresh one: see
    module doc)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    before = _max_rss_bytes()
    step = build_step(variant, device, profile, steps)
    for _ in range(steps):
        step()
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return _max_rss_bytes() - before


def peak_memory(variant: Variant, device: torch.device, profile: str | None, threads: int) -> int:
    """`measure_memory` in a fresh Python process."""
    spec = json.dumps({**asdict(variant), "device": str(device), "profile": profile, "threads": threads})
    done = subprocess.run(
        [sys.executable, "-m", "nasbench_harness.bench.memory", spec],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    if done.returncode != 0:
        raise HarnessError(f"the peak-memory subprocess for {variant.name} failed:\n{done.stderr.strip()[-2000:]}")
    return int(json.loads(done.stdout.strip().splitlines()[-1])["peak_bytes"])


def environment(device: torch.device, threads: int) -> dict[str, Any]:
    cuda = device.type == "cuda"
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if cuda else (platform.processor() or platform.machine()),
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda,
        "python_version": platform.python_version(),
        "host": platform.node(),
        "cpu_threads": threads,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def bench(
    methods: list[str],
    spaces: list[str],
    device: torch.device,
    rounds: int = 5,
    profile: str | None = None,
    threads: int = 1,
    memory: bool = True,
    pack: int = 0,
    pack_modes: tuple[str, ...] = ("interleaved",),
) -> dict[str, Any]:
    """Timings per variant; per pair with a reference, our speed-up over it (reference time / ours); per pack,
    the run alone's step time over the pack's time per run-step (round / runs: > 1 means packing pays)."""
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    warmup = warmup_steps(device)
    built: dict[str, S.Step] = {}
    try:
        chosen = variants(methods, spaces, pack, pack_modes)
        # Memory first, while this process is small (its children start from nothing of it either way).
        peaks = {v.name: peak_memory(v, device, profile, threads) if memory else None for v in chosen}
        built = {v.name: build_step(v, device, profile, warmup + rounds) for v in chosen}
        seconds = time_interleaved(built, rounds, warmup)
    finally:
        torch.set_num_threads(previous_threads)
        for step in built.values():
            if isinstance(step, PackRounds):
                step.close()  # ended already unless the timing failed
    rows = []
    for v in chosen:
        config = S.run_config(v.method, v.space, profile)
        per_epoch = S.steps_per_epoch(config)
        if v.pack:
            rows.append(_pack_row(v, config, seconds, per_epoch, peaks[v.name], built[v.name]))  # type: ignore[arg-type]
            continue
        best = min(seconds[v.name])
        row: dict[str, Any] = {
            "variant": v.name,
            "method": v.method,
            "space": v.space,
            "reference": S.REFERENCES[(v.method, v.space)].label if v.reference else None,
            "batch_size": config.train.batch_size,
            "step_seconds": best,
            "step_seconds_median": statistics.median(seconds[v.name]),
            "step_seconds_all": seconds[v.name],
            "steps_per_epoch": per_epoch,
            "epoch_seconds_extrapolated": best * per_epoch,
            "peak_memory_bytes": peaks[v.name],
        }
        if not v.reference and (v.method, v.space) in S.REFERENCES:
            row["speedup_vs_xautodl"] = min(seconds[Variant(v.method, v.space, True).name]) / best
        rows.append(row)
    return {
        "environment": environment(device, threads),
        "rounds": rounds,
        "warmup_steps": warmup,
        "profile": profile,
        "timing": "min over interleaved rounds after the warm-up steps; epoch = step x steps_per_epoch "
        "(extrapolated, full CIFAR-10 under the run's split protocol); a pack's step is one round of the real "
        "PackDriver (one step of each of its runs), its step_seconds the round / runs, its epoch the round x "
        "steps_per_epoch (one epoch of every run)",
        "peak_memory": "cuda: torch.cuda.max_memory_allocated; cpu: peak RSS growth from before the build, "
        "fresh subprocess per variant (a pack: all its runs, one round)",
        "rows": rows,
    }


def _pack_row(
    v: Variant,
    config: Any,
    seconds: dict[str, list[float]],
    per_epoch: int,
    peak: int | None,
    rounds: PackRounds,
) -> dict[str, Any]:
    best = min(seconds[v.name])
    alone = min(seconds[Variant(v.method, v.space).name])
    return {
        "variant": v.name,
        "method": v.method,
        "space": v.space,
        "reference": None,
        "batch_size": config.train.batch_size,
        "pack_seeds": v.pack,
        "pack_mode": v.pack_mode,
        "packing": rounds.packing,
        "pack_messages": rounds.messages,
        "round_seconds": best,
        "round_seconds_median": statistics.median(seconds[v.name]),
        "round_seconds_all": seconds[v.name],
        "step_seconds": best / v.pack,
        "step_seconds_median": statistics.median(seconds[v.name]) / v.pack,
        "alone_step_seconds": alone,
        "speedup_vs_alone": alone / (best / v.pack),
        "steps_per_epoch": per_epoch,
        "epoch_seconds_extrapolated": best * per_epoch,
        "peak_memory_bytes": peak,
    }


def table(report: dict[str, Any]) -> str:
    env = report["environment"]
    lines = [
        f"{env['device_name']} ({env['device']}), torch {env['torch_version']}, CUDA {env['cuda_version']}, "
        f"{env['date']}; min of {report['rounds']} interleaved rounds; epoch extrapolated from steps/epoch",
        f"{'variant':<40} {'batch':>5} {'s/round':>9} {'s/step':>9} {'steps/ep':>8} {'s/epoch':>9} {'peak MiB':>9} "
        f"{'vs xautodl':>10} {'vs alone':>8}",
    ]
    for row in report["rows"]:
        memory = "" if row["peak_memory_bytes"] is None else f"{row['peak_memory_bytes'] / 2**20:.0f}"
        ratio = f"{row['speedup_vs_xautodl']:.2f}x" if "speedup_vs_xautodl" in row else ""
        per_round = f"{row['round_seconds']:.4f}" if "round_seconds" in row else ""
        alone = f"{row['speedup_vs_alone']:.2f}x" if "speedup_vs_alone" in row else ""
        lines.append(
            f"{row['variant']:<40} {row['batch_size']:>5} {per_round:>9} {row['step_seconds']:>9.4f} "
            f"{row['steps_per_epoch']:>8} {row['epoch_seconds_extrapolated']:>9.1f} {memory:>9} {ratio:>10} {alone:>8}"
        )
    if any("round_seconds" in row for row in report["rows"]):
        lines.append(
            "pack: s/step = s/round / runs; s/epoch = one epoch of every run; vs alone = run alone's s/step "
            "/ pack's (> 1: packing pays)"
        )
    return "\n".join(lines)
