"""`nasbench derive`: every α format, and one clear line for every kind of bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from nasbench_harness.cli import main

NB201_CELL = np.zeros((6, 5))
NB201_CELL[:, 1] = 1.0  # skip_connect everywhere: the collapsed cell
NB201_CELL[5, 3] = 2.0  # but nor_conv_3x3 on 3←2


def invoke(*args: str):
    return CliRunner().invoke(main, ["derive", *args])


def expected_nb201() -> str:
    return "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|nor_conv_3x3~2|"


@pytest.mark.parametrize("form", ["npy", "npz", "json_list", "json_object"])
def test_nb201_formats(tmp_path, form):
    path = tmp_path / f"alphas.{form.split('_')[0]}"
    if form == "npy":
        np.save(path, NB201_CELL)
    elif form == "npz":
        np.savez(path, cell=NB201_CELL)
    elif form == "json_list":
        path.write_text(json.dumps(NB201_CELL.tolist()))
    else:
        path.write_text(json.dumps({"cell": NB201_CELL.tolist()}))
    result = invoke("--space", "nb201", "--alphas", str(path))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        expected_nb201(),
        "cell: 5 skip_connect, 5 parameter-free of 6 ops",
    ]


@pytest.mark.parametrize("form", ["npz", "json"])
def test_darts_family_formats(tmp_path, darts_family_space, form):
    rng = np.random.default_rng(0)
    alphas = {t: rng.normal(size=s) for t, s in darts_family_space.alpha_shapes().items()}
    path = tmp_path / f"alphas.{form}"
    if form == "npz":
        np.savez(path, **alphas)
    else:
        path.write_text(json.dumps({t: a.tolist() for t, a in alphas.items()}))
    result = invoke("--space", darts_family_space.name, "--alphas", str(path))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    genotype = darts_family_space.derive(alphas)
    assert lines[0] == str(genotype)
    assert darts_family_space.parse_genotype(lines[0]) == genotype
    assert lines[1].startswith("normal: ") and lines[2].startswith("reduce: ")
    assert lines[1].endswith("of 8 ops")


def one_line_error(result, *fragments: str) -> None:
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit)
    message = result.output.strip()
    assert message.startswith("Error:") and "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message


def test_wrong_shape_names_expected(tmp_path):
    path = tmp_path / "a.npy"
    np.save(path, np.zeros((6, 4)))
    one_line_error(invoke("--space", "nb201", "--alphas", str(path)), "(6, 4)", "expects (6, 5)")


def test_darts_needs_both_cell_types(tmp_path):
    path = tmp_path / "a.npy"
    np.save(path, np.zeros((14, 8)))
    one_line_error(invoke("--space", "darts", "--alphas", str(path)), "normal, reduce")
    npz = tmp_path / "a.npz"
    np.savez(npz, normal=np.zeros((14, 8)))
    one_line_error(invoke("--space", "darts", "--alphas", str(npz)), "'reduce' (14, 8)", "got keys ['normal']")


def test_unknown_space_suggests(tmp_path):
    path = tmp_path / "a.npy"
    np.save(path, NB201_CELL)
    one_line_error(invoke("--space", "nb210", "--alphas", str(path)), "unknown space 'nb210'", "'nb201'")


@pytest.mark.parametrize(
    "name, content, fragment",
    [
        ("missing.npy", None, "No such file"),
        ("bad.npz", b"not a zip", "cannot read"),
        ("bad.npy", b"garbage", "cannot read"),
        ("empty.npy", b"", "cannot read"),
        ("empty.npz", b"", "cannot read"),
        ("bad.json", b"{not json", "cannot read"),
        ("ragged.json", b"[[1, 2], [3]]", "not a numeric matrix"),
        ("alphas.txt", b"1 2 3", "unsupported file type '.txt'"),
    ],
)
def test_unreadable_files(tmp_path, name, content, fragment):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    one_line_error(invoke("--space", "nb201", "--alphas", str(path)), fragment)


def test_nan_rejected(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"cell": [[float("nan")] * 5] * 6}))
    one_line_error(invoke("--space", "nb201", "--alphas", str(path)), "NaN")


def test_listed_by_help():
    result = CliRunner().invoke(main, ["derive", "--help"])
    assert result.exit_code == 0 and "--alphas" in result.output
