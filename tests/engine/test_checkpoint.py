"""Checkpoints: the RNG states come back on the CPU whatever device the rest is mapped to."""

from __future__ import annotations

import random

import numpy as np
import torch

from nasbench_harness.engine.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state


def draws() -> tuple[float, float, list[float]]:
    return random.random(), float(np.random.rand()), torch.rand(3).tolist()


def test_rng_state_restores_from_a_checkpoint_mapped_to_another_device(tmp_path):
    """`meta` stands in for CUDA: tensors mapped there hold no data, so an RNG state mapped with them
    cannot be restored (as a CUDA one cannot by torch.set_rng_state or NumPy)."""
    torch.manual_seed(0)
    net = torch.nn.Linear(2, 2)
    save_checkpoint(
        tmp_path / "c.pt", {"net": net.state_dict(), "method": {"history": [torch.ones(1)]}, "rng": rng_state()}
    )
    expected = draws()

    payload = load_checkpoint(tmp_path / "c.pt", torch.device("meta"))
    assert payload["net"]["weight"].device.type == "meta"
    assert payload["method"]["history"][0].device.type == "meta"
    assert hasattr(payload["net"], "_metadata")  # load_state_dict's version information survives the move
    assert payload["rng"]["torch"].device.type == "cpu"
    set_rng_state(payload["rng"])
    assert draws() == expected
