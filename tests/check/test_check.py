"""The collapse regression check: quiet on a re-run of the same code, loud on planted regressions.

Runs are real tiny searches (DARTS on NB201 and S3, real CIFAR-10 sample, Lanczos eigenvalue every
epoch); regressions are planted in-process: a method change that pushes α towards skip connections,
and a genotype-rule change.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from nasbench_harness.check import compare, load_baseline, render_table, summarise_runs, write_baseline
from nasbench_harness.cli import main
from nasbench_harness.engine import run_suite
from nasbench_harness.errors import ConfigError, HarnessError
from nasbench_harness.methods.darts import Darts
from nasbench_harness.spaces.space import NB201Space

SUITE = """\
name: check-tiny
profile: tiny
methods: [darts]
spaces: [nb201, s3]
datasets: [cifar10]
seeds: [0]
metrics: {eigenvalue: fast, eigenvalue_every: 1}
"""


def run(root: Path, data_dir: Path) -> Path:
    suite = root / "suite.yaml"
    suite.parent.mkdir(parents=True, exist_ok=True)
    suite.write_text(SUITE)
    outcomes = run_suite(suite, results_dir=str(root / "results"), data_dir=str(data_dir), device="cpu", report=print)
    assert [o.status for o in outcomes] == ["finished"] * 2, [o.reason for o in outcomes]
    return root / "results"


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory, reference_data_dir: Path) -> Path:
    root = tmp_path_factory.mktemp("baseline")
    path = root / "baseline.yaml"
    write_baseline(path, summarise_runs(run(root, reference_data_dir)), "initial", previous=None)
    return path


def failures(baseline: Path, results: Path) -> set[tuple[str, str]]:
    rows = compare(load_baseline(baseline), summarise_runs(results))
    print(render_table(rows))
    return {(r.run, r.metric) for r in rows if not r.ok}


@pytest.mark.slow  # CI does this for real: ci/check_collapse.sh reruns the collapse suite against its baseline
def test_rerun_of_the_same_code_passes(baseline, tmp_path, reference_data_dir):
    results = run(tmp_path, reference_data_dir)
    assert failures(baseline, results) == set()
    outcome = CliRunner().invoke(main, ["check", str(results), "--baseline", str(baseline)])
    assert outcome.exit_code == 0, outcome.output
    assert "all" in outcome.output and "within tolerance across 2 runs" in outcome.output


def test_baseline_records_what_the_check_compares(baseline):
    loaded = load_baseline(baseline)
    assert set(loaded.runs) == {"nb201/cifar10/darts/0", "s3/cifar10/darts/0"}
    for values in loaded.runs.values():
        assert {"genotype", "final_skip", "skip_per_epoch", "eigenvalue_final", "eigenvalue_slope"} <= set(values)
        assert len(values["skip_per_epoch"]) == values["epochs_run"] == 2
    assert "gt_cifar10_test" in loaded.runs["nb201/cifar10/darts/0"]
    assert loaded.reason == "initial" and loaded.updated


def test_method_change_that_favours_skip_connections_fails(baseline, tmp_path, reference_data_dir, monkeypatch):
    original = Darts.alpha_step

    def skip_hungry(self, train, valid):
        stats = original(self, train, valid)
        for cell_type, alpha in self.net.alphas.items():
            column = self.net.space.edge_ops[cell_type][0].index("skip_connect")
            alpha.data[:, column] += 1.0
        return stats

    monkeypatch.setattr(Darts, "alpha_step", skip_hungry)
    failed = failures(baseline, run(tmp_path, reference_data_dir))
    assert ("nb201/cifar10/darts/0", "final_skip") in failed
    assert ("s3/cifar10/darts/0", "final_skip") in failed
    assert ("nb201/cifar10/darts/0", "genotype") in failed


def test_genotype_rule_change_fails(baseline, tmp_path, reference_data_dir, monkeypatch):
    original = NB201Space.derive_from_weights
    monkeypatch.setattr(
        NB201Space,
        "derive_from_weights",
        lambda self, weights: original(
            self,
            {t: -w for t, w in weights.items()},  # argmin instead of argmax
        ),
    )
    results = run(tmp_path, reference_data_dir)
    failed = failures(baseline, results)
    assert ("nb201/cifar10/darts/0", "genotype") in failed
    assert not any(run.startswith("s3/") for run, _ in failed)
    outcome = CliRunner().invoke(main, ["check", str(results), "--baseline", str(baseline)])
    assert outcome.exit_code == 1
    assert "!! nb201/cifar10/darts/0" in outcome.output and "6 of 6 edges changed" in outcome.output


def test_update_needs_a_reason_and_records_it(baseline, tmp_path):
    results = baseline.parent / "results"
    target = tmp_path / "new.yaml"
    refused = CliRunner().invoke(main, ["check", str(results), "--baseline", str(target), "--update"])
    assert refused.exit_code != 0 and "--reason" in refused.output and not target.exists()
    accepted = CliRunner().invoke(
        main, ["check", str(results), "--baseline", str(target), "--update", "--reason", "new genotype rule"]
    )
    assert accepted.exit_code == 0, accepted.output
    assert yaml.safe_load(target.read_text())["reason"] == "new genotype rule"
    assert CliRunner().invoke(main, ["check", str(results), "--baseline", str(target)]).exit_code == 0


def test_tolerances_decide(baseline, tmp_path):
    document = yaml.safe_load(baseline.read_text())
    tolerances = load_baseline(baseline).tolerances
    run_key = "nb201/cifar10/darts/0"
    values = document["runs"][run_key]["values"]
    skip, eigenvalue = values["final_skip"], values["eigenvalue_mean"]
    values["final_skip"] = skip + tolerances["final_skip"]
    values["eigenvalue_mean"] = eigenvalue / (1 + 0.9 * tolerances["eigenvalue_mean_rel"])
    within = tmp_path / "within.yaml"
    within.write_text(yaml.safe_dump(document))
    assert failures(within, baseline.parent / "results") == set()
    values["final_skip"] = skip + tolerances["final_skip"] + 1
    values["eigenvalue_mean"] = eigenvalue / (1 + 1.1 * tolerances["eigenvalue_mean_rel"])
    beyond = tmp_path / "beyond.yaml"
    beyond.write_text(yaml.safe_dump(document))
    assert failures(beyond, baseline.parent / "results") == {(run_key, "final_skip"), (run_key, "eigenvalue_mean")}


def test_space_tolerances_override_the_defaults(baseline, tmp_path):
    document = yaml.safe_load(baseline.read_text())
    values = document["runs"]["s3/cifar10/darts/0"]["values"]
    values["genotype_ops"] = {"normal:none": 8, "reduce:none": 8}  # 16 edges changed op
    strict = tmp_path / "strict.yaml"
    strict.write_text(yaml.safe_dump(document))
    assert failures(strict, baseline.parent / "results") == {("s3/cifar10/darts/0", "genotype_ops")}
    document["space_tolerances"] = {"s3": {"genotype_ops": 16}}
    lenient = tmp_path / "lenient.yaml"
    lenient.write_text(yaml.safe_dump(document))
    assert failures(lenient, baseline.parent / "results") == set()
    document["space_tolerances"] = {"s3": {"genotype_op": 16}}
    lenient.write_text(yaml.safe_dump(document))
    with pytest.raises(ConfigError, match=r"unknown tolerance keys \['genotype_op'\] in 'space_tolerances.s3'"):
        load_baseline(lenient)


def test_a_metric_missing_from_the_baseline_is_reported_not_raised(baseline, tmp_path):
    document = yaml.safe_load(baseline.read_text())
    del document["runs"]["nb201/cifar10/darts/0"]["values"]["genotype_ops"]
    older = tmp_path / "older.yaml"
    older.write_text(yaml.safe_dump(document))
    rows = compare(load_baseline(older), summarise_runs(baseline.parent / "results"))
    (row,) = [r for r in rows if not r.ok]
    assert (row.run, row.metric, row.note) == ("nb201/cifar10/darts/0", "genotype_ops", "missing on one side")


def test_missing_and_new_runs_fail(baseline, tmp_path):
    document = yaml.safe_load(baseline.read_text())
    document["runs"]["s1/cifar10/darts/0"] = document["runs"].pop("s3/cifar10/darts/0")
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(document))
    rows = compare(load_baseline(edited), summarise_runs(baseline.parent / "results"))
    notes = {(r.run, r.note) for r in rows if not r.ok}
    assert notes == {
        ("s1/cifar10/darts/0", "baseline run not in results"),
        ("s3/cifar10/darts/0", "new run: update the baseline"),
    }


def test_sweep_runs_get_their_own_keys(baseline, tmp_path):
    import json
    import shutil

    source = next((baseline.parent / "results").glob("runs/nb201/*/*/*"))
    for strength in (0.1, 0.2):
        target = tmp_path / "runs" / "nb201" / "cifar10" / "rdarts_l2" / f"0-{strength}"
        shutil.copytree(source, target)
        metadata = json.loads((target / "metadata.json").read_text())
        metadata["config"].update(method="rdarts_l2", method_args={"strength": strength})
        (target / "metadata.json").write_text(json.dumps(metadata))
    assert set(summarise_runs(tmp_path)) == {
        "nb201/cifar10/rdarts_l2/0/strength=0.1",
        "nb201/cifar10/rdarts_l2/0/strength=0.2",
    }


def test_epochs_abandoned_by_a_rollback_do_not_count(baseline, tmp_path):
    import json
    import shutil

    source = next((baseline.parent / "results").glob("runs/nb201/*/*/*"))
    target = tmp_path / source.relative_to(baseline.parent / "results")
    shutil.copytree(source, target)
    # Segment 0 logs epochs 0-5 and rolls back to 3; segment 1 redoes epoch 4 and stops there.
    logged = [(0, e) for e in range(6)] + [(1, 4)]
    rows = [
        {"segment": seg, "epoch": e, "skip_cell": 10 * seg + e, "eigenvalue": 1.0 + seg, "eval_valid_acc": 50.0 + seg}
        for seg, e in logged
    ]
    (target / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (summary,) = summarise_runs(tmp_path).values()
    assert summary.values["skip_per_epoch"] == [0, 1, 2, 3, 14]
    assert summary.values["final_valid_acc"] == 51.0 and summary.values["eigenvalue_final"] == 2.0


def test_bad_inputs_get_clear_errors(baseline, tmp_path):
    with pytest.raises(ConfigError, match="cannot read baseline .*create one with --update"):
        load_baseline(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("tolerances: {final_skips: 1}\nruns: {}\n")
    with pytest.raises(ConfigError, match=r"unknown tolerance keys \['final_skips'\]"):
        load_baseline(bad)
    with pytest.raises(HarnessError, match="no finished runs"):
        summarise_runs(tmp_path)
    unfinished = tmp_path / "copy"
    source = next((baseline.parent / "results").glob("runs/*/*/*/*"))
    target = unfinished / source.relative_to(baseline.parent / "results")
    target.mkdir(parents=True)
    (target / "metadata.json").write_text((source / "metadata.json").read_text())
    with pytest.raises(HarnessError, match="is unfinished"):
        summarise_runs(unfinished)
    outcome = CliRunner().invoke(main, ["check", str(unfinished), "--baseline", str(baseline)])
    assert outcome.exit_code == 1 and "Error: cannot check these results" in outcome.output
