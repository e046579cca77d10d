"""Loading a results tree of 10,000 runs: `load_results` must take under 5 s.

Run (pyproject's addopts skip benchmarks; --benchmark-only overrides that):

    python -m pytest benchmarks/bench_aggregate.py --benchmark-enable --benchmark-only -p no:cacheprovider

The tree is synthetic but shaped like the engine's: per run a metadata.json (~2 KB), a metrics.jsonl of
3 NB201-sized epoch rows (α included, ~1.5 KB each) and a result.json; 90% finished, 5% failed,
5% unfinished; a fifth of the runs are two-strength R-DARTS sweeps, so sweep selection is timed too.
Building the tree takes longer than loading it and is not timed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from nasbench_harness.results import leaderboard, load_results

NUM_RUNS = 10_000
EPOCHS = 3
TARGET_SECONDS = 5.0
METHODS = ("darts", "darts_2nd", "gdas", "pc_darts", "drnas", "beta_darts", "lambda_darts", "sdarts", "rsps")
SPACES = ("nb201", "darts", "s1", "s2", "s3")


def _row(epoch: int, seed: int) -> dict:
    return {
        "epoch": epoch,
        "segment": 0,
        "lr": 0.025,
        "steps": 390,
        "train_loss": 1.0 + seed % 7 / 10,
        "train_acc": 60.0 + epoch,
        "valid_loss": 1.1,
        "valid_acc": 58.0,
        "eval_valid_acc": 55.0 + (seed * 7919) % 100 / 10,
        "alphas": {"cell": [[0.001 * (e + k) for k in range(5)] for e in range(6)]},
        "genotype": "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|none~1|nor_conv_1x1~2|",
        "skip_cell": 2,
        "param_free_cell": 3,
        "entropy_cell": 1.6,
        **{f"max_weight_cell_{op}": 0.2 for op in ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3")},
        "eigenvalue": 0.1 * epoch if epoch % 2 == 0 else None,
        "gt_index": 1462,
        "gt_cifar10-valid_valid": 89.1,
        "gt_cifar10_test": 93.2,
        "gt_cifar100_valid": 70.1,
        "gt_cifar100_test": 70.3,
        "gt_ImageNet16-120_valid": 44.0,
        "gt_ImageNet16-120_test": 44.5,
        "train_seconds": 100.0,
        "epoch_seconds": 110.0,
    }


def _config(method: str, space: str, seed: int, strength: float | None) -> dict:
    args = {"strength": strength, "strengths": [3e-4, 9e-4]} if strength is not None else {}
    return {
        "method": method,
        "space": space,
        "dataset": "cifar10",
        "seed": seed,
        "profile": None,
        "train": {"epochs": 50, "batch_size": 64, "lr": 0.025, "weight_decay": 3e-4, "arch_lr": 3e-4},
        "data": {"split": None, "augment": True, "cutout_length": 16},
        "metrics": {"eigenvalue": "exact", "eigenvalue_every": 2, "ground_truth": True},
        "network": {"channels": 16, "layers": 8},
        "method_args": args,
    }


def build_tree(root: Path, runs: int = NUM_RUNS) -> Path:
    for i in range(runs):
        if i % 10 in (3, 4):  # a two-strength sweep: same seed and space, strengths 3e-4 and 9e-4
            method, seed, strength = "rdarts_l2", i // 10, (3e-4, 9e-4)[i % 10 - 3]
            space = SPACES[(i // 10) % len(SPACES)]
        else:
            method, seed, strength = METHODS[i % len(METHODS)], i, None
            space = SPACES[(i // len(METHODS)) % len(SPACES)]
        config = _config(method, space, seed, strength)
        directory = root / "runs" / space / "cifar10" / method / f"{config['seed']}-{i:012x}"
        directory.mkdir(parents=True)
        metadata = {
            "config": config,
            "config_hash": f"{i:012x}",
            "harness_version": "0.1.0",
            "git_commit": "0" * 40,
            "torch_version": "2.4.0",
            "device": "cuda:0",
            "device_name": "NVIDIA H100",
            "network": {"search_bn_affine": False, "search_bn_track_running_stats": False},
            "method": {"method": method, "args": config["method_args"]},
            "provenance": {"ground_truth": {"backend": "table", "file": "gt.csv.gz", "sha256": "ab" * 32}},
        }
        (directory / "metadata.json").write_text(json.dumps(metadata, indent=2))
        rows = [_row(e, i) for e in range(EPOCHS if i % 20 != 1 else 1)]
        (directory / "metrics.jsonl").write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
        if i % 20 == 1:
            continue  # unfinished
        if i % 20 == 2:
            (directory / "failed.json").write_text(json.dumps({"status": "failed", "reason": "nan", "config": config}))
            continue
        final = {k: v for k, v in rows[-1].items() if k not in ("alphas", "genotype")}
        result = {
            "status": "finished",
            "genotype": rows[-1]["genotype"],
            "stopped_early": False,
            "stop_reason": "",
            "epochs_run": EPOCHS,
            "final": final,
            "search_seconds": 330.0,
            "wall_seconds_this_session": 340.0,
            "final_genotype_metrics": {k: v for k, v in final.items() if k.startswith(("gt_", "skip_", "param_"))},
        }
        (directory / "result.json").write_text(json.dumps(result, indent=2))
    return root


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    start = time.perf_counter()
    root = build_tree(tmp_path_factory.mktemp("tree"))
    print(f"\nbuilt {NUM_RUNS:,} runs in {time.perf_counter() - start:.1f}s")
    return root


def test_load_10k_runs(benchmark, tree: Path) -> None:
    results = benchmark.pedantic(load_results, args=(tree,), rounds=3, warmup_rounds=1)
    assert len(results.runs) == NUM_RUNS and len(results.epochs) == NUM_RUNS * EPOCHS - (NUM_RUNS // 20) * 2
    benchmark.extra_info["runs_per_s"] = round(NUM_RUNS / benchmark.stats.stats.min)
    benchmark.extra_info["target_seconds"] = TARGET_SECONDS  # reported, not asserted: timings are machine-dependent
    print(f"\nload_results: {benchmark.stats.stats.min:.2f}s for {NUM_RUNS:,} runs (target < {TARGET_SECONDS:g}s)")


def test_leaderboard_of_10k_runs(benchmark, tree: Path) -> None:
    runs = load_results(tree).runs
    board = benchmark.pedantic(leaderboard, args=(runs,), rounds=3, warmup_rounds=1)
    assert board["n_runs"].sum() == NUM_RUNS
