"""NAS-Bench-201 ground truth for derived cells: canonical indices, explicit protocols, provenance.

Every query names the dataset, the split and the epoch budget. Validation accuracy (the selection
metric) and test accuracy (the report metric) stay in separate fields; `cifar10` (trained on
train+valid) has no validation split and its valid field is None, never a substitute.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from nasbench_harness.datadir import resolve_data_dir
from nasbench_harness.errors import DataError, SpaceError
from nasbench_harness.groundtruth.nb201_backends import NB201Backend, open_backend
from nasbench_harness.groundtruth.nb201_spec import (
    CROSS_CHECK_EPOCHS,
    DATASETS,
    NB201_OPS,
    NO_VALID_SPLIT,
    NUM_ARCHS,
    SPLITS,
    check_dataset,
    check_epochs,
    check_split,
)
from nasbench_harness.registry import unknown_name_message
from nasbench_harness.spaces.genotype import DartsGenotype, NB201Genotype

ArchLike = int | np.integer | str | NB201Genotype | Sequence[str]

#: What `open_nb201` looks for, in order, under `<data_dir>/nb201/` and then `<data_dir>/`.
SEARCH_NAMES = (
    "nb201_ground_truth.csv.gz",
    "nb201_ground_truth.parquet",
    "NATS-tss-v1_0-3ffb9-simple",
    "NATS-tss-v1_0-3ffb9.pickle.pbz2",
    "NAS-Bench-201-v1_1-096897.pth",
    "NAS-Bench-201-v1_0-e61699.pth",
)

#: Flat metric names `cross_check` returns (200-epoch accuracies in %), in a stable order.
CROSS_CHECK_KEYS = ("gt_index",) + tuple(
    f"gt_{d}_{s}" for d in DATASETS for s in SPLITS if not (d == "cifar10" and s == "valid")
)

_OP_CODE = {op: i for i, op in enumerate(NB201_OPS)}
_CANONICAL = re.compile(r"\|(\w+)~0\|\+\|(\w+)~0\|(\w+)~1\|\+\|(\w+)~0\|(\w+)~1\|(\w+)~2\|")
_FORMS = "'|op~0|+|op~0|op~1|+|op~0|op~1|op~2|', an index 0..15624 or 6 comma-separated ops"


@dataclass(frozen=True)
class NB201Result:
    """One cell on one dataset at one epoch budget. Accuracies in %; None = no such figure."""

    index: int
    arch: str
    dataset: str
    epochs: int
    valid_acc: float | None  # selection metric (x-valid); None for cifar10, which has no valid split
    test_acc: float | None  # report metric (ori-test for cifar10/cifar10-valid, x-test otherwise)
    note: str | None = None  # why a field is None when the protocol, not the file, rules it out


@dataclass(frozen=True)
class NB201Selection:
    """The cell a protocol selects on validation accuracy, with the rule stated for the reader."""

    result: NB201Result
    selected_on: str  # e.g. "cifar10-valid valid"
    selection_acc: float
    rule: str


def edge_ops(arch: str | NB201Genotype | Sequence[str]) -> tuple[str, ...]:
    """The 6 ops in α row order (1←0, 2←0, 2←1, 3←0, 3←1, 3←2) for any spelling of a cell.

    Accepts a cell string (whitespace and input order within a node are free), an `NB201Genotype`,
    or 6 op names (a sequence, or one comma-separated string); op names are checked.
    """
    if isinstance(arch, DartsGenotype):
        raise SpaceError("a DARTS genotype has no NAS-Bench-201 ground truth; use open_nb301 (approximate)")
    if isinstance(arch, NB201Genotype):
        ops = arch.edge_ops()
    elif isinstance(arch, str):
        match = _CANONICAL.fullmatch(arch)
        ops = match.groups() if match else _parse_cell(arch)
    else:
        ops = tuple(arch)
    if len(ops) != 6 or not all(isinstance(op, str) for op in ops):
        raise SpaceError(f"a NAS-Bench-201 cell has 6 edge ops, got {ops!r}")
    for op in ops:
        if op not in _OP_CODE:
            raise SpaceError(f"{unknown_name_message('NAS-Bench-201 op', op, list(NB201_OPS))} Cell: {arch!s}")
    return tuple(ops)


def _parse_cell(text: str) -> tuple[str, ...]:
    stripped = text.strip()
    if stripped.startswith("Genotype("):
        raise SpaceError("a DARTS genotype has no NAS-Bench-201 ground truth; use open_nb301 (approximate)")
    if "|" in stripped:
        return NB201Genotype.parse(stripped).edge_ops()
    if "," in stripped:
        return tuple(token.strip(" '\"[]()") for token in stripped.strip("[]()").split(","))
    raise SpaceError(f"malformed NAS-Bench-201 cell {text!r}: expected {_FORMS}")


def _edge_code(ops: Sequence[str]) -> int:
    return sum(_OP_CODE[op] * 5**k for k, op in enumerate(ops))


class NB201GroundTruth:
    """Ground-truth queries over one backend; every spelling of a cell maps to its official index."""

    def __init__(self, backend: NB201Backend) -> None:
        self._backend = backend
        strs = backend.arch_strs
        if len(strs) != NUM_ARCHS:
            raise DataError(f"{backend.source} lists {len(strs)} cells; NAS-Bench-201 has {NUM_ARCHS}")
        try:
            codes = np.fromiter((_edge_code(edge_ops(s)) for s in strs), dtype=np.int64, count=NUM_ARCHS)
        except SpaceError as err:
            raise DataError(f"{backend.source} holds a cell that is not NAS-Bench-201: {err}") from None
        self._code_to_index = np.full(NUM_ARCHS, -1, dtype=np.int64)
        self._code_to_index[codes] = np.arange(NUM_ARCHS)
        if (self._code_to_index < 0).any():
            raise DataError(f"{backend.source} lists some cell twice")
        self._str_to_index = {s: i for i, s in enumerate(strs)}

    @property
    def backend(self) -> str:
        return self._backend.name

    def provenance(self) -> dict[str, str | int]:
        """Backend, file, SHA-256 (and parquet cache), for run metadata."""
        return {**self._backend.provenance(), "cross_check_epochs": CROSS_CHECK_EPOCHS}

    def arch_str(self, index: int) -> str:
        return self._backend.arch_strs[self._check_index(index)]

    def index_of(self, arch: ArchLike) -> int:
        """Official index of a cell given as an index, a string, an `NB201Genotype` or 6 ops."""
        if isinstance(arch, (bool, np.bool_)):
            raise SpaceError(f"not a NAS-Bench-201 cell: {arch!r}")
        if isinstance(arch, (int, np.integer)):
            return self._check_index(int(arch))
        if isinstance(arch, str):
            hit = self._str_to_index.get(arch)
            if hit is not None:
                return hit
            if arch.strip().isdigit():
                return self._check_index(int(arch))
        return int(self._code_to_index[_edge_code(edge_ops(arch))])

    def indices_of(self, archs: Iterable[ArchLike] | np.ndarray) -> np.ndarray:
        """Official indices for a batch (a lone cell counts as a batch of one)."""
        if isinstance(archs, (str, int, np.integer, NB201Genotype)):
            archs = [archs]
        if isinstance(archs, np.ndarray) and archs.dtype.kind in "iu":
            indices = archs.astype(np.int64, copy=False).ravel()
            if indices.size and (indices.min() < 0 or indices.max() >= NUM_ARCHS):
                raise SpaceError(f"NAS-Bench-201 indices run 0..{NUM_ARCHS - 1}")
            return indices
        return np.fromiter((self.index_of(a) for a in archs), dtype=np.int64)

    def query_many(self, archs: Iterable[ArchLike] | np.ndarray, dataset: str, split: str, epochs: int) -> np.ndarray:
        """Accuracies (%) of many cells on one (dataset, split, epochs); NaN where the file has none.

        Asking for `cifar10` valid is an error: that split does not exist (see NO_VALID_SPLIT).
        """
        dataset, split, epochs = check_dataset(dataset), check_split(split), check_epochs(epochs)
        if dataset == "cifar10" and split == "valid":
            raise DataError(NO_VALID_SPLIT)
        return self._backend.accuracy(self.indices_of(archs), dataset, split, epochs)

    def query(self, arch: ArchLike, dataset: str, epochs: int) -> NB201Result:
        """Valid and test accuracy of one cell; the two never stand in for each other."""
        dataset, epochs = check_dataset(dataset), check_epochs(epochs)
        index = self.index_of(arch)
        no_valid = dataset == "cifar10"
        return NB201Result(
            index=index,
            arch=self._backend.arch_strs[index],
            dataset=dataset,
            epochs=epochs,
            valid_acc=None if no_valid else self._scalar(index, dataset, "valid", epochs),
            test_acc=self._scalar(index, dataset, "test", epochs),
            note=NO_VALID_SPLIT if no_valid else None,
        )

    def cross_check(self, genotype: ArchLike) -> dict[str, float | int | None]:
        """Flat 200-epoch metrics for `metrics.jsonl` (keys: CROSS_CHECK_KEYS); None = not in the file."""
        index = self.index_of(genotype)
        out: dict[str, float | int | None] = {"gt_index": index}
        for key in CROSS_CHECK_KEYS[1:]:
            dataset, split = key[3:].rsplit("_", 1)
            out[key] = self._scalar(index, dataset, split, CROSS_CHECK_EPOCHS)
        return out

    def best(self, dataset: str, epochs: int) -> NB201Selection:
        """The cell with the highest validation accuracy, with its test accuracy to report.

        `cifar10` has no validation split, so it is selected on `cifar10-valid` valid (the same cell
        trained on train only), the NAS-Bench-201 protocol. Ties go to the lowest index.
        """
        dataset, epochs = check_dataset(dataset), check_epochs(epochs)
        on = "cifar10-valid" if dataset == "cifar10" else dataset
        scores = self._all(on, "valid", epochs)
        index = int(np.nanargmax(scores))
        rule = f"selected by the highest {on} valid accuracy at {epochs} epochs"
        if on != dataset:
            rule += " (cifar10 has no validation split: it trains on train+valid)"
        rule += f"; reported: {dataset} test accuracy, never used to select"
        return NB201Selection(self.query(index, dataset, epochs), f"{on} valid", float(scores[index]), rule)

    def oracle(self, dataset: str, epochs: int) -> NB201Result:
        """The cell with the highest test accuracy: an upper bound for reference, not a selection."""
        dataset, epochs = check_dataset(dataset), check_epochs(epochs)
        return self.query(int(np.nanargmax(self._all(dataset, "test", epochs))), dataset, epochs)

    def _all(self, dataset: str, split: str, epochs: int) -> np.ndarray:
        values = self._backend.accuracy(np.arange(NUM_ARCHS), dataset, split, epochs)
        if np.isnan(values).all():
            raise DataError(f"{self._backend.source} has no {dataset} {split} accuracies at {epochs} epochs")
        return values

    def _scalar(self, index: int, dataset: str, split: str, epochs: int) -> float | None:
        value = float(self._backend.accuracy(np.array([index]), dataset, split, epochs)[0])
        return None if np.isnan(value) else value

    def _check_index(self, index: int) -> int:
        if not 0 <= index < NUM_ARCHS:
            raise SpaceError(f"NAS-Bench-201 index {index} is out of range 0..{NUM_ARCHS - 1}")
        return index


_lock = threading.Lock()


def find_nb201(data_dir: str | Path | None = None) -> Path:
    """The first NAS-Bench-201 source under the data directory (see SEARCH_NAMES)."""
    root = resolve_data_dir(data_dir)
    if root.is_file():
        return root
    places = [root / "nb201", root]
    for place in places:
        for name in SEARCH_NAMES:
            if (place / name).exists():
                return place / name
    raise DataError(
        f"no NAS-Bench-201 ground truth in {' or '.join(map(str, places))}: expected one of "
        f"{', '.join(SEARCH_NAMES)}. Point --data-dir / $NASBENCH_DATA at the folder holding nb201/, or "
        "convert an official file with `nasbench data convert-nb201 SRC`"
    )


def open_nb201(
    data_dir: str | Path | None = None, path: str | Path | None = None, cache_dir: str | Path | None = None
) -> NB201GroundTruth:
    """The ground-truth service for an explicit `path` or the first source under the data directory.

    Loaded once per process per file version (path, size, mtime): the run engine may call this every
    epoch. `cache_dir` overrides where the table's parquet cache goes.
    """
    source = Path(path).expanduser().resolve() if path else find_nb201(data_dir)
    if not source.exists():
        raise DataError(f"NAS-Bench-201 file {source} does not exist")
    stat = source.stat()
    with _lock:
        return _open_cached(source, stat.st_size, stat.st_mtime_ns, Path(cache_dir) if cache_dir else None)


@lru_cache(maxsize=8)
def _open_cached(source: Path, size: int, mtime_ns: int, cache_dir: Path | None) -> NB201GroundTruth:
    return NB201GroundTruth(open_backend(source, cache_dir))
