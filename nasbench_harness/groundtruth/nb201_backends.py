"""Sources of NAS-Bench-201 ground truth, all answering one question the same way.

`accuracy(indices, dataset, split, epochs)` returns seed-averaged accuracies (%) with NaN where the
source has no figure. Three sources exist: the compact table (`nb201_ground_truth.csv.gz`, cached as
parquet), the official NATS-Bench topology files (`nats_bench`), and the official NAS-Bench-201 `.pth`
(`nas_201_api`). The official packages are imported only when their files are used.
"""

from __future__ import annotations

import math
import pickle
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from nasbench_harness.errors import DataError
from nasbench_harness.fileio import atomic_write, file_digest
from nasbench_harness.groundtruth.files import user_cache_dir
from nasbench_harness.groundtruth.nb201_spec import REQUIRED_COLUMNS, TABLE_COLUMNS

TABLE_SUFFIXES = (".csv", ".csv.gz", ".parquet")
#: Bump when the cached parquet's layout changes, so stale caches are never read.
CACHE_VERSION = 1
NATS_META = "meta.pickle.pbz2"


class NB201Backend(Protocol):
    name: str
    source: Path
    arch_strs: list[str]

    def accuracy(self, indices: np.ndarray, dataset: str, split: str, epochs: int) -> np.ndarray: ...

    def provenance(self) -> dict[str, str]: ...


class TableBackend:
    """The compact table: one row per official index, one column per (dataset, split, epochs).

    CSV is converted once to parquet named by the CSV's SHA-256, so a changed source never reuses a
    stale cache, and later loads skip CSV parsing (the cold/warm numbers are in docs/groundtruth.md).
    """

    name = "table"

    def __init__(self, source: Path, cache_dir: Path | None = None) -> None:
        self.source = source
        self.sha256 = file_digest(source)
        self.cache_path: Path | None = None
        is_parquet = source.name.endswith(".parquet")
        frame = _read(source, pd.read_parquet) if is_parquet else self._cached_frame(cache_dir)
        _check_columns(frame, source)
        self.arch_strs: list[str] = frame["arch_str"].astype(str).tolist()
        if not np.array_equal(frame["index"].to_numpy(), np.arange(len(frame))):
            raise DataError(f"{source}: column 'index' must be 0..{len(frame) - 1} in order")
        self._columns = {col: frame[col].to_numpy(dtype=np.float64) for col in TABLE_COLUMNS.values() if col in frame}

    def _cached_frame(self, cache_dir: Path | None) -> pd.DataFrame:
        stem = self.source.name.split(".")[0]
        name = f"{stem}-{self.sha256[:16]}-v{CACHE_VERSION}.parquet"
        # The user cache first: data directories are often shared and must stay as downloaded.
        dirs = [cache_dir] if cache_dir else [user_cache_dir(), self.source.parent / ".nasbench-cache"]
        for directory in dirs:
            if (directory / name).is_file():
                try:
                    self.cache_path = directory / name
                    return pd.read_parquet(self.cache_path)
                except (OSError, ValueError):  # corrupt or foreign file: rebuild it below
                    self.cache_path = None
        wanted = {"index", "arch_str", *TABLE_COLUMNS.values()}
        frame = _read(self.source, lambda p: pd.read_csv(p, usecols=lambda c: c in wanted))
        _check_columns(frame, self.source)
        for directory in dirs:
            try:
                atomic_write(directory / name, lambda tmp: frame.to_parquet(tmp, index=False))
            except OSError:  # read-only data directory: try the next place
                continue
            self.cache_path = directory / name
            break
        return frame

    def accuracy(self, indices: np.ndarray, dataset: str, split: str, epochs: int) -> np.ndarray:
        column = self._columns.get(TABLE_COLUMNS.get((dataset, split, epochs), ""))
        if column is None:
            return np.full(len(indices), np.nan)
        return column[indices]

    def provenance(self) -> dict[str, str]:
        prov = {
            "backend": self.name,
            "file": self.source.name,
            "path": str(self.source),
            "sha256": self.sha256,
        }
        if self.cache_path is not None:
            prov["cache"] = str(self.cache_path)
        return prov


