"""Seed packs (engine/packed.py): runs equal but for their seed trained together in one process end with
exactly the results of the same runs alone, also when the pack is killed and resumed, and a pack is
locked, settled and failed run by run."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest
import torch

from nasbench_harness.config import RunConfig, SuiteConfig
from nasbench_harness.engine import batched
from nasbench_harness.engine.packed import SeedPack, execute_pack, pack_jobs
from nasbench_harness.engine.record import lock_holder
from nasbench_harness.engine.runner import execute
from nasbench_harness.engine.suite import run_suite
from nasbench_harness.errors import ConfigError
from nasbench_harness.methods import get_method_class
from nasbench_harness.suite_expansion import expand_suite
from nasbench_harness.testing import TIMING_KEYS, run_killed_at_step

CPU = torch.device("cpu")


def configs(method: str, space: str, seeds: list[int], epochs: int = 2, eigenvalue: bool = False) -> list[RunConfig]:
    """Tiny runs as a suite expands them; `eigenvalue`: the fast Hessian eigenvalue (random numbers at every
    epoch's end) every epoch."""
    metrics = {"eigenvalue": "fast", "eigenvalue_every": 1} if eigenvalue else {"eigenvalue": "off"}
    suite = {
        "name": "packed",
        "profile": "tiny",
        "methods": [method],
        "spaces": [space],
        "datasets": ["cifar10"],
        "seeds": seeds,
        "train": {"epochs": epochs},
        "metrics": {**metrics, "ground_truth": False},
    }
    return expand_suite(SuiteConfig.model_validate(suite))


def rows(directory: Path) -> list[dict[str, Any]]:
    path = directory / "metrics.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING_KEYS} for line in lines]


def final_state(directory: Path) -> dict[str, bytes]:
    payload = torch.load(directory / "checkpoint.pt", weights_only=True)
    state = {f"net.{k}": v for k, v in payload["net"].items()}
    state.update(_flatten(payload["method"], "method."))
    return {k: v.numpy().tobytes() for k, v in state.items()}


def _flatten(value: Any, prefix: str) -> dict[str, torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return {prefix: value.detach().contiguous()}
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in _flatten(item, f"{prefix}{key}.").items()}
    if isinstance(value, (list, tuple)):
        return {k: v for i, item in enumerate(value) for k, v in _flatten(item, f"{prefix}{i}.").items()}
    return {prefix: torch.tensor([hash(repr(value))])}


def assert_same_runs(packed: Path, alone: Path, runs: list[RunConfig]) -> None:
    """Every run of the pack has the metrics rows (losses, α, genotypes per epoch), result and final
    weights, α and optimiser state of the run alone, bit for bit."""
    for config in runs:
        a, b = packed / config.relative_dir(), alone / config.relative_dir()
        where = f"{config.method} on {config.space} seed {config.seed}"
        assert rows(a) == rows(b), f"{where}: the packed run's metrics rows differ from the run alone"
        result_a, result_b = (json.loads((d / "result.json").read_text()) for d in (a, b))
        assert result_a["genotype"] == result_b["genotype"], where
        final_a, final_b = ({k: v for k, v in r["final"].items() if k not in TIMING_KEYS} for r in (result_a, result_b))
        assert final_a == final_b, where
        state_a, state_b = final_state(a), final_state(b)
        differ = [k for k in state_a if state_a[k] != state_b.get(k)]
        assert state_a.keys() == state_b.keys() and not differ, f"{where}: final state differs in {differ[:5]}"


def run_alone(runs: list[RunConfig], results: Path, data: Path) -> None:
    for config in runs:
        assert execute(config, results, data, CPU, progress=False).status == "finished"


@pytest.fixture(scope="module")
def s3_alone(tmp_path_factory: pytest.TempPathFactory, reference_data_dir: Path) -> Path:
    """darts on S3, seeds 0 and 1, each alone: the reference of two tests (runs are read, never written)."""
    results = tmp_path_factory.mktemp("s3-alone")
    run_alone(configs("darts", "s3", [0, 1]), results, reference_data_dir)
    return results


@pytest.mark.parametrize(
    ("method", "space", "eigenvalue"),
    [
        ("darts", "s3", False),
        ("gdas", "nb201", True),
        pytest.param("darts", "nb201", True, marks=pytest.mark.slow),
        pytest.param("stacnas", "nb201", False, marks=pytest.mark.slow),
    ],
    ids=["darts-s3", "gdas-nb201-sampling-eigenvalue", "darts-nb201-eigenvalue", "stacnas-nb201-staged"],
)
def test_packed_runs_equal_the_runs_alone(method, space, eigenvalue, tmp_path, reference_data_dir, request):
    """The eigenvalue's power iteration draws random numbers at each epoch's end and GDAS inside every step
    (each run's RNG must be its own); StacNAS changes its supernet and method between stages inside a
    run's session."""
    seeds = [0, 1] if space != "nb201" else [0, 1, 2]
    runs = configs(method, space, seeds, epochs=2 if method != "stacnas" else 1, eigenvalue=eigenvalue)
    outcomes = execute_pack(SeedPack(tuple(runs)), tmp_path / "packed", reference_data_dir, CPU, progress=False)
    assert [o.status for o in outcomes] == ["finished"] * len(seeds), [o.reason for o in outcomes]
    assert [o.config.seed for o in outcomes] == seeds
    if space == "s3":
        alone = request.getfixturevalue("s3_alone")
    else:
        alone = tmp_path / "alone"
        run_alone(runs, alone, reference_data_dir)
    assert_same_runs(tmp_path / "packed", alone, runs)
    metadata = json.loads((tmp_path / "packed" / runs[1].relative_dir() / "metadata.json").read_text())
    assert metadata["packing"] == {"size": len(seeds), "seeds": seeds, "mode": "interleaved"}


def test_a_killed_pack_resumes_every_run_to_the_result_alone(tmp_path, reference_data_dir, s3_alone):
    """Killed inside the second run's last step of epoch 0: the first run has checkpointed epoch 0, the
    second nothing, so the resumed pack steps runs at different epochs side by side."""
    runs = configs("darts", "s3", [0, 1])
    steps = rows(s3_alone / runs[0].relative_dir())[0]["steps"]
    config_file = tmp_path / "pack.json"
    config_file.write_text(json.dumps([c.model_dump(mode="json") for c in runs]))
    kill_at = 2 * (steps - 1) + 2  # round `steps` (the last of epoch 0): run 0 has stepped, run 1 dies
    code = run_killed_at_step(config_file, tmp_path / "packed", reference_data_dir, kill_at)
    assert code == -signal.SIGKILL
    epochs_done = [len(rows(tmp_path / "packed" / c.relative_dir())) for c in runs]
    assert epochs_done == [1, 0], epochs_done
    outcomes = execute_pack(SeedPack(tuple(runs)), tmp_path / "packed", reference_data_dir, CPU, progress=False)
    assert [o.status for o in outcomes] == ["finished"] * 2, [o.reason for o in outcomes]
    assert_same_runs(tmp_path / "packed", s3_alone, runs)


def test_a_failing_run_leaves_the_pack_and_the_others_finish(tmp_path, reference_data_dir, monkeypatch):
    runs = configs("darts", "nb201", [0, 1, 2], epochs=1)
    cls = get_method_class("darts")
    original = cls.step

    failed_dir = tmp_path / "packed" / runs[1].relative_dir()
    holders_seen_by_seed_2: list[str | None] = []

    def step(self, train, valid):
        figures = original(self, train, valid)
        if self.config.seed == 1:
            figures["train_loss"] = torch.tensor(float("nan"))
        if self.config.seed == 2:
            holders_seen_by_seed_2.append(lock_holder(failed_dir))
        return figures

    monkeypatch.setattr(cls, "step", step)
    outcomes = execute_pack(SeedPack(tuple(runs)), tmp_path / "packed", reference_data_dir, CPU, progress=False)
    assert [o.status for o in outcomes] == ["finished", "failed", "finished"]
    assert "train_loss is nan at epoch 0" in outcomes[1].reason
    assert (outcomes[1].directory / "failed.json").exists()
    # the failed run left the pack at once: its lock was free while the others still trained
    assert holders_seen_by_seed_2[0] is not None and holders_seen_by_seed_2[-1] is None, holders_seen_by_seed_2
    monkeypatch.setattr(cls, "step", original)
    run_alone([runs[0], runs[2]], tmp_path / "alone", reference_data_dir)
    assert_same_runs(tmp_path / "packed", tmp_path / "alone", [runs[0], runs[2]])


def test_finished_runs_are_skipped_and_the_rest_packed(tmp_path, reference_data_dir):
    runs = configs("darts", "nb201", [0, 1, 2], epochs=1)
    execute(runs[1], tmp_path / "results", reference_data_dir, CPU, progress=False)
    outcomes = execute_pack(SeedPack(tuple(runs)), tmp_path / "results", reference_data_dir, CPU, progress=False)
    assert [o.status for o in outcomes] == ["finished", "skipped", "finished"]
    again = execute_pack(SeedPack(tuple(runs)), tmp_path / "results", reference_data_dir, CPU, progress=False)
    assert [o.status for o in again] == ["skipped"] * 3


def test_pack_jobs_group_the_seeds_of_one_configuration():
    darts = configs("darts", "nb201", [0, 1, 2, 3, 4])
    gdas = configs("gdas", "nb201", [0, 1])
    jobs = pack_jobs([*darts, *gdas], size=2)
    assert [type(j).__name__ for j in jobs] == ["SeedPack", "SeedPack", "RunConfig", "SeedPack"]
    assert [[c.seed for c in j.configs] for j in jobs if isinstance(j, SeedPack)] == [[0, 1], [2, 3], [0, 1]]
    assert jobs[2] == darts[4]
    assert pack_jobs(darts, size=1) == darts
    with pytest.raises(ConfigError, match="differ only in their seed"):
        SeedPack((darts[0], gdas[1]))


def test_suite_key_and_flag_pack_the_suite(tmp_path, reference_data_dir):
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "name: packs\nprofile: tiny\nmethods: [darts]\nspaces: [nb201]\ndatasets: [cifar10]\nseeds: [0, 1]\n"
        "metrics: {ground_truth: false}\npack_seeds: 2\n"
    )
    said: list[str] = []
    outcomes = run_suite(suite, results_dir=str(tmp_path / "r"), data_dir=str(reference_data_dir), report=said.append)
    assert [o.status for o in outcomes] == ["finished", "finished"]
    assert any("seed pack: darts on nb201/cifar10 seeds 0, 1" in line for line in said), said


