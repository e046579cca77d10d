"""What `nasbench data status` reports: per dataset, whether its files are there and how many images."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from nasbench_harness.data.registry import get_spec, list_datasets
from nasbench_harness.datadir import resolve_data_dir
from nasbench_harness.errors import DataError


@dataclass(frozen=True)
class DatasetStatus:
    name: str
    path: Path
    counts: dict[str, int | None] = field(default_factory=dict)
    """Images per split (SVHN adds `extra`); None where the split's files are missing or unreadable."""
    missing: list[str] = field(default_factory=list)
    """Required files not found, relative to the data directory."""
    error: str | None = None
    """The first read error of a present file (corrupt, truncated, wrong format)."""

    @property
    def present(self) -> bool:
        return not self.missing and self.error is None


def dataset_status(data_dir: str | os.PathLike[str] | None = None) -> list[DatasetStatus]:
    """Check every registered dataset. Reads each present file to count images (so corrupt files show up)."""
    root = resolve_data_dir(data_dir)
    return [_status(name, root) for name in list_datasets()]


def _status(name: str, root: Path) -> DatasetStatus:
    spec = get_spec(name)
    counts: dict[str, int | None] = {}
    missing: list[str] = []
    error: str | None = None
    for group, files in spec.status_groups(root).items():
        absent = [path for path in files if not path.is_file()]
        missing += [str(path.relative_to(root)) for path in absent]
        counts[group] = None
        if absent:
            continue
        try:
            counts[group] = sum(spec.count_file(path) for path in files)
        except DataError as err:
            error = error or str(err)
    return DatasetStatus(name, root / spec.folder, counts, missing, error)
