"""Hand-written run directories, laid out as the engine writes them (imported by the results tests)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

GT_SHA = "ab" * 32


def epoch_row(epoch: int, segment: int = 0, **figures: Any) -> dict[str, Any]:
    """A metrics.jsonl row with the engine's keys; `figures` override or add."""
    row = {
        "epoch": epoch,
        "segment": segment,
        "lr": 0.025,
        "train_loss": 2.0,
        "train_acc": 20.0,
        "valid_loss": 2.1,
        "valid_acc": 19.0,
        "eval_valid_acc": 18.0,
        "alphas": {"cell": [[0.1 * e, 0.0, -0.1, 0.2, 0.0] for e in range(6)]},
        "genotype": "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|none~0|none~1|skip_connect~2|",
        "skip_cell": 4,
        "eigenvalue": None,
        "gt_cifar10_test": 54.3,
        "train_seconds": 1.0,
        "epoch_seconds": 1.5,
    }
    row.update(figures)
    return row


def write_run(
    root: Path,
    *,
    method: str = "darts",
    space: str = "nb201",
    dataset: str = "cifar10",
    seed: int = 0,
    status: str = "finished",
    rows: Sequence[dict[str, Any]] = (),
    final_metrics: dict[str, Any] | None = None,
    method_args: dict[str, Any] | None = None,
    genotype: str = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|none~0|none~1|skip_connect~2|",
    device: str = "cpu",
    epochs: int = 2,
    metadata: bool = True,
) -> Path:
    """Write a run directory the way the engine does (metadata, metrics, result or failed.json)."""
    config = {
        "method": method,
        "space": space,
        "dataset": dataset,
        "seed": seed,
        "profile": "tiny",
        "train": {"epochs": epochs, "batch_size": 8, "weight_decay": 3e-4},
        "metrics": {"eigenvalue": "exact", "ground_truth": True},
        "network": {"channels": 4},
        "method_args": method_args or {},
    }
    config_hash = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]
    directory = root / "runs" / space / dataset / method / f"{seed}-{config_hash}"
    directory.mkdir(parents=True)
    if metadata:
        meta = {
            "config": config,
            "config_hash": config_hash,
            "harness_version": "0.1.0",
            "git_commit": "c0ffee",
            "torch_version": "2.4.0",
            "device": device,
            "device_name": "Test GPU" if device.startswith("cuda") else "x86_64",
            "network": {"search_bn_affine": False, "search_bn_track_running_stats": False},
            "provenance": {"ground_truth": {"backend": "table", "file": "nb201.csv.gz", "sha256": GT_SHA}},
        }
        (directory / "metadata.json").write_text(json.dumps(meta))
    if rows:
        (directory / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if status == "finished":
        final = {k: v for k, v in rows[-1].items() if k not in ("alphas", "genotype")} if rows else {}
        result = {
            "status": "finished",
            "genotype": genotype,
            "stopped_early": False,
            "stop_reason": "",
            "epochs_run": len(rows),
            "final": final,
            "search_seconds": sum(r.get("epoch_seconds", 0.0) for r in rows),
            "wall_seconds_this_session": 100.0,
            "final_genotype_metrics": final_metrics or {},
        }
        (directory / "result.json").write_text(json.dumps(result))
    elif status == "failed":
        failure = {"status": "failed", "reason": "RunFailure: train_loss is nan", "traceback": "", "config": config}
        (directory / "failed.json").write_text(json.dumps({**failure, "config_hash": config_hash}))
    return directory
