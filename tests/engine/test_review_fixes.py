"""Found in review: a torn last metrics row blocks resume; `split: null` on NB201 fell back to DARTS' half."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from nasbench_harness.config import DataConfig, RunConfig, TrainConfig
from nasbench_harness.engine.record import RunRecord
from nasbench_harness.engine.runner import SearchRun
from nasbench_harness.suite_expansion import expand_suite, load_suite


def test_a_torn_last_metrics_row_is_dropped_on_resume(tmp_path: Path) -> None:
    record = RunRecord(tmp_path)
    record.append_metrics({"epoch": 0, "segment": 0, "train_loss": 1.0})
    with open(tmp_path / "metrics.jsonl", "a") as handle:
        handle.write('{"epoch": 1, "seg')  # a kill or a full disk mid-append
    assert [r["epoch"] for r in record.metrics()] == [0]
    record.truncate_metrics_after(0, 1)
    assert [json.loads(line)["epoch"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [0]


def test_split_null_on_nb201_resets_to_the_spaces_protocol(tmp_path: Path, reference_data_dir: Path) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text(
        "name: t\nprofile: tiny\nmethods: [darts]\nspaces: [nb201]\ndatasets: [cifar10]\nseeds: [0]\n"
        "data: {split: null, limit_train: 256}\n"
    )
    (config,) = expand_suite(load_suite(suite), suite)
    assert config.data.split is None
    run = SearchRun(config, tmp_path / "results", reference_data_dir, torch.device("cpu"), progress=False)
    run.build()
    assert run.split.protocol == "nb201_official"
    # A config built directly (no suite) resolves the same way.
    direct = RunConfig(
        method="darts",
        space="nb201",
        dataset="cifar10",
        seed=0,
        train=TrainConfig(batch_size=8),
        data=DataConfig(limit_train=256),
        network={"channels": 4, "cells_per_stage": 1},
    )
    run = SearchRun(direct, tmp_path / "results", reference_data_dir, torch.device("cpu"), progress=False)
    run.build()
    assert run.split.protocol == "nb201_official"
