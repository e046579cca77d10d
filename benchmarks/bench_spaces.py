"""One first-order DARTS search step, as a run takes it, against xautodl's reference, in one process.

Run (benchmarks are skipped in the normal test run; never run them next to tests on a small machine):

    python -m pytest benchmarks/bench_spaces.py --benchmark-enable --benchmark-only -p no:randomly -s

The steps come from `nasbench_harness.bench.steps` (what `nasbench bench` times). What is timed is the code
that runs: `Method.step` of the registered `darts` method, built as the
runner builds it (`expand_suite` applies the space's defaults, the supernet comes from the space
registry with the method's mixer, the method class from the method registry), at full size (C=16;
NB201 N=5, DARTS space 8 cells), batch 64 of 32x32 inputs. Variants of ours differ only in
`network:` options a suite can set: `fast` (the defaults: fused cells, channels-last), `fused_cf`
(fused, channels-first) and `op_by_op` (`fused: false, channels_last: false`, the original layout).

The reference is xautodl's own search network with the DARTS-V1 step written as
`exps/NAS-Bench-201-algos/DARTS-V1.py` (`search_func`) does it: weight step (`loss.backward()`,
`clip_grad_norm_(network.parameters(), 5)`, SGD momentum 0.9 Nesterov) then α step
(`loss.backward()`, Adam on α), with `.item()` on both losses. NB201: `TinyNetworkDarts(16, 5, 4, ...)`
(`configs/nas-benchmark/algos/DARTS.config`); DARTS space: `NASNetworkDARTS` (`nasnet-super`,
`configs/search-archs/DARTS-NASNet-CIFAR.config`: C=16, N=2, 4 steps, multiplier 4, stem 3).

Variants are interleaved: each round takes one step of every variant in turn, so machine noise hits
them alike; the figure per variant is the minimum over rounds, and only ratios are reported (printed
table and each benchmark's `extra_info`). Nothing is asserted about speed. Environment:
NASBENCH_BENCH_THREADS (default 1), NASBENCH_BENCH_ROUNDS (default 5), NASBENCH_BENCH_DEVICE (cpu;
`cuda` synchronises after each step).
"""

from __future__ import annotations

import os
import time

import pytest
import torch

from nasbench_harness.bench import steps as S

ROUNDS = int(os.environ.get("NASBENCH_BENCH_ROUNDS", "5"))
THREADS = int(os.environ.get("NASBENCH_BENCH_THREADS", "1"))
DEVICE = torch.device(os.environ.get("NASBENCH_BENCH_DEVICE", "cpu"))
#: Suite `network:` options per variant of ours.
OURS = {"fast": {}, "fused_cf": {"channels_last": False}, "op_by_op": {"fused": False, "channels_last": False}}
BASELINES = ("xautodl", "op_by_op")
BATCH, SIZE = 64, S.SIZE


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_search_step(benchmark, space: str) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        config = S.run_config("darts", space)
        steps = {
            "xautodl": S.reference("darts", space, DEVICE, config.train.batch_size),
            **{name: S.ours(config, DEVICE, network) for name, network in OURS.items()},
        }
        seconds: dict[str, list[float]] = {name: [] for name in steps}

        def one_round() -> None:
            for name, step in steps.items():
                start = time.perf_counter()
                step()
                seconds[name].append(time.perf_counter() - start)

        benchmark.group = f"{space} search step (one round = one step of each variant)"
        benchmark.pedantic(one_round, rounds=ROUNDS, warmup_rounds=1, iterations=1)
    finally:
        torch.set_num_threads(threads)
    # pedantic's warm-up round is the first entry of each list.
    best = {name: min(values[1:]) for name, values in seconds.items()}
    where = f"{THREADS} thread(s)" if DEVICE.type == "cpu" else torch.cuda.get_device_name(DEVICE)
    lines = [f"\n{space}: one DARTS step, batch {BATCH}, {SIZE}x{SIZE}, {where}, min of {ROUNDS} interleaved rounds"]
    for name, value in best.items():
        ratios = {f"speedup_vs_{b}": best[b] / value for b in BASELINES if b != name}
        benchmark.extra_info[f"{name}_seconds"] = value
        benchmark.extra_info.update({f"{name}_{k}": round(v, 3) for k, v in ratios.items()})
        shown = ", ".join(f"{v:.2f}x vs {k.removeprefix('speedup_vs_')}" for k, v in ratios.items())
        lines.append(f"  {name:<9} {value:7.3f} s   {shown}")
    print("\n".join(lines))
