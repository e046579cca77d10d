"""Search methods: `get_method_class(name)` / `list_methods()`; a new method is one module here.

Every module in this package is imported, so `@register_method` is all a new method needs.
"""

from nasbench_harness.methods.base import (
    CONTINUE,
    EpochDecision,
    Method,
    get_method_class,
    list_methods,
    register_method,
)
from nasbench_harness.registry import import_submodules

import_submodules(__name__, __path__)

__all__ = ["CONTINUE", "EpochDecision", "Method", "get_method_class", "list_methods", "register_method"]
