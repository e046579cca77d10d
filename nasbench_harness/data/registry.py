"""Dataset specifications: what files a dataset needs, how to read one, and its constants.

A spec knows nothing about tensors or devices; `load_dataset` turns what it reads into a `Dataset`.
New datasets register with `@register_dataset("name")` on a `DatasetSpec` subclass.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import ClassVar, TypeVar

import numpy as np

from nasbench_harness.errors import ConfigError
from nasbench_harness.registry import Registry

DATASETS: Registry[DatasetSpec] = Registry("dataset")

SpecT = TypeVar("SpecT", bound="type[DatasetSpec]")


class DatasetSpec(ABC):
    """One dataset's on-disk layout, reader and normalisation constants (one instance per dataset)."""

    num_classes: ClassVar[int]
    image_size: ClassVar[int]
    crop_padding: ClassVar[int]
    mean: ClassVar[tuple[float, float, float]]
    std: ClassVar[tuple[float, float, float]]
    folder: ClassVar[str]
    """Sub-folder of the data directory the files live in (the name the official archive unpacks to)."""
    official_counts: ClassVar[Mapping[str, int]] = {}
    """Images each official file holds, by file name, so a partial copy keeps the official numbering
    (split files index images by it); files not listed count what they hold."""
    options: ClassVar[Mapping[str, bool]] = {}
    """Dataset-specific switches accepted by `load_dataset(**options)`, with their defaults."""

    def __init__(self, name: str) -> None:
        self.name = name

    @abstractmethod
    def split_files(self, root: Path, options: Mapping[str, bool]) -> dict[str, list[Path]]:
        """The files of the `train` and `test` splits, in reading order, under data directory `root`."""

    @abstractmethod
    def how_to_obtain(self) -> str:
        """How a user gets the files (command or manual steps), shown whenever they are missing."""

    @abstractmethod
    def read_file(self, path: Path) -> tuple[np.ndarray, np.ndarray]:
        """Images uint8 [N, 3, H, W] and int64 labels 0..num_classes-1 of one file; DataError if unreadable."""

    def count_file(self, path: Path) -> int:
        """Images a file contributes (for `nasbench data status`); formats that can skip pixels override it."""
        return len(self.read_file(path)[1])

    def status_groups(self, root: Path) -> dict[str, list[Path]]:
        """Files to count per row part of `nasbench data status`; optional parts only when present."""
        return self.split_files(root, self.resolve_options({}))

    def resolve_options(self, given: Mapping[str, object]) -> dict[str, bool]:
        unknown = sorted(set(given) - set(self.options))
        if unknown:
            known = ", ".join(self.options) or "none"
            raise ConfigError(f"dataset {self.name!r} has no option {unknown[0]!r} (its options: {known})")
        return {key: bool(given.get(key, default)) for key, default in self.options.items()}

    def missing_files(self, root: Path, options: Mapping[str, bool]) -> list[Path]:
        return [path for files in self.split_files(root, options).values() for path in files if not path.is_file()]


def register_dataset(name: str) -> Callable[[SpecT], SpecT]:
    """Class decorator: registers one instance of the spec under `name` and returns the class unchanged."""

    def decorator(cls: SpecT) -> SpecT:
        DATASETS.register(name)(cls(name))
        return cls

    return decorator


def get_spec(name: str) -> DatasetSpec:
    return DATASETS.get(name)


def list_datasets() -> list[str]:
    return DATASETS.names()
