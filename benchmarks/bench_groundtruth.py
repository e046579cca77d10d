"""Ground-truth service speed and memory: table load (cold csv→parquet, warm parquet), look-ups/s.

Run (pyproject's addopts skip benchmarks, so clear them):

    python -m pytest benchmarks/bench_groundtruth.py -o addopts="" --benchmark-only

Targets: load < 1 s and < 200 MB; ≥ 100k look-ups/s batched, by index and by canonical string.
Figures measured on the reference machine are in docs/groundtruth.md.
"""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from nasbench_harness.groundtruth import open_nb201, open_nb301
from nasbench_harness.groundtruth.nb201 import _open_cached
from nasbench_harness.spaces.genotype import DartsGenotype

BATCH = 100_000
LOAD_BUDGET_S = 1.0
MEMORY_BUDGET_MB = 200.0
LOOKUP_TARGET_PER_S = 100_000


@pytest.fixture(scope="module")
def data_dir() -> Path:
    env = os.environ.get("NASBENCH_DATA")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    if not (path / "nb201").is_dir():
        pytest.skip("reference data not found; set NASBENCH_DATA")
    return path


@pytest.fixture(scope="module")
def service(data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    return open_nb201(data_dir, cache_dir=tmp_path_factory.mktemp("warm"))


def _rss_mb() -> float | None:
    """Resident set size from /proc (Linux); None elsewhere."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _fresh_cache(root: Path) -> tuple[tuple[Path], dict]:
    _open_cached.cache_clear()
    fresh = root / f"cold{len(list(root.iterdir()))}"
    return (fresh,), {}


def test_load_cold_csv_to_parquet(benchmark, data_dir: Path, tmp_path: Path) -> None:
    benchmark.pedantic(
        lambda cache: open_nb201(data_dir, cache_dir=cache),
        setup=lambda: _fresh_cache(tmp_path),
        rounds=5,
    )
    benchmark.extra_info["load_budget_s"] = LOAD_BUDGET_S


def test_load_warm_parquet(benchmark, data_dir: Path, tmp_path: Path) -> None:
    open_nb201(data_dir, cache_dir=tmp_path)

    def setup() -> tuple[tuple[Path], dict]:
        _open_cached.cache_clear()
        return (tmp_path,), {}

    benchmark.pedantic(lambda cache: open_nb201(data_dir, cache_dir=cache), setup=setup, rounds=10)
    benchmark.extra_info["load_budget_s"] = LOAD_BUDGET_S


def test_load_memory(benchmark, data_dir: Path, tmp_path: Path) -> None:
    """Python-heap peak (tracemalloc) and RSS growth of one cold load, libraries already imported."""
    open_nb201(data_dir, cache_dir=tmp_path / "imports")  # import pandas/pyarrow outside the measurement
    _open_cached.cache_clear()
    rss_before = _rss_mb()
    tracemalloc.start()
    service = benchmark.pedantic(lambda: open_nb201(data_dir, cache_dir=tmp_path / "measured"), rounds=1)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = _rss_mb()
    peak_mb = peak / 2**20
    benchmark.extra_info["tracemalloc_peak_mb"] = round(peak_mb, 1)
    if rss_before is not None and rss_after is not None:
        benchmark.extra_info["rss_delta_mb"] = round(rss_after - rss_before, 1)  # allocator-dependent: reported
    assert peak_mb < MEMORY_BUDGET_MB and service.backend == "table"


def test_lookups_by_index(benchmark, service) -> None:
    indices = np.random.default_rng(0).integers(0, 15625, BATCH)
    values = benchmark(service.query_many, indices, "cifar10", "test", 200)
    rate = BATCH / benchmark.stats.stats.mean
    benchmark.extra_info.update(lookups_per_s=round(rate), target_per_s=LOOKUP_TARGET_PER_S)
    assert values.shape == (BATCH,)


def test_lookups_by_canonical_string(benchmark, service) -> None:
    strings = [service.arch_str(i) for i in np.random.default_rng(1).integers(0, 15625, BATCH)]
    values = benchmark(service.query_many, strings, "cifar100", "valid", 200)
    rate = BATCH / benchmark.stats.stats.mean
    benchmark.extra_info.update(lookups_per_s=round(rate), target_per_s=LOOKUP_TARGET_PER_S)
    assert values.shape == (BATCH,)


def test_lookups_by_reordered_string(benchmark, service) -> None:
    """Non-canonical spellings go through the parser: slower, reported for reference (no target)."""
    n = 10_000
    strings = [
        " + ".join(
            "|" + "|".join(reversed(node.strip("|").split("|"))) + "|" for node in service.arch_str(i).split("+")
        )
        for i in np.random.default_rng(2).integers(0, 15625, n)
    ]
    benchmark(service.query_many, strings, "cifar100", "valid", 200)
    benchmark.extra_info["lookups_per_s"] = round(n / benchmark.stats.stats.mean)


def test_cross_check_per_epoch_call(benchmark, service) -> None:
    """What the run engine pays once per search epoch."""
    got = benchmark(
        service.cross_check,
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
    )
    assert got["gt_index"] == 6111


def test_surrogate_batch_predict(benchmark, data_dir: Path) -> None:
    surrogate = open_nb301(data_dir)
    skips = (("skip_connect", 0), ("skip_connect", 1)) * 4
    batch = [DartsGenotype(normal=skips, reduce=skips)] * 256
    values = benchmark(surrogate.predict, batch, 98)
    benchmark.extra_info["genotypes_per_s"] = round(len(batch) / benchmark.stats.stats.mean)
    assert values.shape == (256,)