class _OfficialBackend:
    """Shared reading of the official APIs: `get_more_info(..., is_random=False)` averages seeds.

    The official APIs default to `hp='12'` and a random seed; both are always passed explicitly here.
    """

    name: str
    hashed_file: Path

    def __init__(self, source: Path, api: Any) -> None:
        self.source = source
        self._api = api
        self.arch_strs = list(api.meta_archs)
        self._memo: dict[tuple[int, str, int], dict[str, float]] = {}  # (index, dataset, epochs) → split → %
        self._absent: set[int] = set()

    def _info(self, index: int, dataset: str, epochs: int) -> dict[str, float]:
        key = (index, dataset, epochs)
        if key not in self._memo:
            info: dict[str, float] = {}
            if index not in self._absent:
                try:
                    more = self._api.get_more_info(index, dataset, hp=str(epochs), is_random=False)
                    info = {
                        s: more[f"{s}-accuracy"] for s in ("valid", "test") if more.get(f"{s}-accuracy") is not None
                    }
                except (KeyError, ValueError, AssertionError, IndexError):  # no such run in this file
                    if index not in self._api.arch2infos_dict:  # no run of this cell at all: skip it next time
                        self._absent.add(index)
            self._memo[key] = info
        return self._memo[key]

    def accuracy(self, indices: np.ndarray, dataset: str, split: str, epochs: int) -> np.ndarray:
        values = [self._info(i, dataset, epochs).get(split, math.nan) for i in np.asarray(indices).tolist()]
        return np.array(values, dtype=np.float64)

    @cached_property
    def sha256(self) -> str:
        """Hashed on first request only: official files are gigabytes."""
        return file_digest(self.hashed_file)

    def provenance(self) -> dict[str, str]:
        prov = {
            "backend": self.name,
            "file": self.source.name,
            "path": str(self.source),
            "sha256": self.sha256,
        }
        if self.hashed_file != self.source:
            prov["sha256_of"] = self.hashed_file.name
        return prov


class NatsBenchBackend(_OfficialBackend):
    """NATS-Bench topology (`tss`): a `NATS-tss-v1_0-3ffb9-simple/` directory (fast mode, read per
    architecture on demand) or a `NATS-tss-*.pickle.pbz2` archive (loaded whole)."""

    name = "nats_bench"

    def __init__(self, source: Path) -> None:
        try:
            import nats_bench
        except ImportError:
            raise DataError(f"reading {source} needs the official package: pip install nats_bench") from None
        fast = source.is_dir()
        self.hashed_file = source / NATS_META if fast else source
        try:
            api = nats_bench.create(str(source), "tss", fast_mode=fast, verbose=False)
        except (OSError, ValueError, KeyError, EOFError, pickle.UnpicklingError) as err:
            raise DataError(f"{source} is not a NATS-Bench topology file or directory: {err}") from None
        super().__init__(source, api)


class NasBench201Backend(_OfficialBackend):
    """The original `NAS-Bench-201-v1_[01]-*.pth`; `less` holds the 12-epoch and `full` the 200-epoch runs."""

    name = "nas_201_api"

    def __init__(self, source: Path) -> None:
        try:
            from nas_201_api import NASBench201API
        except ImportError:
            raise DataError(f"reading {source} needs the official package: pip install nas-bench-201") from None
        self.hashed_file = source
        try:
            api = NASBench201API(str(source), verbose=False)
        except pickle.UnpicklingError as err:
            raise DataError(
                f"torch refused to unpickle {source} safely ({str(err).splitlines()[0]}). If you trust the "
                "file, set TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1, or convert it once with "
                "`nasbench data convert-nb201`"
            ) from None
        except (OSError, EOFError, RuntimeError, AssertionError, KeyError) as err:
            raise DataError(f"{source} is not a NAS-Bench-201 .pth file: {err}") from None
        super().__init__(source, api)


def open_backend(path: Path, cache_dir: Path | None = None) -> NB201Backend:
    """Pick the backend from what `path` is: a table, a NATS-Bench file/directory or a `.pth`."""
    if path.is_dir():
        if (path / NATS_META).is_file():
            return NatsBenchBackend(path)
        raise DataError(f"{path} is a directory without {NATS_META}: not a NATS-Bench topology archive")
    if path.name.endswith(TABLE_SUFFIXES):
        return TableBackend(path, cache_dir)
    if path.name.endswith(".pth"):
        return NasBench201Backend(path)
    if path.name.endswith(".pbz2"):
        return NatsBenchBackend(path)
    raise DataError(
        f"cannot tell the format of {path}: expected a table ({', '.join(TABLE_SUFFIXES)}), a NATS-Bench "
        "`NATS-tss-*` directory or `.pickle.pbz2`, or a NAS-Bench-201 `.pth`"
    )


def _read(path: Path, reader: Any) -> pd.DataFrame:
    try:
        return reader(path)
    except (OSError, ValueError, EOFError) as err:
        raise DataError(f"cannot read the NAS-Bench-201 table {path}: {err}") from None


def _check_columns(frame: pd.DataFrame, source: Path) -> None:
    missing = [c for c in ("index", "arch_str", *REQUIRED_COLUMNS) if c not in frame.columns]
    if missing:
        raise DataError(
            f"{source} lacks the columns {missing}; convert an official file with `nasbench data convert-nb201`"
        )
