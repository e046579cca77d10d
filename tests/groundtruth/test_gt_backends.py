"""The three backends answer identically; official files convert to the compact table losslessly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nasbench_harness.errors import DataError
from nasbench_harness.groundtruth import convert_nb201, open_nb201
from nasbench_harness.groundtruth.nb201_spec import TABLE_COLUMNS

NOT_IN_FILES = np.array([2, 3, 5000])


def _answers(service, indices: np.ndarray) -> dict[str, np.ndarray]:
    return {
        column: service.query_many(indices, dataset, split, epochs)
        for (dataset, split, epochs), column in TABLE_COLUMNS.items()
    }


@pytest.fixture(scope="module")
def services(official_files: dict[str, Path]):
    return {name: open_nb201(path=path) for name, path in official_files.items()}


def test_backends_are_detected_from_the_files(services) -> None:
    assert {name: s.backend for name, s in services.items()} == {
        "nats_bench_archive": "nats_bench",
        "nats_bench_fast": "nats_bench",
        "nas_201_api": "nas_201_api",
    }
    fast = services["nats_bench_fast"].provenance()
    assert fast["sha256_of"] == "meta.pickle.pbz2" and len(fast["sha256"]) == 64


def test_official_backends_agree_with_each_other_exactly(services, sample: np.ndarray) -> None:
    reference = _answers(services["nas_201_api"], sample)
    for name in ("nats_bench_archive", "nats_bench_fast"):
        for column, values in _answers(services[name], sample).items():
            np.testing.assert_array_equal(values, reference[column], err_msg=f"{name} {column}")


def test_official_backends_agree_with_the_table(services, nb201, sample: np.ndarray) -> None:
    """Seed means computed by the official APIs match the table's published means (6 decimals)."""
    table = _answers(nb201, sample)
    for name, service in services.items():
        for column, values in _answers(service, sample).items():
            np.testing.assert_allclose(values, table[column], rtol=0, atol=1e-5, err_msg=f"{name} {column}")
        for index in (1835, 6111):
            got, want = service.cross_check(index), nb201.cross_check(index)
            assert got.keys() == want.keys()
            for key in got:
                assert got[key] == pytest.approx(want[key], abs=1e-5), (name, key)


def test_cells_absent_from_an_official_file_are_missing_not_invented(services) -> None:
    for service in services.values():
        assert np.isnan(service.query_many(NOT_IN_FILES, "cifar100", "test", 200)).all()
        result = service.query(int(NOT_IN_FILES[0]), "cifar100", 200)
        assert result.valid_acc is None and result.test_acc is None


def test_best_on_a_partial_official_file_selects_on_valid(services, nb201, sample: np.ndarray) -> None:
    want = sample[int(np.argmax(nb201.query_many(sample, "cifar10-valid", "valid", 200)))]
    for service in services.values():
        assert service.best("cifar10", 200).result.index == want


@pytest.mark.parametrize("suffix", [".csv.gz", ".parquet"])
def test_convert_official_to_compact_table(
    official_files, services, sample: np.ndarray, tmp_path: Path, suffix: str
) -> None:
    out = tmp_path / f"nb201_ground_truth{suffix}"
    frame = convert_nb201(official_files["nats_bench_fast"], out)
    assert len(frame) == 15625 and out.is_file()
    converted = open_nb201(path=out, cache_dir=tmp_path)
    assert converted.backend == "table"
    official = _answers(services["nats_bench_fast"], sample)
    for column, values in _answers(converted, sample).items():
        np.testing.assert_array_equal(values, official[column], column)
    with pytest.raises(DataError, match="--force"):
        convert_nb201(official_files["nats_bench_fast"], out)


def test_convert_rejects_unknown_output_format(official_files, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"\.csv\.gz"):
        convert_nb201(official_files["nas_201_api"], tmp_path / "out.xlsx")


def test_corrupt_official_files_give_data_errors(tmp_path: Path) -> None:
    bad_pth = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    bad_pth.write_bytes(b"not a torch file")
    bad_pbz2 = tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2"
    bad_pbz2.write_bytes(b"not bz2")
    for path in (bad_pth, bad_pbz2, tmp_path):
        with pytest.raises(DataError):
            open_nb201(path=path)


def test_data_dir_discovery_prefers_the_compact_table(official_files, table, tmp_path: Path) -> None:
    (tmp_path / "nb201").mkdir()
    (tmp_path / "nb201" / official_files["nas_201_api"].name).symlink_to(official_files["nas_201_api"])
    assert open_nb201(tmp_path).backend == "nas_201_api"
    pd.DataFrame(table).to_parquet(tmp_path / "nb201" / "nb201_ground_truth.parquet")
    assert open_nb201(tmp_path).backend == "table"
