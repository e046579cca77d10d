"""CUDA parity: what the CPU tests prove against the reference code must hold on a GPU too.

Skipped without a GPU (CI has none); run on one with `pytest tests/gpu`. The chain of evidence is
xautodl == ours on CPU (tests/spaces) and ours on CPU == ours on CUDA (here), in float64.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from nasbench_harness.data import PairedBatches, load_dataset, search_split
from nasbench_harness.metrics.hessian import dominant_eigenvalue
from nasbench_harness.spaces import get_space, list_spaces
from nasbench_harness.testing import TINY_NETWORK

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

CUDA = torch.device("cuda")


def build(space: str, **options):
    torch.manual_seed(0)
    net = get_space(space).build_supernet(num_classes=10, **{**TINY_NETWORK[space], **options})
    with torch.no_grad():
        for alpha in net.arch_parameters():
            alpha.normal_(0, 1)
    return net.double()


def logits_and_grads(net, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    loss = F.cross_entropy(net(x), y)
    params = net.arch_parameters() + net.weight_parameters()
    return net(x).detach().cpu(), [g.cpu() for g in torch.autograd.grad(loss, params)]


#: S4's `noise` op draws from the device's own generator, so its outputs differ between devices by design.
DETERMINISTIC_SPACES = [space for space in list_spaces() if space != "s4"]


@pytest.mark.parametrize("space", DETERMINISTIC_SPACES)
@pytest.mark.parametrize("fused", [True, False], ids=["fast", "op_by_op"])
def test_cuda_matches_cpu(space, fused):
    options = {"fused": fused, "channels_last": fused}
    cpu = build(space, **options)
    gpu = build(space, **options).to(CUDA)
    gpu.load_state_dict(cpu.state_dict())
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(4, 3, 16, 16, generator=g, dtype=torch.float64), torch.randint(0, 10, (4,), generator=g)
    ref_logits, ref_grads = logits_and_grads(cpu, x, y)
    logits, grads = logits_and_grads(gpu, x.to(CUDA), y.to(CUDA))
    torch.testing.assert_close(logits, ref_logits, rtol=1e-9, atol=1e-9)
    for got, want in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("space", ["nb201", "s2"])
def test_eigenvalue_on_cuda_matches_cpu(space):
    cpu = build(space)
    gpu = build(space).to(CUDA)
    gpu.load_state_dict(cpu.state_dict())
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(4, 3, 16, 16, generator=g, dtype=torch.float64), torch.randint(0, 10, (4,), generator=g)
    exact_cpu = dominant_eigenvalue(cpu, (x, y), "exact").value
    exact_gpu = dominant_eigenvalue(gpu, (x.to(CUDA), y.to(CUDA)), "exact").value
    fast_gpu = dominant_eigenvalue(gpu, (x.to(CUDA), y.to(CUDA)), "fast", tol=1e-8).value
    assert exact_gpu == pytest.approx(exact_cpu, rel=1e-7)
    assert fast_gpu == pytest.approx(exact_cpu, rel=1e-5)


def test_pipeline_on_cuda_matches_cpu(reference_data_dir: Path):
    ds = load_dataset("cifar10", reference_data_dir, download=False, limit_train=512)
    split = search_split(ds.num_train, "half", seed=0)
    cpu = PairedBatches(ds, split, batch_size=32, device="cpu", seed=3, cutout_prob=0.5)
    gpu = PairedBatches(ds, split, batch_size=32, device=CUDA, seed=3, cutout_prob=0.5)
    for ((xc, yc), (vc, wc)), ((xg, yg), (vg, wg)) in zip(cpu.epoch(1), gpu.epoch(1), strict=True):
        assert xg.device.type == "cuda" and xg.dtype == torch.float32
        torch.testing.assert_close(xg.cpu(), xc)
        torch.testing.assert_close(vg.cpu(), vc)
        assert torch.equal(yg.cpu(), yc) and torch.equal(wg.cpu(), wc)


def test_suite_runs_on_cuda(tmp_path: Path, reference_data_dir: Path):
    import json

    from nasbench_harness.engine import run_suite

    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "name: gpu\nprofile: tiny\nmethods: [darts, darts_2nd]\nspaces: [nb201, s3]\n"
        "datasets: [cifar10]\nseeds: [0]\nmetrics: {eigenvalue: fast}\n"
    )
    outcomes = run_suite(suite, results_dir=str(tmp_path / "results"), data_dir=str(reference_data_dir), device="cuda")
    assert [o.status for o in outcomes] == ["finished"] * 4, [o.reason for o in outcomes]
    for outcome in outcomes:
        metadata = json.loads((outcome.directory / "metadata.json").read_text())
        assert metadata["device"].startswith("cuda"), metadata["device"]
