"""The run engine: suite → run configs → executor → one self-describing directory per run.

The package's names load on first use (PEP 562), so that a method module can import `engine.stages`
without importing the runner and suite modules, which import the method registry themselves.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "RunOutcome": "nasbench_harness.engine.runner",
    "SearchRun": "nasbench_harness.engine.runner",
    "execute": "nasbench_harness.engine.runner",
    "run_suite": "nasbench_harness.engine.suite",
}

__all__ = list(_NAMES)


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_NAMES[name]), name)
