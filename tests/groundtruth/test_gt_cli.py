"""`nasbench query` and `nasbench data convert-nb201` through click's CliRunner."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from nasbench_harness.cli import main

ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"


def _run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_query_prints_valid_and_test_labelled(reference_data_dir: Path) -> None:
    out = _run("query", ALL_SKIP, "--data-dir", str(reference_data_dir))
    assert "cell 1835" in out and "200 training epochs" in out and "backend table" in out
    assert "valid acc % (select)" in out and "test acc % (report)" in out
    lines = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith("  ")}
    assert lines["cifar10"] == ["n/a", "54.30"]
    assert lines["cifar10-valid"] == ["39.77", "39.99"]
    assert lines["cifar100"] == ["15.03", "15.61"]
    assert lines["ImageNet16-120"] == ["16.43", "16.32"]
    assert "no validation split" in out


def test_query_one_dataset_at_12_epochs(reference_data_dir: Path) -> None:
    out = _run("query", "6111", "--dataset", "cifar10-valid", "--epochs", "12", "--data-dir", str(reference_data_dir))
    assert "12 training epochs" in out and "84.38" in out and "missing" in out
    assert "cifar100" not in out


def test_query_best_states_the_rule(reference_data_dir: Path) -> None:
    out = _run("query", "--best", "--dataset", "cifar10", "--data-dir", str(reference_data_dir))
    assert "selected cell 6111" in out and "94.37" in out
    assert "selected by the highest cifar10-valid valid accuracy" in out and "never used to select" in out
    assert "oracle" in out


def test_query_darts_genotype_goes_to_the_surrogate(reference_data_dir: Path) -> None:
    skips = "[" + ", ".join(["('skip_connect', 0), ('skip_connect', 1)"] * 4) + "]"
    out = _run("query", f"Genotype(normal={skips}, reduce={skips})", "--data-dir", str(reference_data_dir))
    assert out.count("approximate (surrogate)") == 2 and "89.92" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["query"], "either ARCH or --best"),
        (["query", "|bogus~0|+|none~0|none~1|+|none~0|none~1|none~2|"], "unknown NAS-Bench-201 op 'bogus'"),
    ],
)
def test_query_errors_are_one_line(reference_data_dir: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, [*args, "--data-dir", str(reference_data_dir)])
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output


def test_convert_nb201_command(official_files, tmp_path: Path) -> None:
    out = tmp_path / "table.csv.gz"
    text = _run("data", "convert-nb201", str(official_files["nas_201_api"]), "-o", str(out))
    assert "15625 cells" in text and "left empty" in text and out.is_file()
    again = CliRunner().invoke(main, ["data", "convert-nb201", str(official_files["nas_201_api"]), "-o", str(out)])
    assert again.exit_code != 0 and "--force" in again.output
