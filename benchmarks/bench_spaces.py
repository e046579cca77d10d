"""One first-order DARTS search step on the supernets: fast path vs op by op vs xautodl.

Run (benchmarks are skipped in the normal test run; never run them next to tests on a small machine):

    python -m pytest benchmarks/bench_spaces.py --benchmark-enable --benchmark-only -p no:randomly

A step = α step (forward + backward on a validation batch, Adam on α) then weight step (forward +
backward on a training batch, grad-norm clip 5, SGD with momentum), batch 64 of 32x32 inputs, as in
DARTS' `train_search.py`. Variants:

- `xautodl`: NAS-Bench-201's own `TinyNetworkDarts` (C=16, N=5), both backward passes in full;
- `naive`: our supernet op by op (`fused=False, channels_last=False`, the original code path);
- `naive_cl`: op by op with channels-last activations (what the memory format alone buys);
- `fused_cf`: fused cells with channels-first activations (what fusion alone buys);
- `fast`: the default supernet (fused cells, channels-last), both backward passes in full;
- `fast_lean`: the default supernet with the lean step (`lean_step`): the α step asks autograd for
  ∂L/∂α only and the weight step detaches the mixing weights, so neither computes gradients the
  step throws away.

Ratios (min over rounds of the baseline / min of the variant) are printed at the end and stored in
each benchmark's `extra_info`. Environment: NASBENCH_BENCH_THREADS (default: torch's),
NASBENCH_BENCH_ROUNDS (default 3) and NASBENCH_BENCH_DEVICE (default cpu; `cuda` times the same
steps on a GPU, synchronising after each).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from nasbench_harness.spaces import Supernet, get_space

BATCH, SIZE, CLASSES = 64, 32, 10
ROUNDS = int(os.environ.get("NASBENCH_BENCH_ROUNDS", "3"))
THREADS = int(os.environ.get("NASBENCH_BENCH_THREADS", str(torch.get_num_threads())))
DEVICE = torch.device(os.environ.get("NASBENCH_BENCH_DEVICE", "cpu"))

#: (space, variant) → min seconds per step; read by the report at the end of the module.
RESULTS: dict[tuple[str, str], float] = {}
BASELINES = {"nb201": ("xautodl", "naive"), "darts": ("naive",)}

Step = Callable[[], None]


def batches() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(0)
    x_train, x_valid = (torch.randn(BATCH, 3, SIZE, SIZE, generator=g) for _ in range(2))
    y_train, y_valid = (torch.randint(0, CLASSES, (BATCH,), generator=g) for _ in range(2))
    return x_train.to(DEVICE), y_train.to(DEVICE), x_valid.to(DEVICE), y_valid.to(DEVICE)


def synchronise() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)


def optimizers(weights: list[nn.Parameter], alphas: list[nn.Parameter]):
    w_opt = torch.optim.SGD(weights, 0.025, momentum=0.9, weight_decay=3e-4)
    a_opt = torch.optim.Adam(alphas, 3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    return w_opt, a_opt


def plain_step(logits: Callable[[Tensor], Tensor], weights: list, alphas: list) -> Step:
    """The step as the original code writes it: `loss.backward()` for both updates."""
    x_train, y_train, x_valid, y_valid = batches()
    w_opt, a_opt = optimizers(weights, alphas)

    def step() -> None:
        a_opt.zero_grad()
        F.cross_entropy(logits(x_valid), y_valid).backward()
        a_opt.step()
        w_opt.zero_grad()
        F.cross_entropy(logits(x_train), y_train).backward()
        nn.utils.clip_grad_norm_(weights, 5.0)
        w_opt.step()
        synchronise()

    return step


def lean_step(net: Supernet) -> Step:
    """The same updates, computing only the gradients each one uses.

    α step: `torch.autograd.grad(loss, alphas)` skips every weight-gradient kernel (about a third
    of a convolution's backward). Weight step: the mixing weights enter detached, so no α gradient
    (one reduction per op output) is built. A method can adopt this as is.
    """
    x_train, y_train, x_valid, y_valid = batches()
    weights, alphas = net.weight_parameters(), net.arch_parameters()
    w_opt, a_opt = optimizers(weights, alphas)

    def step() -> None:
        grads = torch.autograd.grad(F.cross_entropy(net(x_valid), y_valid), alphas)
        for alpha, grad in zip(alphas, grads):
            alpha.grad = grad
        a_opt.step()
        w_opt.zero_grad()
        mixing = {t: w.detach() for t, w in net.softmax_weights().items()}
        F.cross_entropy(net(x_train, mixing), y_train).backward()
        nn.utils.clip_grad_norm_(weights, 5.0)
        w_opt.step()
        synchronise()

    return step


def ours(space: str, variant: str) -> Step:
    torch.manual_seed(0)
    options = {
        "naive": {"fused": False, "channels_last": False},
        "naive_cl": {"fused": False, "channels_last": True},
        "fused_cf": {"fused": True, "channels_last": False},
        "fast": {},
        "fast_lean": {},
    }[variant]
    net = get_space(space).build_supernet(num_classes=CLASSES, **options).to(DEVICE)
    if variant == "fast_lean":
        return lean_step(net)
    return plain_step(net, net.weight_parameters(), net.arch_parameters())


def xautodl_nb201() -> Step:
    pytest.importorskip("xautodl")
    from xautodl.models.cell_operations import NAS_BENCH_201
    from xautodl.models.cell_searchs.search_model_darts import TinyNetworkDarts

    torch.manual_seed(0)
    net = TinyNetworkDarts(16, 5, 4, CLASSES, NAS_BENCH_201, False, False).to(DEVICE)
    return plain_step(lambda x: net(x)[1], net.get_weights(), net.get_alphas())


@pytest.fixture(scope="module", autouse=True)
def report(request: pytest.FixtureRequest):
    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    yield
    torch.set_num_threads(threads)
    terminal = request.config.pluginmanager.get_plugin("terminalreporter")
    if terminal is None or not RESULTS:
        return
    where = f"{THREADS} threads" if DEVICE.type == "cpu" else torch.cuda.get_device_name(DEVICE)
    lines = ["", f"search step, batch {BATCH}, {SIZE}x{SIZE}, {where}, min of {ROUNDS} rounds:"]
    for (space, variant), seconds in RESULTS.items():
        ratios = [f"{RESULTS[(space, b)] / seconds:.2f}x vs {b}" for b in BASELINES[space] if (space, b) in RESULTS]
        lines.append(f"  {space:<6} {variant:<10} {seconds:7.3f} s   {', '.join(ratios)}")
    with request.config.pluginmanager.get_plugin("capturemanager").global_and_fixture_disabled():
        for line in lines:
            terminal.write_line(line)


def run(benchmark, space: str, variant: str, step: Step) -> None:
    benchmark.group = f"{space} search step"
    benchmark.pedantic(step, rounds=ROUNDS, warmup_rounds=1, iterations=1)
    RESULTS[(space, variant)] = benchmark.stats.stats.min
    for baseline in BASELINES[space]:
        if (space, baseline) in RESULTS and baseline != variant:
            benchmark.extra_info[f"speedup_vs_{baseline}"] = RESULTS[(space, baseline)] / RESULTS[(space, variant)]


def test_nb201_xautodl(benchmark):
    run(benchmark, "nb201", "xautodl", xautodl_nb201())


@pytest.mark.parametrize("variant", ["naive", "naive_cl", "fused_cf", "fast", "fast_lean"])
def test_nb201_ours(benchmark, variant):
    run(benchmark, "nb201", variant, ours("nb201", variant))


@pytest.mark.parametrize("variant", ["naive", "naive_cl", "fused_cf", "fast", "fast_lean"])
def test_darts_ours(benchmark, variant):
    run(benchmark, "darts", variant, ours("darts", variant))