def test_batched_pack_follows_the_runs_alone(tmp_path, reference_data_dir):
    """pack_mode batched: one vmapped forward/backward for the pack (engine/batched.py), against the runs
    alone in its layout (channels-first). Batched convolutions round differently, and Adam's first steps
    magnify float32 rounding, so the runs agree to rounding: losses to 2e-3 (switching a run alone from
    channels-last to channels-first, or fused cells to op by op, moves them 1e-3 here), α to 1e-4 while it
    moves ten times that. engine/batched.py's own tests check every step to 1e-10 in float64, on S1 and S3
    too; not here, nor the genotypes: after two tiny epochs α is nearly tied, and float32 rounding moves
    S3's α by 4e-4 and flips its genotype, as switching the layout of a run alone does."""
    runs = [
        c.model_copy(update={"network": {**c.network, "channels_last": False}})
        for c in configs("darts", "nb201", [0, 1])
    ]
    pack = SeedPack(tuple(runs), mode="batched")
    said: list[str] = []
    outcomes = execute_pack(pack, tmp_path / "packed", reference_data_dir, CPU, report=said.append, progress=False)
    assert [o.status for o in outcomes] == ["finished"] * 2, [o.reason for o in outcomes]
    assert not any("cannot be batched" in line for line in said), said
    metadata = json.loads((tmp_path / "packed" / runs[0].relative_dir() / "metadata.json").read_text())
    assert metadata["packing"]["batched"]["layout"] == "channels-first under vmap"
    assert metadata["fast_path"]["reason"].startswith("a batched seed pack")
    run_alone(runs, tmp_path / "alone", reference_data_dir)
    for config in runs:
        packed, alone = (rows(d / config.relative_dir()) for d in (tmp_path / "packed", tmp_path / "alone"))
        assert len(packed) == len(alone) == 2
        for a, b in zip(packed, alone):
            for key in ("train_loss", "valid_loss"):
                assert a[key] == pytest.approx(b[key], rel=2e-3), (config.seed, a["epoch"], key)
        for cell, alpha in alone[-1]["alphas"].items():
            ours, theirs = torch.tensor(packed[-1]["alphas"][cell]), torch.tensor(alpha)
            moved = (theirs - torch.tensor(alone[0]["alphas"][cell])).abs().max()
            assert (ours - theirs).abs().max() < 1e-4 < moved / 10, (config.seed, cell)


