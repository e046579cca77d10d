"""The NAS-Bench-301 surrogate: README figures, edge numbering, and where it has no answer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nasbench_harness.errors import DataError, SpaceError
from nasbench_harness.groundtruth import CROSS_CHECK_KEY, SURROGATE_LABEL, open_nb301
from nasbench_harness.groundtruth.nb301 import INPUT_NAMES
from nasbench_harness.spaces.genotype import DartsGenotype

DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
    "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
    "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
    "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)
SKIPS = (("skip_connect", 0), ("skip_connect", 1)) * 4
ALL_SKIP = DartsGenotype(normal=SKIPS, reduce=SKIPS)


@pytest.fixture(scope="module")
def surrogate(reference_data_dir: Path):
    return open_nb301(reference_data_dir)


def test_readme_figures_and_ranking(surrogate) -> None:
    v2, skip = surrogate.predict([DARTS_V2, ALL_SKIP], epoch=98)
    assert v2 == pytest.approx(92.9, abs=0.1)
    assert skip == pytest.approx(89.9, abs=0.1)
    assert v2 > skip


def test_cross_check_is_labelled_approximate(surrogate) -> None:
    got = surrogate.cross_check(DartsGenotype.parse(DARTS_V2))
    assert list(got) == [CROSS_CHECK_KEY] and CROSS_CHECK_KEY.endswith("_approx")
    assert got[CROSS_CHECK_KEY] == pytest.approx(92.91, abs=0.01)
    assert surrogate.provenance()["label"] == SURROGATE_LABEL == "approximate (surrogate)"


def test_edges_are_numbered_by_node_offset_plus_input(surrogate) -> None:
    row = surrogate.encode([DartsGenotype.parse(DARTS_V2)])[0]
    active = {INPUT_NAMES[i] for i in np.flatnonzero(row) if INPUT_NAMES[i].startswith("edge_normal")}
    # node 2: inputs 0,1 -> edges 0,1; node 3: 0,1 -> 2,3; node 4: 1,0 -> 6,5; node 5: 0,2 -> 9,11
    assert active == {f"edge_normal_{e}" for e in (0, 1, 2, 3, 5, 6, 9, 11)}
    assert row.dtype == np.int32 and row.shape == (34,)


def test_s4_noise_has_no_oracle(surrogate) -> None:
    noisy = DartsGenotype(normal=(("noise", 0), ("sep_conv_3x3", 1)) * 4, reduce=SKIPS)
    assert surrogate.cross_check(noisy) == {CROSS_CHECK_KEY: None}
    with pytest.raises(SpaceError, match="no oracle for genotypes with noise"):
        surrogate.predict(noisy)


@pytest.mark.parametrize(
    ("genotype", "match"),
    [
        (DartsGenotype(normal=SKIPS[:6], reduce=SKIPS), "8 \\(op, input\\) pairs"),
        (DartsGenotype(normal=(("skip_connect", 0),) * 8, reduce=SKIPS), "two different inputs"),
        (DartsGenotype(normal=SKIPS[:6] + (("skip_connect", 0), ("skip_connect", 5)), reduce=SKIPS), "0..4"),
        (DartsGenotype(normal=SKIPS, reduce=SKIPS, normal_concat=(4, 5)), "concat"),
    ],
)
def test_malformed_genotypes_are_errors(surrogate, genotype, match) -> None:
    with pytest.raises(SpaceError, match=match):
        surrogate.predict(genotype)


def test_epoch_range_is_checked(surrogate) -> None:
    with pytest.raises(SpaceError, match="1..98"):
        surrogate.predict(ALL_SKIP, epoch=200)


def test_missing_surrogate_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="model.onnx"):
        open_nb301(tmp_path)
