"""`require(module)`: import a reference or optional package (xautodl, nats_bench, nas_201_api, ray, submitit).

Outside CI a missing package skips the test that needs it; under `CI=true` it fails, so a CI job
without the reference code cannot pass by checking nothing. Imported by name from any test directory
(the root conftest puts `tests/` on `sys.path`).
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

#: The packages the parity tests compare against, with what provides them.
REFERENCE_PACKAGES = {
    "xautodl": "pip install xautodl (NAS-Bench-201's search and cell code)",
    "nats_bench": "pip install nats_bench (the NATS-Bench API)",
    "nas_201_api": "pip install nas-bench-201 (the NAS-Bench-201 API)",
    "ray": "pip install -e '.[ray]' (the ray executor)",
    "submitit": "pip install -e '.[slurm]' (the slurm executor)",
}


def in_ci() -> bool:
    """CI=true (or any value but empty, 0, false, no)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require(module: str) -> ModuleType:
    """The imported module; skip without it, or fail under CI."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        top = module.split(".")[0]
        message = f"reference package {module!r} cannot be imported ({error}); {REFERENCE_PACKAGES.get(top, top)}"
    if in_ci():
        pytest.fail(f"CI=true needs every reference package: {message}", pytrace=False)
    pytest.skip(message)