def test_batched_pack_of_an_unbatchable_method_interleaves_and_says_why(tmp_path, reference_data_dir):
    runs = configs("gdas", "nb201", [0, 1], epochs=1)
    said: list[str] = []
    pack = SeedPack(tuple(runs), mode="batched")
    outcomes = execute_pack(pack, tmp_path / "packed", reference_data_dir, CPU, report=said.append, progress=False)
    assert [o.status for o in outcomes] == ["finished"] * 2
    refusals = [line for line in said if "cannot be batched" in line]
    assert len(refusals) == 1 and "packable" in refusals[0], said
    metadata = json.loads((tmp_path / "packed" / runs[0].relative_dir() / "metadata.json").read_text())
    assert "packable" in metadata["packing"]["batched_refused"] and "batched" not in metadata["packing"]
    run_alone(runs, tmp_path / "alone", reference_data_dir)
    assert_same_runs(tmp_path / "packed", tmp_path / "alone", runs)


def test_a_run_trained_partly_batched_says_so_after_resuming_alone(tmp_path, reference_data_dir, monkeypatch):
    """Interrupted inside a batched pack (after its first epoch's checkpoint), resumed alone: metadata
    `packings` lists both sessions, as batched steps round differently from the run alone's."""
    runs = configs("darts", "nb201", [0, 1])
    original, calls = batched.BatchedStep.__call__, [0]
    steps = 4  # the tiny profile's weight steps per epoch

    def interrupted(self, requests):
        calls[0] += 1
        if calls[0] == steps + 2:
            raise KeyboardInterrupt
        return original(self, requests)

    monkeypatch.setattr(batched.BatchedStep, "__call__", interrupted)
    with pytest.raises(KeyboardInterrupt):
        execute_pack(SeedPack(tuple(runs), mode="batched"), tmp_path, reference_data_dir, CPU, progress=False)
    monkeypatch.setattr(batched.BatchedStep, "__call__", original)
    assert len(rows(tmp_path / runs[0].relative_dir())) == 1
    assert execute(runs[0], tmp_path, reference_data_dir, CPU, progress=False).status == "finished"
    metadata = json.loads((tmp_path / runs[0].relative_dir() / "metadata.json").read_text())
    assert [p["size"] for p in metadata["packings"]] == [2, 1]
    assert metadata["packings"][0]["mode"] == "batched" and "batched" in metadata["packings"][0]
    assert metadata["packing"] == {"size": 1}
