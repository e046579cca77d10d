"""The newcomer's first suite stays small: a budget on what suites/smoke.yaml expands to.

README promises about two minutes on a 2-core CPU and under 1.5 GB for `nasbench run suites/smoke.yaml`
(measured: 65 s wall, 110 s CPU, 1.3 GB peak RSS for this budget). Timing it in a test would be
machine-dependent, so the test bounds what drives the cost instead: runs, epochs, images, network
size, second-order steps and the Hessian mode. Growing any of them means re-measuring and updating README.
"""

from __future__ import annotations

from pathlib import Path

from nasbench_harness.suite_expansion import expand_suite, load_suite

SUITES = Path(__file__).resolve().parent.parent / "suites"

MAX_RUNS = 2
MAX_EPOCHS = 3
MAX_TRAIN_IMAGES = 512  # weights + architecture halves together
MAX_TEST_IMAGES = 128
MAX_CHANNELS = 8
MAX_DARTS_LAYERS = 3  # cells of a DARTS-family network
MAX_NB201_CELLS_PER_STAGE = 1
MAX_IMAGE_EPOCHS = 2 * 3 * 512  # Σ epochs × training images over the suite


def test_smoke_suite_fits_the_first_run_budget() -> None:
    configs = expand_suite(load_suite(SUITES / "smoke.yaml"))
    assert 1 <= len(configs) <= MAX_RUNS, [c.space for c in configs]
    for c in configs:
        where = f"{c.method} on {c.space}"
        assert c.method == "darts", f"{where}: only first-order DARTS fits the budget"
        assert c.train.epochs <= MAX_EPOCHS, where
        assert c.data.limit_train is not None and c.data.limit_train <= MAX_TRAIN_IMAGES, where
        assert c.data.limit_test is not None and c.data.limit_test <= MAX_TEST_IMAGES, where
        assert c.network["channels"] <= MAX_CHANNELS, where
        assert c.network.get("layers", 0) <= MAX_DARTS_LAYERS, where
        assert c.network.get("cells_per_stage", 0) <= MAX_NB201_CELLS_PER_STAGE, where
        assert c.metrics.eigenvalue != "exact", f"{where}: the exact Hessian is too slow for a first run"
    assert sum(c.train.epochs * c.data.limit_train for c in configs) <= MAX_IMAGE_EPOCHS


def test_smoke_suite_shows_ground_truth_and_a_darts_family_space() -> None:
    configs = {c.space: c for c in expand_suite(load_suite(SUITES / "smoke.yaml"))}
    assert "nb201" in configs and configs["nb201"].metrics.ground_truth  # true accuracy every epoch
    assert set(configs) - {"nb201"}, "a DARTS-family space as well (normal/reduce cells, skip collapse)"


def test_six_space_suite_keeps_every_space() -> None:
    configs = expand_suite(load_suite(SUITES / "six_spaces.yaml"))
    assert sorted(c.space for c in configs) == sorted(["nb201", "darts", "s1", "s2", "s3", "s4"])
    assert {c.profile for c in configs} == {"smoke"}
