"""Turn an official NAS-Bench-201 / NATS-Bench file into the compact table the `table` backend reads.

The official files are gigabytes and need their packages; the compact table is one row per cell with
one column per (dataset, split, epochs) in TABLE_COLUMNS, seed-averaged, and loads in well under a
second.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from nasbench_harness.errors import DataError
from nasbench_harness.fileio import atomic_write
from nasbench_harness.groundtruth.nb201 import NB201GroundTruth
from nasbench_harness.groundtruth.nb201_backends import open_backend
from nasbench_harness.groundtruth.nb201_spec import NUM_ARCHS, TABLE_COLUMNS


def convert_nb201(src: str | Path, out: str | Path, *, overwrite: bool = False) -> pd.DataFrame:
    """Write the compact table for `src` to `out` (`.csv.gz`, `.csv` or `.parquet`) and return it.

    Figures the source lacks (e.g. 12-epoch results of v1_0) are left empty, never filled in.
    """
    src, out = Path(src).expanduser().resolve(), Path(out).expanduser().resolve()
    if not out.name.endswith((".csv", ".csv.gz", ".parquet")):
        raise DataError(f"output {out} must end in .csv.gz, .csv or .parquet")
    if out.exists() and not overwrite:
        raise DataError(f"{out} exists; pass --force to replace it")
    backend = open_backend(src)
    NB201GroundTruth(backend)  # checks the source lists every cell exactly once
    indices = np.arange(NUM_ARCHS)
    frame = pd.DataFrame({"index": indices, "arch_str": backend.arch_strs})
    for (dataset, split, epochs), column in TABLE_COLUMNS.items():
        frame[column] = backend.accuracy(indices, dataset, split, epochs)
    if out.name.endswith(".parquet"):
        atomic_write(out, lambda tmp: frame.to_parquet(tmp, index=False))
    else:
        compression = "gzip" if out.name.endswith(".gz") else None
        atomic_write(out, lambda tmp: frame.to_csv(tmp, index=False, compression=compression))
    return frame
