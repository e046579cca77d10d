"""Atomic, weights-only checkpoints holding everything a resumed run needs to end identically."""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nasbench_harness.fileio import atomic_write_bytes


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {
        "python": list(_python_state()),
        "numpy": _numpy_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np_state = state["numpy"]
    np.random.set_state(
        (
            np_state["kind"],
            np.asarray(np_state["keys"], dtype=np.uint32),
            np_state["pos"],
            np_state["has_gauss"],
            np_state["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _python_state() -> tuple[int, list[int], float | None]:
    version, internal, gauss = random.getstate()
    return version, list(internal), gauss


def _numpy_state() -> dict[str, Any]:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "kind": kind,
        "keys": torch.from_numpy(keys.astype(np.int64)),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached_gaussian": float(cached),
    }


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: Path, device: torch.device) -> dict[str, Any]:
    """The payload with its tensors on `device`, except the RNG states: `torch.set_rng_state` takes only a
    CPU ByteTensor and NumPy cannot read a CUDA tensor, so they stay on the CPU (map_location=device
    would move them too, and every GPU resume and rollback would raise)."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    for key, value in payload.items():
        if key != "rng":
            payload[key] = _to_device(value, device)
    return payload


def _to_device(value: Any, device: torch.device) -> Any:
    """Tensors moved to `device`, in place in dicts and lists (a state dict keeps its `_metadata`)."""
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, dict):
        for key, item in value.items():
            value[key] = _to_device(item, device)
        return value
    if isinstance(value, list):
        value[:] = [_to_device(item, device) for item in value]
        return value
    if isinstance(value, tuple):
        return tuple(_to_device(item, device) for item in value)
    return value
