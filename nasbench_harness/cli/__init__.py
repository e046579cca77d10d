"""Command-line interface: thin wrappers that parse, call one function and print.

Every module in this package registers its commands on `main` when imported, so a new command is
one new file.
"""

import importlib
import pkgutil

from nasbench_harness.cli.app import main

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "app":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["main"]
