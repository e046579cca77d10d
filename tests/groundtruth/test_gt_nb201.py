"""The NAS-Bench-201 service on the reference table: published figures, canonical indices, errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from nasbench_harness.errors import ConfigError, DataError, SpaceError
from nasbench_harness.groundtruth import CROSS_CHECK_KEYS, NB201Result, edge_ops, open_nb201
from nasbench_harness.spaces.genotype import DartsGenotype, NB201Genotype

ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
OPTIMUM = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def test_all_skip_cell_matches_the_published_collapse_figures(nb201) -> None:
    got = nb201.cross_check(NB201Genotype.parse(ALL_SKIP))
    assert got["gt_index"] == 1835
    expected = {
        "gt_cifar10_test": 54.30,
        "gt_cifar10-valid_valid": 39.77,
        "gt_cifar100_test": 15.61,
        "gt_cifar100_valid": 15.03,
        "gt_ImageNet16-120_test": 16.32,
        "gt_ImageNet16-120_valid": 16.43,
    }
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=0.005), key


def test_cross_check_keys_are_flat_200_epoch_metrics(nb201) -> None:
    got = nb201.cross_check(6111)
    assert tuple(got) == CROSS_CHECK_KEYS
    assert CROSS_CHECK_KEYS == (
        "gt_index",
        "gt_cifar10-valid_valid",
        "gt_cifar10-valid_test",
        "gt_cifar10_test",
        "gt_cifar100_valid",
        "gt_cifar100_test",
        "gt_ImageNet16-120_valid",
        "gt_ImageNet16-120_test",
    )
    assert isinstance(got["gt_index"], int)
    assert all(isinstance(v, float) for k, v in got.items() if k != "gt_index")
    assert nb201.provenance()["cross_check_epochs"] == 200


def test_optimum_on_cifar10_is_selected_on_cifar10_valid(nb201) -> None:
    selection = nb201.best("cifar10", 200)
    assert selection.result.index == 6111
    assert selection.result.arch == OPTIMUM
    assert selection.result.test_acc == pytest.approx(94.37, abs=0.005)
    assert selection.selected_on == "cifar10-valid valid"
    assert selection.selection_acc == pytest.approx(91.6067, abs=1e-4)
    assert "cifar10 has no validation split" in selection.rule
    assert nb201.oracle("cifar10", 200).index == 6111


def test_selection_never_uses_test(nb201) -> None:
    """On ImageNet16-120 the valid-selected cell is not the test oracle (47.31, the published optimum)."""
    selection = nb201.best("ImageNet16-120", 200)
    oracle = nb201.oracle("ImageNet16-120", 200)
    assert selection.result.index != oracle.index
    assert oracle.test_acc == pytest.approx(47.31, abs=0.005)
    assert selection.result.test_acc < oracle.test_acc
    assert selection.selection_acc == selection.result.valid_acc
    assert nb201.best("cifar100", 200).result.test_acc == pytest.approx(73.51, abs=0.005)


def test_cifar10_has_no_valid_split(nb201) -> None:
    result = nb201.query(1835, "cifar10", 200)
    assert result.valid_acc is None and result.note and "train+valid" in result.note
    with pytest.raises(DataError, match="no validation split"):
        nb201.query_many([1835], "cifar10", "valid", 200)
    valid = nb201.query(1835, "cifar10-valid", 200)
    assert valid.valid_acc == pytest.approx(39.77, abs=0.005) and valid.test_acc == pytest.approx(39.99)


def test_valid_and_test_and_budgets_are_separate_fields(nb201) -> None:
    r200 = nb201.query(6111, "cifar100", 200)
    r12 = nb201.query(6111, "cifar100", 12)
    assert isinstance(r200, NB201Result) and (r200.epochs, r12.epochs) == (200, 12)
    assert r200.valid_acc == pytest.approx(72.7467, abs=1e-4) and r200.test_acc == pytest.approx(73.22)
    assert r12.valid_acc == pytest.approx(60.2) and r12.test_acc == pytest.approx(60.3)
    # The compact table has no 12-epoch cifar10-valid test column: missing, not borrowed from elsewhere.
    assert nb201.query(6111, "cifar10-valid", 12).test_acc is None
    assert np.isnan(nb201.query_many([6111], "cifar10-valid", "test", 12)).all()


@pytest.mark.parametrize(
    "spelling",
    [
        OPTIMUM,
        "  |nor_conv_3x3~0| + |nor_conv_3x3~1|nor_conv_3x3~0| + |nor_conv_1x1~2|skip_connect~0|nor_conv_3x3~1|  ",
        ["nor_conv_3x3", "nor_conv_3x3", "nor_conv_3x3", "skip_connect", "nor_conv_3x3", "nor_conv_1x1"],
        ("nor_conv_3x3", "nor_conv_3x3", "nor_conv_3x3", "skip_connect", "nor_conv_3x3", "nor_conv_1x1"),
        "nor_conv_3x3, nor_conv_3x3, nor_conv_3x3, skip_connect, nor_conv_3x3, nor_conv_1x1",
        NB201Genotype.parse(OPTIMUM),
        NB201Genotype.from_edge_ops(edge_ops(OPTIMUM)),
        6111,
        np.int64(6111),
        "6111",
    ],
)
def test_every_spelling_maps_to_one_index(nb201, spelling) -> None:
    assert nb201.index_of(spelling) == 6111


def test_canonical_index_agrees_with_every_row(nb201, table) -> None:
    rows = table.sample(300, random_state=1)
    reordered = [str(NB201Genotype.from_edge_ops(edge_ops(s))) for s in rows["arch_str"]]
    assert nb201.indices_of(reordered).tolist() == rows["index"].tolist()
    assert [nb201.arch_str(i) for i in rows["index"]] == rows["arch_str"].tolist()


@pytest.mark.parametrize(
    ("arch", "error", "match"),
    [
        ("|nor_conv_3x3~0|+|sep_conv_3x3~0|none~1|+|none~0|none~1|none~2|", SpaceError, "Did you mean"),
        ("|nor_conv_3x3~0|+|none~0|+|none~0|none~1|none~2|", SpaceError, "node 2"),
        ("|nor_conv_3x3~0|+|none~0|none~1|", SpaceError, "3 nodes"),
        ("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none-2|", SpaceError, "op~input"),
        ("nor_conv_3x3", SpaceError, "malformed"),
        (["none"] * 5, SpaceError, "6 edge ops"),
        (15625, SpaceError, "out of range"),
        (-1, SpaceError, "out of range"),
        (True, SpaceError, "not a NAS-Bench-201 cell"),
        (DartsGenotype(normal=(("skip_connect", 0),) * 8, reduce=(("skip_connect", 0),) * 8), SpaceError, "open_nb301"),
        ("Genotype(normal=[], reduce=[])", SpaceError, "open_nb301"),
    ],
)
def test_bad_cells_get_clear_errors(nb201, arch, error, match) -> None:
    with pytest.raises(error, match=match):
        nb201.index_of(arch)


@pytest.mark.parametrize(
    ("dataset", "split", "epochs", "match"),
    [
        ("cifar-10", "test", 200, "Did you mean 'cifar10'"),
        ("cifar10", "val", 200, "'valid' \\(selection metric\\)"),
        ("cifar10", "test", 100, "12 or 200"),
    ],
)
def test_protocol_names_are_checked(nb201, dataset, split, epochs, match) -> None:
    with pytest.raises(ConfigError, match=match):
        nb201.query_many([0], dataset, split, epochs)


def test_dataset_names_are_case_insensitive_but_exact(nb201) -> None:
    assert nb201.query(0, "imagenet16-120", 200).dataset == "ImageNet16-120"


def test_query_many_batches_by_index_and_string(nb201, table) -> None:
    indices = np.array([6111, 1835, 0, 6111])
    by_index = nb201.query_many(indices, "cifar10", "test", 200)
    by_str = nb201.query_many([table["arch_str"][i] for i in indices], "cifar10", "test", 200)
    np.testing.assert_array_equal(by_index, table["cifar10_test_200"].to_numpy()[indices])
    np.testing.assert_array_equal(by_index, by_str)
    assert nb201.query_many(ALL_SKIP, "cifar100", "valid", 200).shape == (1,)
    with pytest.raises(SpaceError, match="0..15624"):
        nb201.query_many(np.array([0, 15625]), "cifar10", "test", 200)


def test_parquet_cache_is_named_by_content_hash_and_reused(reference_data_dir: Path, tmp_path: Path) -> None:
    service = open_nb201(reference_data_dir, cache_dir=tmp_path)
    prov = service.provenance()
    assert prov["backend"] == "table" and prov["file"] == "nb201_ground_truth.csv.gz"
    cache = Path(prov["cache"])
    assert cache.parent == tmp_path and prov["sha256"][:16] in cache.name and cache.suffix == ".parquet"
    assert open_nb201(reference_data_dir, cache_dir=tmp_path) is service  # in-process cache
    warm = open_nb201(path=cache)  # the cached file is itself a table
    assert warm.cross_check(1835) == service.cross_check(1835)
    assert not list(tmp_path.glob("*.tmp"))


def test_table_without_required_columns_is_rejected(table, tmp_path: Path) -> None:
    broken = tmp_path / "broken.csv"
    table.drop(columns=["cifar100_test_200"]).to_csv(broken, index=False)
    with pytest.raises(DataError, match="cifar100_test_200"):
        open_nb201(path=broken, cache_dir=tmp_path)


def test_table_with_a_duplicate_cell_is_rejected(table, tmp_path: Path) -> None:
    broken = tmp_path / "dup.parquet"
    copy = table.copy()
    copy.loc[1, "arch_str"] = copy.loc[0, "arch_str"]
    copy.to_parquet(broken)
    with pytest.raises(DataError, match="twice"):
        open_nb201(path=broken)


def test_missing_data_names_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="nb201_ground_truth.csv.gz.*convert-nb201"):
        open_nb201(tmp_path)
    with pytest.raises(DataError, match="cannot tell the format"):
        (tmp_path / "x.txt").write_text("")
        open_nb201(path=tmp_path / "x.txt")


def test_nan_free_reference_rows(nb201) -> None:
    values = nb201.cross_check(15624)
    assert not any(v is None or (isinstance(v, float) and math.isnan(v)) for v in values.values())
