"""Seed packs on a GPU: an interleaved pack (each run on its own CUDA stream, first-order DARTS on the
CUDA-graph fast path) ends with the metrics of the runs alone, bit for bit once cuDNN is deterministic;
a batched pack agrees with them to float rounding.

Skipped without a GPU (CI has none); run on one with `pytest tests/gpu`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from nasbench_harness.config import RunConfig, SuiteConfig
from nasbench_harness.engine.packed import SeedPack, execute_pack
from nasbench_harness.engine.runner import execute
from nasbench_harness.suite_expansion import expand_suite
from nasbench_harness.testing import TIMING_KEYS

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

CUDA = torch.device("cuda")


@pytest.fixture(autouse=True)
def deterministic_cudnn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)


def configs(seeds: list[int], epochs: int = 3) -> list[RunConfig]:
    suite = {
        "name": "packed-cuda",
        "profile": "tiny",
        "methods": ["darts"],
        "spaces": ["nb201"],
        "datasets": ["cifar10"],
        "seeds": seeds,
        "train": {"epochs": epochs},
        "metrics": {"eigenvalue": "off", "ground_truth": False},
    }
    return expand_suite(SuiteConfig.model_validate(suite))


def rows(directory: Path) -> list[dict[str, Any]]:
    lines = (directory / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING_KEYS} for line in lines]


def test_interleaved_pack_on_the_fast_path_equals_the_runs_alone(tmp_path, reference_data_dir):
    runs = configs([0, 1, 2])
    for config in runs:
        assert execute(config, tmp_path / "alone", reference_data_dir, CUDA, progress=False).status == "finished"
    execute(runs[0], tmp_path / "again", reference_data_dir, CUDA, progress=False)
    deterministic = rows(tmp_path / "alone" / runs[0].relative_dir()) == rows(
        tmp_path / "again" / runs[0].relative_dir()
    )
    assert deterministic, "the same run alone twice differs on this GPU: no bitwise claim can be checked"

    outcomes = execute_pack(SeedPack(tuple(runs)), tmp_path / "packed", reference_data_dir, CUDA, progress=False)
    assert [o.status for o in outcomes] == ["finished"] * 3, [o.reason for o in outcomes]
    for config in runs:
        metadata = json.loads((tmp_path / "packed" / config.relative_dir() / "metadata.json").read_text())
        assert metadata["fast_path"]["enabled"], metadata["fast_path"]
        packed, alone = (rows(d / config.relative_dir()) for d in (tmp_path / "packed", tmp_path / "alone"))
        assert packed == alone, f"seed {config.seed}: the packed run differs from the run alone"


def test_batched_pack_on_cuda_follows_the_runs_alone(tmp_path, reference_data_dir):
    runs = configs([0, 1], epochs=2)
    outcomes = execute_pack(
        SeedPack(tuple(runs), mode="batched"), tmp_path / "packed", reference_data_dir, CUDA, progress=False
    )
    assert [o.status for o in outcomes] == ["finished"] * 2, [o.reason for o in outcomes]
    for config in runs:
        assert execute(config, tmp_path / "alone", reference_data_dir, CUDA, progress=False).status == "finished"
        packed, alone = (rows(d / config.relative_dir()) for d in (tmp_path / "packed", tmp_path / "alone"))
        for a, b in zip(packed, alone, strict=True):
            for key in ("train_loss", "valid_loss"):
                assert a[key] == pytest.approx(b[key], rel=2e-3), (config.seed, a["epoch"], key)
