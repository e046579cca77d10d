"""The collapse verdict (results/verdict.py) on hand-made curves, and where it shows up."""

from __future__ import annotations

from pathlib import Path

import pytest
from results_support import epoch_row, write_run

from nasbench_harness.results import leaderboard, load_results, sections
from nasbench_harness.results.verdict import PERSIST, group_verdict, verdict
from nasbench_harness.spaces import get_space

NB201 = get_space("nb201").collapse
DARTS = get_space("s3").collapse
HEALTHY = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
SKIPPY = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def curve(param_free: list[int], accuracy: list[float] | None = None, eigen: list[float | None] | None = None):
    """NB201-shaped rows: the derived cell is SKIPPY where it has ≥ 4 parameter-free ops."""
    rows = []
    for e, pf in enumerate(param_free):
        row = {
            "epoch": e,
            "param_free_cell": pf,
            "skip_cell": max(pf - 1, 0),
            "genotype": SKIPPY if pf >= 4 else HEALTHY,
        }
        if accuracy is not None:
            row["gt_cifar10_test"] = accuracy[e]
        if eigen is not None:
            row["eigenvalue"] = eigen[e]
        rows.append(row)
    return rows


def test_a_collapsing_nb201_search_is_collapsed_from_the_first_epoch_of_the_final_stretch():
    rows = curve(
        [2, 2, 1, 2, 4, 5, 5, 6],
        [92.0, 93.5, 93.8, 93.0, 89.0, 85.0, 80.0, 54.3],
        [0.05, None, 0.1, None, 0.15, None, None, 0.19],
    )
    found = verdict(rows, NB201, "cifar10")
    assert found.collapsed and found.epoch == 4 and found.reported_epoch == 7
    assert found.accuracy_change == pytest.approx(54.3 - 93.8)
    assert found.eigenvalue_ratio == pytest.approx(0.19 / 0.05)
    assert found.summary() == (
        "collapsed at epoch 4: skip 1 → 5, param-free 2 → 6, ground truth −39.5 points from its best, eigenvalue ×3.8"
    )


def test_a_healthy_search_is_not_collapsed():
    found = verdict(curve([3, 2, 2, 1, 1, 1], [91.0, 92.0, 93.0, 93.5, 93.9, 94.0]), NB201, "cifar10")
    assert not found.collapsed and found.epoch is None
    assert found.summary().startswith("not collapsed: skip 2 → 0, param-free 3 → 1, ground truth +0.0 points")


def test_parameter_free_cells_that_keep_their_accuracy_are_not_collapsed_on_nb201():
    """NB201 decides with the ground truth: a skip-heavy cell within 3 points of the best is a good cell."""
    found = verdict(curve([2, 4, 4, 4, 4], [93.0, 92.0, 91.5, 91.0, 90.5]), NB201, "cifar10")
    assert not found.collapsed
    falls = verdict(curve([2, 4, 4, 4, 4], [93.0, 92.0, 89.9, 89.5, 89.0]), NB201, "cifar10")
    assert falls.collapsed and falls.epoch == 2


def test_noisy_flickers_are_not_collapse():
    """Collapsed epochs that do not last to the end, or a stretch shorter than PERSIST at the end, are noise."""
    acc_high, acc_low = 93.0, 80.0
    pf = [2, 5, 2, 5, 5, 2, 2, 5, 5]
    acc = [acc_low if p >= 4 else acc_high for p in pf]
    assert PERSIST == 3
    found = verdict(curve(pf, acc), NB201, "cifar10")
    assert not found.collapsed
    found = verdict(curve([*pf, 5], [*acc, acc_low]), NB201, "cifar10")
    assert found.collapsed and found.epoch == 7


def test_the_darts_family_decides_by_the_normal_cell_alone():
    rows = [{"epoch": e, "param_free_normal": pf, "skip_normal": pf} for e, pf in enumerate([4, 3, 5, 6, 7, 8])]
    found = verdict(rows, DARTS, "cifar10")
    assert found.collapsed and found.epoch == 3 and found.accuracy_change is None
    rows[-1]["param_free_normal"] = 5
    assert not verdict(rows, DARTS, "cifar10").collapsed


def test_an_early_stop_is_judged_on_the_cell_it_reports():
    """DARTS-ES reports an earlier epoch's cell: the verdict is about that cell, the later collapse noted."""
    rows = curve([2, 2, 2, 2, 2, 5, 5, 5, 6], [93.0] * 5 + [80.0] * 4)
    found = verdict(rows, NB201, "cifar10", reported_genotype=HEALTHY)
    assert not found.collapsed and found.reported_epoch == 4
    assert found.curves_collapsed_after == 5
    assert "reported epoch 4's cell; the search's cells collapsed from epoch 5" in found.summary()


def test_without_ground_truth_the_nb201_verdict_falls_back_to_the_cell():
    found = verdict(curve([2, 4, 4, 4]), NB201, "cifar10")
    assert found.collapsed and found.accuracy_change is None and "ground truth" not in found.summary()


def test_group_verdict_counts_and_takes_the_median_epoch():
    found = group_verdict([True, False, True, None], [30, None, 34, None])
    assert (found.collapsed, found.judged, found.epochs) == (2, 3, (30, 34))
    assert found.summary() == "2/3 collapsed (epoch 34 median)"
    assert group_verdict([], []).summary() == "–"


def test_verdicts_reach_the_tables_and_the_leaderboard(tmp_path: Path):
    collapsing = [
        epoch_row(e, param_free_cell=pf, skip_cell=pf, gt_cifar10_test=acc, genotype=g)
        for e, (pf, acc, g) in enumerate([(2, 93.0, HEALTHY), (5, 80.0, SKIPPY), (5, 70.0, SKIPPY), (6, 54.3, SKIPPY)])
    ]
    healthy = [epoch_row(e, param_free_cell=2, skip_cell=1, gt_cifar10_test=93.0, genotype=HEALTHY) for e in range(4)]
    write_run(tmp_path, seed=0, rows=collapsing, genotype=SKIPPY, epochs=4)
    write_run(tmp_path, seed=1, rows=healthy, genotype=HEALTHY, epochs=4)
    runs = load_results(tmp_path).runs.sort_values("seed")
    assert list(runs["collapsed"]) == [True, False]
    assert list(runs["collapse_epoch"].fillna(-1)) == [1, -1]
    shown = {s.title: s for s in sections(runs)}
    collapse = shown["Collapse signals and search cost"].table
    assert collapse["collapse verdict"].tolist() == ["1/2 collapsed (epoch 1)"]
    per_run = shown["Collapse verdict per run"].table
    assert per_run["verdict"].iloc[0].startswith("collapsed at epoch 1: skip 2 → 6")
    board = leaderboard(runs)
    assert board["n_collapsed"].tolist() == [1] and board["collapse_verdict"].tolist() == ["1/2 collapsed (epoch 1)"]
