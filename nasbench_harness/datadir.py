"""Where datasets and benchmark files live: CLI option, then $NASBENCH_DATA, then a per-user cache."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "NASBENCH_DATA"


def default_data_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "nasbench_harness" / "data"


def resolve_data_dir(option: str | os.PathLike[str] | None = None) -> Path:
    """The data directory in force, with how it was chosen kept out: callers record the path itself."""
    if option:
        return Path(option).expanduser().resolve()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser().resolve()
    return default_data_dir()
