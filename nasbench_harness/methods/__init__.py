"""Search methods: `get_method_class(name)` / `list_methods()`; a new method is one module here.

Every module in this package is imported, so `@register_method` is all a new method needs.
"""

import importlib
import pkgutil

from nasbench_harness.methods.base import (
    CONTINUE,
    EpochDecision,
    Method,
    get_method_class,
    list_methods,
    register_method,
)

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["CONTINUE", "EpochDecision", "Method", "get_method_class", "list_methods", "register_method"]
