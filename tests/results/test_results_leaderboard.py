"""The leaderboard CSV: a pinned column schema, values from real and hand-written runs, concatenation."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from results_support import epoch_row, write_run

from nasbench_harness.cli import main
from nasbench_harness.results import LEADERBOARD_COLUMNS, SCHEMA_VERSION, leaderboard, load_results, published

#: The schema as documented in docs/results.md; changing it means bumping SCHEMA_VERSION.
PINNED = (
    "schema_version", "harness_version", "git_commit", "torch_version",
    "method", "space", "dataset", "setting", "profile", "epochs", "method_args",
    "device", "device_name", "search_bn", "eigenvalue_mode", "gt_backend", "gt_file", "gt_sha256",
    "n_runs", "n_seeds", "n_finished", "n_failed", "n_unfinished", "seeds", "seeds_finished",
    "eval_valid_acc_mean", "eval_valid_acc_std",
    "c10_valid_mean", "c10_valid_std", "c10_test_mean", "c10_test_std",
    "c100_valid_mean", "c100_valid_std", "c100_test_mean", "c100_test_std",
    "in16_valid_mean", "in16_valid_std", "in16_test_mean", "in16_test_std",
    "nb301_approx_mean", "nb301_approx_std",
    "best_seed", "best_eval_valid_acc", "best_c10_test", "best_nb301_approx",
    "eigenvalue_mean", "eigenvalue_std", "skip_normal_mean", "skip_normal_std", "skip_reduce_mean", "skip_reduce_std",
    "n_collapsed", "n_judged", "collapse_epochs", "collapse_verdict",
    "cost_unit", "search_hours_mean", "search_hours_total", "wall_hours_mean",
    "published_label", "published_c10_test", "published_c100_test", "published_in16_test", "published_s_test_error",
    "retrain_n_seeds", "retrain_test_error_mean", "retrain_test_error_std", "retrain_params_mb",
    "retrain_full_protocol",
)  # fmt: skip


def test_schema_is_pinned():
    assert LEADERBOARD_COLUMNS == PINNED and SCHEMA_VERSION == 3


def test_leaderboard_of_real_runs(real_tree: Path, tmp_path: Path):
    path = tmp_path / "board.csv"
    result = CliRunner().invoke(main, ["leaderboard", str(real_tree), "--csv", str(path)])
    assert result.exit_code == 0, result.output
    with open(path) as handle:
        assert tuple(next(csv.reader(handle))) == PINNED
    board = pd.read_csv(path, dtype={"seeds": str, "seeds_finished": str}).set_index("space")
    runs = load_results(real_tree).runs
    assert list(board.index) == ["nb201", "s1"]
    nb = board.loc["nb201"]
    nb_runs = runs[runs["space"] == "nb201"]
    assert (nb["n_seeds"], nb["n_finished"], nb["n_failed"], nb["seeds"]) == (2, 2, 0, "0;1")
    assert nb["c10_test_mean"] == pytest.approx(nb_runs["gt_cifar10_test"].mean())
    assert nb["c100_valid_std"] == pytest.approx(nb_runs["gt_cifar100_valid"].std())
    assert nb["skip_normal_mean"] == pytest.approx(nb_runs["skip_cell"].mean())
    assert nb["gt_sha256"] == nb_runs["gt_sha256"].iloc[0] and len(nb["gt_sha256"]) == 64
    assert nb["search_bn"] == "affine=False, track_running_stats=False" and nb["eigenvalue_mode"] == "off"
    assert nb["published_label"] == "DARTS-V1" and nb["published_c10_test"] == pytest.approx(54.30)
    assert nb["harness_version"] == runs["harness_version"].iloc[0] and nb["cost_unit"] == "CPU-h"
    s1 = board.loc["s1"]
    # First-order DARTS: the published S1–S4 DARTS row (second order) is not beside it.
    assert pd.isna(s1["published_s_test_error"]) and pd.isna(s1["c10_test_mean"])
    best = runs[runs["space"] == "s1"].sort_values("final_eval_valid_acc", ascending=False).iloc[0]
    assert s1["best_nb301_approx"] == pytest.approx(best["nb301_valid_acc_approx"])


def test_boards_from_two_machines_concatenate(tmp_path: Path):
    gpu, cpu = tmp_path / "gpu", tmp_path / "cpu"
    for seed, acc in ((0, 90.0), (1, 94.0)):
        write_run(gpu, seed=seed, device="cuda:0", rows=[epoch_row(0)], final_metrics={"gt_cifar10_test": acc})
    s2 = {"space": "s2", "method": "darts_2nd"}
    write_run(cpu, **s2, seed=0, rows=[epoch_row(0)], final_metrics={"nb301_valid_acc_approx": 91.5})
    write_run(cpu, **s2, seed=1, status="failed", rows=[epoch_row(0)])
    write_run(tmp_path / "empty", seed=0, status="unfinished")
    frames = [leaderboard(load_results(root).runs) for root in (gpu, cpu, tmp_path / "empty")]
    assert all(tuple(f.columns) == PINNED for f in frames)
    board = pd.concat(frames, ignore_index=True)
    assert tuple(board.columns) == PINNED and len(board) == 3
    g, c, e = board.to_dict("records")
    assert g["cost_unit"] == "GPU-h" and g["c10_test_mean"] == pytest.approx(92.0)
    assert g["c10_test_std"] == pytest.approx(2.8284271)  # sqrt(((90-92)^2 + (94-92)^2) / 1)
    assert g["search_hours_total"] == pytest.approx(2 * 1.5 / 3600)
    assert (c["n_finished"], c["n_failed"], c["nb301_approx_mean"]) == (1, 1, pytest.approx(91.5))
    assert c["published_s_test_error"] == pytest.approx(4.85)  # DARTS (2nd order) on S2, CIFAR-10
    assert (e["n_unfinished"], e["n_finished"]) == (1, 0) and pd.isna(e["c10_test_mean"])


def test_published_numbers_are_the_confirmed_ones_only():
    assert published.NB201["darts"].cifar10_test == 54.30 and published.NB201["darts"].cifar10_valid == 39.77
    assert published.NB201["gdas"].imagenet16_test == 41.71
    assert published.NB201_OPTIMUM.imagenet16_test == 47.31
    assert published.s_space_test_error("darts_2nd", "s4", "svhn") == 3.05
    assert published.s_space_test_error("darts", "s4", "svhn") is None  # RobustDARTS searched second order
    # R-DARTS(L2)/(DP)/ES/ADA columns and NB201 search costs are unconfirmed: never data here
    assert published.s_space_test_error("rdarts_l2", "s1", "cifar10") is None
    assert not {"rdarts_l2", "rdarts_dp", "darts_es", "darts_ada"} & set(published.NB201)
    assert published.nb201_published("darts", "cifar100") is None  # the paper searched on CIFAR-10


def test_leaderboard_prints_its_table_and_writes_the_csv_into_the_results_dir(tmp_path: Path):
    for seed, acc in ((0, 90.0), (1, 94.0)):
        write_run(tmp_path, seed=seed, rows=[epoch_row(0)], final_metrics={"gt_cifar10_test": acc})
    write_run(tmp_path, space="s2", seed=0, rows=[epoch_row(0)], final_metrics={"nb301_valid_acc_approx": 91.5})
    result = CliRunner().invoke(main, ["leaderboard", str(tmp_path)])  # no --csv: the documented form
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = lines[0].split()
    assert header[:3] == ["method", "space", "dataset"] and "NB201 C10 test %" in lines[0]
    rows = {line.split()[1]: line for line in lines[2:4]}
    assert "darts" in rows["nb201"] and "2/2" in rows["nb201"] and "92.00 ± 2.83" in rows["nb201"]
    assert "91.50" in rows["s2"] and "1/1" in rows["s2"]
    written = tmp_path / "leaderboard.csv"
    assert f"wrote {written}" in result.output
    board = pd.read_csv(written)
    assert tuple(board.columns) == PINNED and sorted(board["space"]) == ["nb201", "s2"]
