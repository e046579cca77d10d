"""A run directory: metadata.json, append-only metrics.jsonl, checkpoint.pt, result.json / failed.json.

Every file but the metrics log is written atomically (temp file + rename), so a reader never sees a
half-written record; `result.json` exists only for a finished run.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import platform
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from nasbench_harness.fileio import atomic_write_bytes

METADATA = "metadata.json"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.pt"
RESULT = "result.json"
FAILED = "failed.json"
LOCK = "run.lock"
PREVIOUS = "previous"
#: Moved aside first: without a checkpoint and a result, a half-finished move leaves a run that starts over.
_MOVE_FIRST = (CHECKPOINT, RESULT)


class RunLocked(Exception):
    """Another live process holds the run directory; `holder` says which (pid, host)."""

    def __init__(self, holder: str):
        super().__init__(holder)
        self.holder = holder


class RunLock:
    """An exclusive, non-blocking flock on `run.lock` in the run directory, held while a process runs it.

    The kernel releases it when the holder exits or dies (SIGKILL, OOM killer), so there is no stale
    lock to clean up; the file itself stays (unlinking it would let two processes lock two inodes).
    The holder writes its pid and host into the file, for the message the others print.
    """

    def __init__(self, directory: Path):
        directory.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _claim(self.fd)
        except BlockingIOError:
            holder = os.pread(self.fd, 4096, 0).decode(errors="replace").strip() or "pid and host not yet written"
            os.close(self.fd)
            raise RunLocked(holder) from None
        except BaseException:
            os.close(self.fd)
            raise
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"pid {os.getpid()}, host {platform.node()}\n".encode(), 0)

    def release(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


#: A claim retries this long: `lock_holder` (nasbench status) holds a shared lock for an instant, which
#: must not make a driver skip the run as "held by another process".
_CLAIM_RETRIES, _CLAIM_PAUSE = 10, 0.02


def _claim(fd: int) -> None:
    for attempt in range(_CLAIM_RETRIES):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if attempt == _CLAIM_RETRIES - 1:
                raise
            time.sleep(_CLAIM_PAUSE)


def lock_holder(directory: Path) -> str | None:
    """Who runs this run directory now ("pid N, host H"), or None: a probe that never claims the run.

    It takes a shared lock for an instant (free unless someone holds the exclusive one), so it works
    from any host that sees the file system's flocks, like the claim itself.
    """
    try:
        fd = os.open(directory / LOCK, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.pread(fd, 4096, 0).decode(errors="replace").strip() or "pid and host not yet written"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def atomic_write_json(path: Path, payload: Any) -> None:
    atomic_write_bytes(path, (json.dumps(to_jsonable(payload), indent=2, sort_keys=True) + "\n").encode())


def to_jsonable(value: Any) -> Any:
    """JSON-safe copy: NaN/inf become None (JSON has no NaN), numpy/torch scalars become floats."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return to_jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class RunRecord:
    def __init__(self, directory: Path):
        self.dir = directory

    @property
    def checkpoint_path(self) -> Path:
        return self.dir / CHECKPOINT

    def is_finished(self) -> bool:
        return (self.dir / RESULT).is_file()

    def write_metadata(self, metadata: Mapping[str, Any]) -> None:
        atomic_write_json(self.dir / METADATA, metadata)

    def read_json(self, name: str) -> dict[str, Any]:
        return json.loads((self.dir / name).read_text())

    def append_metrics(self, row: Mapping[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / METRICS, "a") as handle:
            handle.write(json.dumps(to_jsonable(row), sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def metrics(self) -> Iterator[dict[str, Any]]:
        path = self.dir / METRICS
        if not path.exists():
            return
        with open(path) as handle:
            lines = [line for line in handle if line.strip()]
        for i, line in enumerate(lines):
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                # A last row cut off by a kill or a full disk mid-append: the checkpoint predates it, so
                # resuming recomputes it (truncate_metrics_after rewrites the log without it).
                if i == len(lines) - 1:
                    return
                raise

    def truncate_metrics_after(self, segment: int, next_epoch: int) -> None:
        """Drop rows logged after the checkpoint being resumed from (they will be recomputed).

        Rows are ordered by (segment, epoch): a rollback starts a new segment, and the rows of the
        abandoned epochs stay in the log as history.
        """
        path = self.dir / METRICS
        if not path.exists():
            return
        kept = [r for r in self.metrics() if (r.get("segment", 0), r["epoch"]) < (segment, next_epoch)]
        atomic_write_bytes(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept).encode())

    def write_result(self, result: Mapping[str, Any]) -> None:
        (self.dir / FAILED).unlink(missing_ok=True)
        atomic_write_json(self.dir / RESULT, result)

    def write_failure(self, failure: Mapping[str, Any]) -> None:
        atomic_write_json(self.dir / FAILED, failure)

    def lock(self) -> RunLock:
        """Hold this run directory (raises RunLocked if another process does); creates the directory."""
        return RunLock(self.dir)

    def move_aside(self) -> Path:
        """Move every record file (not the lock) into previous/<UTC time>/, checkpoint and result first."""
        target = self.dir / PREVIOUS / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        suffix = 1
        while target.exists():
            suffix += 1
            target = target.with_name(f"{target.name.split('.')[0]}.{suffix}")
        target.mkdir(parents=True)
        rest = sorted(p.name for p in self.dir.iterdir() if p.name not in (LOCK, PREVIOUS, *_MOVE_FIRST))
        for name in (*_MOVE_FIRST, *rest):
            if (self.dir / name).exists():
                os.replace(self.dir / name, target / name)
        return target
