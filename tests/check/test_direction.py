"""The direction of the collapse check (check/direction.py): the regime's DARTS collapses, some fix holds.

Hand-written run directories stand for the CI regime's runs here; the slow tests plant the two regressions
the check exists for (α frozen, a fix turned into plain DARTS) in real runs of the CI regime.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from results_support import epoch_row, write_run

from nasbench_harness.check import load_baseline
from nasbench_harness.check.direction import Direction, check_direction, parse_direction
from nasbench_harness.cli import main
from nasbench_harness.errors import ConfigError

HEALTHY = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
SKIPPY = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
DIRECTION = Direction(collapses=("nb201/cifar10/darts",), holds=("nb201/cifar10/sdarts_rs", "nb201/cifar10/beta_darts"))


def collapsing(epochs: int = 5) -> list[dict]:
    rows = [epoch_row(0, param_free_cell=2, skip_cell=1, gt_cifar10_test=93.0, genotype=HEALTHY)]
    rows += [
        epoch_row(e, param_free_cell=5, skip_cell=5, gt_cifar10_test=80.0, genotype=SKIPPY) for e in range(1, epochs)
    ]
    return rows


def healthy(epochs: int = 5) -> list[dict]:
    return [epoch_row(e, param_free_cell=1, skip_cell=1, gt_cifar10_test=93.0, genotype=HEALTHY) for e in range(epochs)]


def tree(root: Path, **methods: bool) -> Path:
    """One finished run per method: collapsing (True) or healthy (False)."""
    for method, collapses in methods.items():
        rows = collapsing() if collapses else healthy()
        write_run(root, method=method, rows=rows, genotype=SKIPPY if collapses else HEALTHY, epochs=5)
    return root


def outcome(results: list) -> list[tuple[bool, str]]:
    return [(r.ok, r.message) for r in results]


def test_the_regime_as_it_should_be_passes(tmp_path: Path):
    results = check_direction(DIRECTION, tree(tmp_path, darts=True, sdarts_rs=False, beta_darts=False))
    assert outcome(results) == [
        (True, "nb201/cifar10/darts collapses in every run (1)"),
        (True, "nb201/cifar10/sdarts_rs holds: no run collapsed (1)"),
        (True, "nb201/cifar10/beta_darts holds: no run collapsed (1)"),
    ]
    assert results[0].details[0].startswith("nb201/cifar10/darts seed 0: collapsed at epoch 1")


def test_darts_that_no_longer_collapses_fails_and_says_why(tmp_path: Path):
    (result, *_) = check_direction(DIRECTION, tree(tmp_path, darts=False, sdarts_rs=False, beta_darts=False))
    assert not result.ok
    assert "nb201/cifar10/darts no longer collapses in 1 of 1 runs" in result.message
    assert "an α step that no longer reaches α" in result.message
    assert result.details[0].startswith("nb201/cifar10/darts seed 0: not collapsed")


def test_a_fix_that_collapses_fails_and_says_which(tmp_path: Path):
    results = check_direction(DIRECTION, tree(tmp_path, darts=True, sdarts_rs=False, beta_darts=True))
    assert [r.ok for r in results] == [True, True, False]
    assert results[2].message.startswith("nb201/cifar10/beta_darts collapsed in 1 of 1 runs where the fix held")
    assert "a fix that turned into plain DARTS" in results[2].message
    assert results[2].details[0].startswith("nb201/cifar10/beta_darts seed 0: collapsed at epoch 1")


def test_missing_runs_fail(tmp_path: Path):
    tmp_path.joinpath("runs").mkdir()
    assert outcome(check_direction(DIRECTION, tmp_path)) == [
        (False, "nb201/cifar10/darts: no finished run, so nothing shows that it collapses"),
        (False, "nb201/cifar10/sdarts_rs: no finished run, so nothing shows that the fix holds"),
        (False, "nb201/cifar10/beta_darts: no finished run, so nothing shows that the fix holds"),
    ]


def test_the_cli_fails_on_a_direction_regression_and_update_keeps_the_section(tmp_path: Path):
    results = tree(tmp_path / "results", darts=False, sdarts_rs=False, beta_darts=False)
    baseline = tmp_path / "baseline.yaml"
    written = CliRunner().invoke(
        main, ["check", str(results), "--baseline", str(baseline), "--update", "--reason", "x"]
    )
    assert written.exit_code == 0, written.output
    document = yaml.safe_load(baseline.read_text())
    document["direction"] = DIRECTION.as_yaml()
    baseline.write_text(yaml.safe_dump(document))
    failed = CliRunner().invoke(main, ["check", str(results), "--baseline", str(baseline)])
    assert failed.exit_code == 1, failed.output
    assert "!! nb201/cifar10/darts no longer collapses in 1 of 1 runs" in failed.output
    updated = CliRunner().invoke(
        main, ["check", str(results), "--baseline", str(baseline), "--update", "--reason", "again"]
    )
    assert updated.exit_code == 0, updated.output
    assert load_baseline(baseline).direction == DIRECTION


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (["nb201/cifar10/darts"], "'direction' is a mapping"),
        ({"collapse": ["nb201/cifar10/darts"]}, "'direction' is a mapping"),
        ({"some_fix_holds": ["nb201/cifar10/darts"]}, "'direction' is a mapping"),
        ({"collapses": ["darts"]}, "direction.collapses must list groups as 'space/dataset/method'"),
    ],
)
def test_a_malformed_direction_is_refused(raw, message):
    with pytest.raises(ConfigError, match=message):
        parse_direction(raw, Path("baseline.yaml"))


# ---------------------------------------------------------------------------------------------
# Planted regressions in real runs of the CI regime (ci/collapse_suite.yaml, seed 0, in process)

REPO = Path(__file__).resolve().parents[2]


def ci_regime(tmp_path: Path, data_dir: Path, methods: list[str]) -> Path:
    """Run `methods` of the CI collapse suite in this process (so monkeypatches reach them)."""
    from nasbench_harness.engine import run_suite

    suite = yaml.safe_load((REPO / "ci" / "collapse_suite.yaml").read_text())
    suite.update(methods=methods, executor={"name": "local"})
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    outcomes = run_suite(path, results_dir=str(tmp_path / "results"), data_dir=str(data_dir), report=print)
    assert [o.status for o in outcomes] == ["finished"] * len(methods), [o.reason for o in outcomes]
    return tmp_path / "results"


def ci_direction() -> Direction:
    return load_baseline(REPO / "ci" / "collapse_baseline.yaml").direction


@pytest.mark.slow
def test_ci_direction_fails_when_alpha_is_frozen(tmp_path, reference_data_dir, monkeypatch):
    """An α step that no longer reaches α: DARTS keeps its initial cell and the check names it."""
    from nasbench_harness.methods.darts import Darts

    monkeypatch.setattr(Darts, "alpha_step", lambda self, train, valid: {})
    results = ci_regime(tmp_path, reference_data_dir, ["darts"])
    direction = ci_direction()
    (darts,) = check_direction(Direction(collapses=direction.collapses), results)
    assert not darts.ok and "nb201/cifar10/darts no longer collapses in 1 of 1 runs" in darts.message


@pytest.mark.slow
def test_ci_direction_fails_when_a_fix_turns_into_plain_darts(tmp_path, reference_data_dir, monkeypatch):
    """DARTS-ES that never stops is first-order DARTS on the same seed: it collapses, and the check says which."""
    from nasbench_harness.methods.base import CONTINUE
    from nasbench_harness.methods.robust_darts import DartsEs

    monkeypatch.setattr(DartsEs, "on_epoch_end", lambda self, epoch, row: CONTINUE)
    results = ci_regime(tmp_path, reference_data_dir, ["darts_es"])
    (fix,) = check_direction(Direction(holds=("nb201/cifar10/darts_es",)), results)
    assert "nb201/cifar10/darts_es" in ci_direction().holds
    assert not fix.ok and fix.message.startswith("nb201/cifar10/darts_es collapsed in 1 of 1 runs where the fix held")
