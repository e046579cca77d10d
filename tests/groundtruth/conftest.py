"""Fixtures: the reference table service, and small benchmark files in the official formats.

The official files are written with the official packages' own classes (`nats_bench`,
`nas_201_api`) and filled with real rows of the reference table, so a backend that reads them reads
the real downloads.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from reference_packages import require

from nasbench_harness.groundtruth import open_nb201

#: Cells put into the official-format files: the landmarks plus a fixed random sample.
LANDMARKS = [0, 1, 1835, 6111, 9930, 857, 10676, 1459, 1651, 15624]
ABSENT = [2, 3, 5000]  # never in the sample: tests read them as missing
SAMPLE = sorted(
    (set(LANDMARKS) | set(np.random.default_rng(0).choice(15625, 22, replace=False).tolist())) - set(ABSENT)
)

# (official dataset, {official eval set: table column}, per-seed valid column) per epoch budget.
LAYOUT_200 = {
    "cifar10-valid": ({"x-valid": "cifar10valid_val_200_mean", "ori-test": "cifar10valid_test_200"}, "cifar10valid"),
    "cifar10": ({"ori-test": "cifar10_test_200"}, None),
    "cifar100": ({"x-valid": "cifar100_val_200_mean", "x-test": "cifar100_test_200"}, "cifar100"),
    "ImageNet16-120": ({"x-valid": "imagenet16_val_200_mean", "x-test": "imagenet16_test_200"}, "imagenet16"),
}
LAYOUT_12 = {
    "cifar10-valid": ({"x-valid": "cifar10valid_val_12"}, None),
    "cifar10": ({"ori-test": "cifar10_test_12"}, None),
    "cifar100": ({"x-valid": "cifar100_val_12", "x-test": "cifar100_test_12"}, None),
    "ImageNet16-120": ({"x-valid": "imagenet16_val_12", "x-test": "imagenet16_test_12"}, None),
}
SEEDS = [777, 888, 999]


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory):
    """Keep parquet caches out of the user's ~/.cache and out of the shared data directory."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
        yield


@pytest.fixture(scope="session")
def nb201(reference_data_dir: Path):
    return open_nb201(reference_data_dir)


@pytest.fixture(scope="session")
def sample() -> np.ndarray:
    """The indices present in the official-format files (all others are absent from them)."""
    return np.array(SAMPLE)


@pytest.fixture(scope="session")
def table(reference_data_dir: Path) -> pd.DataFrame:
    return pd.read_csv(reference_data_dir / "nb201" / "nb201_ground_truth.csv.gz")


def _arch_results(module, index: int, row: pd.Series, epochs: int, layout: dict):
    """One `ArchResults` state dict: per dataset, seeds whose mean is the table's figure."""
    archres = module.ArchResults(index, row["arch_str"])
    for dataset, (evals, seeds_prefix) in layout.items():
        per_seed_valid = [float(v) for v in row[f"{seeds_prefix}_val_200_seeds"].split(";")] if seeds_prefix else None
        seeds = SEEDS[: len(per_seed_valid)] if per_seed_valid else SEEDS[:1]
        for k, seed in enumerate(seeds):
            last = epochs - 1
            result = module.ResultsCount(
                dataset, None, {last: 50.0}, {last: 1.0}, 0.1, 10.0,
                {"arch_str": row["arch_str"], "channel": 16, "num_cells": 5, "class_num": 10},
                seed, epochs, [0.01],
            )  # fmt: skip
            for eval_name, column in evals.items():
                acc = per_seed_valid[k] if per_seed_valid and eval_name == "x-valid" else float(row[column])
                assert not math.isnan(acc)
                result.update_OLD_eval(eval_name, {last: acc}, {last: 1.0})
            archres.update(dataset, seed, result)
    return archres.state_dict()


@pytest.fixture(scope="session")
def official_files(table: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same rows as a NATS-Bench archive, a NATS-Bench fast-mode directory and a NAS-Bench-201 .pth."""
    nats_bench = require("nats_bench")
    nas_201_api = require("nas_201_api")
    root = tmp_path_factory.mktemp("official")
    meta_archs = table["arch_str"].tolist()
    nats = {
        i: {"12": _arch_results(nats_bench, i, table.loc[i], 12, LAYOUT_12),
            "200": _arch_results(nats_bench, i, table.loc[i], 200, LAYOUT_200)}
        for i in SAMPLE
    }  # fmt: skip
    nats_bench.pickle_save(
        {"meta_archs": meta_archs, "arch2infos": nats, "evaluated_indexes": SAMPLE},
        root / "NATS-tss-v1_0-3ffb9.pickle",
    )
    fast_dir = root / "NATS-tss-v1_0-3ffb9-simple"
    fast_dir.mkdir()
    nats_bench.pickle_save({"meta_archs": meta_archs}, fast_dir / "meta.pickle")
    for i, hp2state in nats.items():
        nats_bench.pickle_save(hp2state, fast_dir / f"{i:06d}.pickle")
    nb201 = {
        i: {"less": _arch_results(nas_201_api, i, table.loc[i], 12, LAYOUT_12),
            "full": _arch_results(nas_201_api, i, table.loc[i], 200, LAYOUT_200)}
        for i in SAMPLE
    }  # fmt: skip
    pth = root / "NAS-Bench-201-v1_1-096897.pth"
    torch.save({"meta_archs": meta_archs, "arch2infos": nb201, "evaluated_indexes": SAMPLE}, pth)
    return {
        "nats_bench_archive": root / "NATS-tss-v1_0-3ffb9.pickle.pbz2",
        "nats_bench_fast": fast_dir,
        "nas_201_api": pth,
    }
