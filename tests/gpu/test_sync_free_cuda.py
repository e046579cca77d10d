"""On a GPU the search step loop never synchronises with the host: `torch.cuda.set_sync_debug_mode("error")`
turns any synchronising call (ours or torch's) inside the steps into an error.

Skipped without a GPU (CI has none); run on one with `pytest tests/gpu`.
"""

from __future__ import annotations

import pytest
import torch

from nasbench_harness.config import RunConfig, TrainConfig
from nasbench_harness.engine.runner import EpochFigures
from nasbench_harness.methods import get_method_class
from nasbench_harness.spaces import get_space
from nasbench_harness.testing import TINY_NETWORK, random_batch

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

CUDA = torch.device("cuda")


@pytest.mark.parametrize("space", ["nb201", "darts"])
@pytest.mark.parametrize("method", ["darts", "darts_2nd"])
def test_cuda_step_loop_never_synchronises(method: str, space: str) -> None:
    cls = get_method_class(method)
    config = RunConfig(method=method, space=space, dataset="cifar10", seed=0, train=TrainConfig(batch_size=4))
    args = cls.Args.model_validate(config.method_args)
    torch.manual_seed(0)
    net = get_space(space).build_supernet(num_classes=10, mixer=cls.mixer(args), **TINY_NETWORK[space]).to(CUDA)
    m = cls(net, config, CUDA)
    m.set_epoch(0, config.train.lr)
    batches = [
        tuple((x.to(CUDA), y.to(CUDA)) for x, y in (random_batch(2 * i), random_batch(2 * i + 1))) for i in range(3)
    ]
    m.step(*batches[0])  # the first step allocates optimiser state
    torch.cuda.synchronize()
    figures = EpochFigures()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for train, valid in batches[1:]:
            figures.add(m.step(train, valid), train_n=len(train[1]), valid_n=len(valid[1]))
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert set(figures.means(0)) >= {"train_loss", "valid_loss"}
