"""Aggregation: run and epoch tables, statuses, segments, sweeps, hand-computed statistics."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from results_support import GT_SHA, epoch_row, write_run

from nasbench_harness.cli import main
from nasbench_harness.results import comparison, load_results, render_markdown, render_text, sections


def test_real_runs_load_with_config_and_provenance(real_tree: Path, reference_data_dir: Path):
    results = load_results(real_tree)
    runs = results.runs.set_index(["space", "seed"])
    assert sorted(runs.index) == [("nb201", 0), ("nb201", 1), ("s1", 0), ("s1", 1)]
    assert set(runs["status"]) == {"finished"} and runs["selected"].all()
    assert set(runs["profile"]) == {"tiny"} and set(runs["epochs"]) == {2} and set(runs["eigenvalue_mode"]) == {"off"}

    nb = runs.loc[("nb201", 0)]
    directory = real_tree / nb["run_dir"]
    metadata = json.loads((directory / "metadata.json").read_text())
    result = json.loads((directory / "result.json").read_text())
    assert nb["config_hash"] == metadata["config_hash"] == directory.name.split("-")[1]
    assert nb["gt_sha256"] == metadata["provenance"]["ground_truth"]["sha256"]
    assert nb["gt_file"] == "nb201_ground_truth.csv.gz"
    assert nb["bn"] == "affine=False, track_running_stats=False"
    assert nb["genotype"] == result["genotype"]
    for key, value in result["final_genotype_metrics"].items():
        assert nb[key] == pytest.approx(value)
    assert nb["final_eval_valid_acc"] == result["final"]["eval_valid_acc"]
    s1 = runs.loc[("s1", 1)]
    assert s1["gt_label"] == "approximate (surrogate)" and 0 < s1["nb301_valid_acc_approx"] < 100

    epochs = results.epochs
    assert len(epochs) == 8 and epochs["current"].all()
    assert {"run_dir", "method", "space", "seed", "status", "epoch", "genotype", "skip_cell"} <= set(epochs)
    assert "alphas" not in epochs
    first = epochs[(epochs["space"] == "nb201") & (epochs["seed"] == 0)].sort_values("epoch")
    logged = [json.loads(line) for line in (directory / "metrics.jsonl").read_text().splitlines()]
    assert first["gt_cifar10_test"].tolist() == pytest.approx([r["gt_cifar10_test"] for r in logged])


@pytest.fixture
def mixed_tree(tmp_path: Path) -> Path:
    """Three finished seeds (C10 test 90/92/94), one failed, one unfinished, on one (space, method)."""
    for seed, acc in zip((0, 1, 2), (90.0, 92.0, 94.0)):
        rows = [epoch_row(0, gt_cifar10_test=50.0), epoch_row(1, gt_cifar10_test=acc, eigenvalue=0.1 * (seed + 1))]
        write_run(tmp_path, seed=seed, rows=rows, final_metrics={"gt_cifar10_test": acc, "skip_cell": seed})
    write_run(tmp_path, seed=3, status="failed", rows=[epoch_row(0, gt_cifar10_test=10.0)])
    write_run(tmp_path, seed=4, status="unfinished", rows=[epoch_row(0, gt_cifar10_test=10.0)])
    return tmp_path


def test_statistics_match_hand_computation_and_exclude_unfinished(mixed_tree: Path):
    results = load_results(mixed_tree)
    assert results.runs.set_index("seed")["status"].to_dict() == {
        0: "finished",
        1: "finished",
        2: "finished",
        3: "failed",
        4: "unfinished",
    }
    (row,) = comparison(results.runs).to_dict("records")
    assert (row["n_finished"], row["n_failed"], row["n_unfinished"], row["n_seeds"]) == (3, 1, 1, 5)
    assert row["seeds"] == "0;1;2;3;4" and row["seeds_finished"] == "0;1;2"
    assert row["gt_cifar10_test_mean"] == pytest.approx(92.0)
    assert row["gt_cifar10_test_std"] == pytest.approx(2.0)  # sqrt(((-2)^2 + 0 + 2^2) / (3 - 1))
    assert row["gt_cifar10_test_sem"] == pytest.approx(2.0 / math.sqrt(3))
    assert row["skip_cell_mean"] == pytest.approx(1.0)
    assert row["final_eigenvalue_mean"] == pytest.approx(0.2)  # the last logged eigenvalue: 0.1, 0.2, 0.3
    assert row["search_hours_mean"] == pytest.approx(3.0 / 3600)
    assert row["cost_unit"] == "CPU-h" and row["gt_sha256"] == GT_SHA
    assert row["pub_label"] == "DARTS-V1" and row["pub_gt_cifar10_test"] == pytest.approx(54.30)

    text = "\n".join(render_text(s) for s in sections(results.runs))
    assert "92.00 ± 2.00 (se 1.15)" in text and "3 / 1 / 1" in text
    assert "1 failed and 1 unfinished run(s) are not in the statistics" in text
    assert "↳ published: DARTS-V1 (BN block not confirmed)" in text
    assert row["pub_bn_block"] == "BN block not confirmed"


def test_failed_run_without_metadata_is_counted(tmp_path: Path):
    write_run(tmp_path, seed=0, rows=[epoch_row(0)], final_metrics={"gt_cifar10_test": 80.0})
    write_run(tmp_path, seed=1, status="failed", metadata=False)
    runs = load_results(tmp_path).runs.set_index("seed")
    assert runs.loc[1, "status"] == "failed" and "nan" in runs.loc[1, "reason"]
    assert runs.loc[1, "method"] == "darts" and runs.loc[1, "config_hash"]
    assert pd.isna(runs.loc[1, "gt_cifar10_test"])


def test_later_segments_supersede_earlier_epochs(tmp_path: Path):
    """Rolled back at epoch 2: segment 1 redoes epochs 3-4; epoch 5 of segment 0 was abandoned."""
    rows = [epoch_row(e, 0, gt_cifar10_test=10.0 * e) for e in range(6)]
    rows += [epoch_row(e, 1, gt_cifar10_test=100.0 + e) for e in (3, 4)]
    write_run(tmp_path, status="unfinished", rows=rows)
    results = load_results(tmp_path)
    current = results.current_epochs().sort_values("epoch")
    assert list(zip(current["epoch"], current["segment"])) == [(0, 0), (1, 0), (2, 0), (3, 1), (4, 1)]
    assert current["gt_cifar10_test"].tolist() == [0.0, 10.0, 20.0, 103.0, 104.0]
    assert len(results.epochs) == 8 and results.runs.loc[0, "epochs_logged"] == 5


def test_truncated_last_metrics_line_is_ignored(tmp_path: Path):
    directory = write_run(tmp_path, status="unfinished", rows=[epoch_row(0), epoch_row(1)])
    with open(directory / "metrics.jsonl", "a") as handle:
        handle.write('{"epoch": 2, "segm')
    assert load_results(tmp_path).runs.loc[0, "epochs_logged"] == 2


def _sweep_run(root: Path, seed: int, strength: float, acc: float | None, gt: float, status: str = "finished") -> None:
    args = {"strength": strength, "strengths": [3e-4, 9e-4, 2.7e-3]}
    rows = [epoch_row(0, eval_valid_acc=acc if acc is not None else 0.0)]
    write_run(
        root, method="rdarts_l2", seed=seed, status=status, rows=rows, method_args=args,
        final_metrics={"gt_cifar10_test": gt},
    )  # fmt: skip


def test_sweep_collapses_to_the_best_validation_run_per_seed(tmp_path: Path):
    _sweep_run(tmp_path, 0, 3e-4, 50.0, gt=70.0)
    _sweep_run(tmp_path, 0, 9e-4, 60.0, gt=80.0)  # selected for seed 0
    _sweep_run(tmp_path, 0, 2.7e-3, None, gt=0.0, status="failed")
    _sweep_run(tmp_path, 1, 3e-4, 40.0, gt=90.0)
    _sweep_run(tmp_path, 1, 9e-4, 45.0, gt=84.0)  # selected for seed 1
    _sweep_run(tmp_path, 2, 3e-4, None, gt=0.0, status="failed")  # a sweep with no finished run
    _sweep_run(tmp_path, 2, 9e-4, None, gt=0.0, status="unfinished")
    runs = load_results(tmp_path).runs
    chosen = runs[runs["selected"]].set_index("seed")
    assert chosen["arg_strength"].to_dict() == {0: 9e-4, 1: 9e-4, 2: 9e-4}
    assert chosen["status"].to_dict() == {0: "finished", 1: "finished", 2: "unfinished"}
    assert runs.groupby("seed")["sweep_group"].nunique().tolist() == [1, 1, 1]
    assert runs["setting"].nunique() == 1
    (row,) = comparison(runs).to_dict("records")
    assert (row["n_runs"], row["n_seeds"], row["n_finished"], row["n_unfinished"]) == (7, 3, 2, 1)
    assert row["gt_cifar10_test_mean"] == pytest.approx(82.0)
    notes = "\n".join(n for s in sections(runs) for n in s.notes)
    assert "a sweep of 7 runs, one per seed kept" in notes


def test_markdown_escapes_pipes_and_html(mixed_tree: Path):
    (section, *_) = sections(load_results(mixed_tree).runs)
    markdown = render_markdown(section)
    header, rule, *body = [line for line in markdown.splitlines() if line.startswith("|")]
    assert all(line.count(" | ") == header.count(" | ") for line in body)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_aggregate_cli_writes_both_tables(mixed_tree: Path, tmp_path: Path, suffix: str):
    write_run(mixed_tree, method="other", seed=0, rows=[epoch_row(0)], method_args={"k": [1, 2]})
    write_run(mixed_tree, method="other2", seed=0, rows=[epoch_row(0)], method_args={"k": 0.5})
    out = tmp_path / f"agg{suffix}"
    result = CliRunner().invoke(main, ["aggregate", str(mixed_tree), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "7 runs (1 failed, 5 finished, 1 unfinished)" in result.output
    assert "NAS-Bench-201: ground truth of the final cells" in result.output
    read = pd.read_parquet if suffix == ".parquet" else pd.read_csv
    runs, epochs = read(out), read(tmp_path / f"agg_epochs{suffix}")
    assert len(runs) == 7 and sorted(runs["status"].unique()) == ["failed", "finished", "unfinished"]
    assert len(epochs) == 10 and {"run_dir", "method", "epoch", "current"} <= set(epochs)


def test_aggregate_cli_rejects_a_directory_without_runs(tmp_path: Path):
    result = CliRunner().invoke(main, ["aggregate", str(tmp_path)])
    assert result.exit_code != 0 and "holds no runs/ folder" in result.output and "Traceback" not in result.output


def test_first_and_second_order_runs_are_separate_rows_labelled_by_order(tmp_path: Path):
    """darts_es with `order` first, second, and a run from before the argument (first order)."""
    final = {"nb301_valid_acc_approx": 90.0}
    for seed, args in enumerate(({"order": "first"}, {"order": "second"}, {})):
        write_run(tmp_path, method="darts_es", space="s2", seed=seed, method_args=args, rows=[epoch_row(0)])
    write_run(tmp_path, method="darts_2nd", space="s2", seed=0, rows=[epoch_row(0)], final_metrics=final)
    write_run(tmp_path, method="darts", space="s2", seed=0, rows=[epoch_row(0)], final_metrics=final)
    table = comparison(load_results(tmp_path).runs)
    es = table[table["method"] == "darts_es"]
    assert sorted(es["order"]) == ["first", "first", "second"] and es["setting"].nunique() == 3
    published = dict(zip(table["method"] + "/" + table["order"], table["pub_s_test_error"]))
    assert published["darts_2nd/second"] == pytest.approx(4.85) and pd.isna(published["darts/first"])
    assert all(pd.isna(published[k]) for k in published if k.startswith("darts_es"))
    text = "\n".join(render_text(s) for s in sections(load_results(tmp_path).runs))
    assert "darts_es (first order)" in text and "darts_es (second order)" in text


def test_finished_runs_without_any_figure_give_a_counts_only_table(tmp_path: Path):
    """Finished runs that logged no figure (no epochs, no timings) used to crash `comparison` with pandas'
    "No objects to concatenate"; every caller (sections, aggregate, leaderboard, report) now shows the row."""
    for seed in (0, 1):
        directory = write_run(tmp_path, seed=seed, rows=[])
        result = json.loads((directory / "result.json").read_text())
        for key in ("search_seconds", "wall_seconds_this_session"):
            result.pop(key)
        (directory / "result.json").write_text(json.dumps(result))
    table = comparison(load_results(tmp_path).runs)
    assert table[["n_finished", "seeds_finished", "best_seed"]].values.tolist() == [[2, "0;1", 0]]
    assert not any(c.endswith("_mean") for c in table)
    text = "\n".join(render_text(s) for s in sections(load_results(tmp_path).runs))
    assert "2 / 0 / 0" in text
    for command in (["aggregate"], ["leaderboard"], ["report", "-o", str(tmp_path / "report"), "--no-pdf"]):
        result = CliRunner().invoke(main, [command[0], str(tmp_path), *command[1:]])
        assert result.exit_code == 0, (command, result.output)


def _as_this_code(directory: Path) -> None:
    """Make a hand-written run look finished by the harness reading it (write_run records commit c0ffee)."""
    from nasbench_harness.engine.versions import current_code

    metadata = json.loads((directory / "metadata.json").read_text())
    metadata.update(current_code(), code_versions=[current_code()])
    (directory / "metadata.json").write_text(json.dumps(metadata))


def test_stale_and_running_runs_are_marked_not_mixed_in_silently(tmp_path: Path):
    """A finished run of other code is `stale` (still in the statistics, counted and named in the notes); an
    unfinished one whose lock is held is `running`; a run resumed by this code after other code is stale."""
    from nasbench_harness.engine.record import RunLock
    from nasbench_harness.engine.versions import current_code
    from nasbench_harness.results.load import this_code
    from nasbench_harness.results.report import _status as report_status
    from nasbench_harness.results.tables import runs_section

    final = {"gt_cifar10_test": 90.0}
    _as_this_code(write_run(tmp_path, seed=0, rows=[epoch_row(0)], final_metrics=final))
    write_run(tmp_path, seed=1, rows=[epoch_row(0)], final_metrics=final)  # commit c0ffee: stale
    mixed = write_run(tmp_path, seed=2, rows=[epoch_row(0)], final_metrics=final)
    _as_this_code(mixed)
    metadata = json.loads((mixed / "metadata.json").read_text())
    metadata["code_versions"] = [{"harness_version": "0.0.9", "git_commit": "beef"}, current_code()]
    (mixed / "metadata.json").write_text(json.dumps(metadata))
    busy = write_run(tmp_path, seed=3, status="unfinished", rows=[epoch_row(0)])
    write_run(tmp_path, seed=4, status="unfinished", rows=[epoch_row(0)])  # interrupted, not running
    with RunLock(busy):
        results = load_results(tmp_path)
        shown = CliRunner().invoke(main, ["aggregate", str(tmp_path)])
    counts = report_status(results.runs)  # the report's "Runs by status" table
    assert counts.to_dict("records") == [
        {"finished": 3, "failed": 0, "unfinished": 2, "of which running": 1, "of which stale": 2}
    ]
    runs = results.runs.set_index("seed")
    assert runs["stale"].to_dict() == {0: False, 1: True, 2: True, 3: False, 4: False}
    assert runs["running"].to_dict() == {0: False, 1: False, 2: False, 3: True, 4: False}
    assert runs.loc[1, "code_versions"] == "0.1.0 (commit c0ffee)"
    (row,) = comparison(results.runs).to_dict("records")
    assert (row["n_finished"], row["n_stale"], row["n_unfinished"], row["n_running"]) == (3, 2, 2, 1)
    assert row["gt_cifar10_test_n"] == 3  # stale runs stay in the statistics, marked
    assert row["stale_versions"] == f"0.0.9 (commit beef) then {this_code()};0.1.0 (commit c0ffee)"
    assert shown.exit_code == 0, shown.output
    assert "5 runs (3 finished, 2 unfinished), 5 epoch rows; 1 running; 2 stale" in shown.output
    assert "3 / 0 / 2 (1 running, 2 stale)" in shown.output
    assert "darts on nb201/cifar10: 2 of 3 finished run(s) are stale (trained by " in shown.output
    assert "Stale: finished runs trained (in part) by another harness version or commit" in shown.output
    statuses = runs_section(results.runs).table.set_index("seed")["status"].to_dict()
    assert statuses == {
        "0": "finished",
        "1": "finished (stale)",
        "2": "finished (stale)",
        "3": "unfinished (running)",
        "4": "unfinished",
    }
