"""Where ground-truth caches go when the data directory is read-only."""

from __future__ import annotations

import os
from pathlib import Path


def user_cache_dir() -> Path:
    """Per-user cache for derived files when the data directory is read-only (e.g. shared CI data)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nasbench_harness" / "groundtruth"
