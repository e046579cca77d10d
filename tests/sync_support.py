"""`count_host_syncs()`: counts the calls our code makes that would make the host wait for the GPU.

Patches the Tensor methods that read a value back to the host (`item`, `tolist`, `__bool__`, `__float__`,
`__int__`, `__index__`, `cpu`, `numpy`, `nonzero`) and records each call whose *immediate caller* is a
module of nasbench_harness. Calls inside torch itself are not ours to remove (a non-capturable Adam reads its
CPU step counter with `.item()`, which never waits for the GPU); on a GPU `torch.cuda.set_sync_debug_mode`
checks everything (tests/gpu/test_sync_free_cuda.py). Works on CPU, where nothing can be synchronised.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Iterator
from pathlib import Path

import torch

import nasbench_harness

PACKAGE = str(Path(nasbench_harness.__file__).parent)
READS = ("item", "tolist", "__bool__", "__float__", "__int__", "__index__", "cpu", "numpy", "nonzero")


@contextlib.contextmanager
def count_host_syncs() -> Iterator[list[str]]:
    """Yields the list that collects "file:line name" of every read-back made by our code."""
    calls: list[str] = []
    originals = {name: getattr(torch.Tensor, name) for name in READS}

    def counting(name: str, original):
        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            caller = sys._getframe(1)
            if caller.f_code.co_filename.startswith(PACKAGE):
                calls.append(f"{caller.f_code.co_filename}:{caller.f_lineno} {name}")
            return original(*args, **kwargs)

        return wrapper

    for name, original in originals.items():
        setattr(torch.Tensor, name, counting(name, original))
    try:
        yield calls
    finally:
        for name, original in originals.items():
            setattr(torch.Tensor, name, original)
