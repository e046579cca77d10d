"""A tiny name → factory registry shared by spaces, datasets, methods and executors (timm's @register_model).

A package holding registered items imports all its modules (`import_submodules`), so adding one is one
file with the decorator: no list of imports to extend.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from nasbench_harness.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(item: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = item
            return item

        return decorator

    def names(self) -> list[str]:
        return sorted(self._items)

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise ConfigError(unknown_name_message(self.kind, name, self.names())) from None

    def __contains__(self, name: object) -> bool:
        return name in self._items


def unknown_name_message(kind: str, name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"unknown {kind} {name!r}.{hint} Known {kind}s: {', '.join(known)}."


def import_submodules(package: str, path: Iterable[str]) -> list[str]:
    """Import every module of `package` (its `__path__`), in name order, so their decorators register;
    returns the module names. Called at the end of the package's `__init__`."""
    names = sorted(info.name for info in pkgutil.iter_modules(list(path)))
    for name in names:
        importlib.import_module(f"{package}.{name}")
    return names
