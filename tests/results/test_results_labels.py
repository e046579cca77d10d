"""How results name a method on a space and which published figures stand beside it (results/labels.py):
"unofficial" (MSG-DAS, a reconstruction), "StacNAS-style" (StacNAS off the DARTS space), "paper searched
<space>" (a run on another variant of the DARTS space than its paper's), and `[train]` on the figures of a
one-level search, measured on training images. Tables, leaderboard and report all say it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from results_support import epoch_row, write_run

from nasbench_harness.cli import main
from nasbench_harness.methods import stacnas
from nasbench_harness.methods.darts import Darts
from nasbench_harness.results import comparison, leaderboard, load_results, published, render_text, sections
from nasbench_harness.results.evaluation_table import COLUMNS, evaluation_section
from nasbench_harness.results.labels import published_applies, run_label
from nasbench_harness.results.plots import overview_figure
from nasbench_harness.results.report import write_report

#: susan0199/StacNAS a3c00dd genotypes.py lines 14-22 (OPS_LIST): the ops its groups (lines 25-30) hold.
STACNAS_OPS_LIST = [
    "avg_pool_3x3",
    "max_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
    "none",
]


def test_labels_name_what_the_method_and_space_say():
    assert set(stacnas.CODE_OPS) == set(STACNAS_OPS_LIST) - {"none"}
    assert run_label("msg_das", "nb201").text() == "msg_das (unofficial)"
    assert run_label("msg_das", "darts").text() == "msg_das (unofficial)"  # its paper's variant is not known
    for space in ("nb201", "s1", "s2", "s3", "s4"):  # the code's groups do not fit: our extension
        assert run_label("stacnas", space).text() == "stacnas (StacNAS-style)"
    assert run_label("stacnas", "darts").text() == "stacnas"
    assert run_label("stacnas", "darts_nonone").text() == "stacnas (paper searched darts)"
    assert run_label("sdarts_rs", "darts").text() == "sdarts_rs (paper searched darts_nonone)"
    assert run_label("sdarts_rs", "darts_nonone").text() == "sdarts_rs"
    assert run_label("darts_es", "darts_nonone").text("first order") == "darts_es (first order; paper searched darts)"
    assert run_label("no_such_method", "darts").text() == "no_such_method"  # results of an older harness
    assert published_applies("darts", "nb201") and published_applies("sdarts_rs", "darts_nonone")
    assert not published_applies("msg_das", "nb201") and not published_applies("sdarts_rs", "darts")


def nb301(e: int, **figures: object) -> dict[str, object]:
    return epoch_row(e, alphas=None, gt_cifar10_test=None, skip_cell=None, skip_normal=1, **figures)


def build(root: Path) -> None:
    nb201 = [epoch_row(e, alphas=None) for e in range(2)]
    write_run(root, method="darts", rows=nb201)
    write_run(root, method="msg_das", rows=nb201)
    for space in ("darts", "darts_nonone"):
        write_run(root, method="sdarts_rs", space=space, rows=[nb301(e, nb301_valid_acc_approx=90.0) for e in range(2)])
    rows = [nb301(e, eigenvalue=0.25) for e in range(2)]
    write_run(root, method="stacnas", space="s3", rows=rows, split="full")


@pytest.fixture
def planted_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """A published NB201 row for MSG-DAS, which must still not be shown (it is unofficial)."""
    monkeypatch.setitem(published.NB201, "msg_das", published.NB201Published("MSG-DAS", 90.0, 70.0, 40.0))


def test_tables_label_runs_and_show_no_published_figure_where_none_applies(tmp_path: Path, planted_rows: None):
    build(tmp_path)
    runs = load_results(tmp_path).runs
    table = comparison(runs).set_index(["method", "space"])
    assert table.loc[("darts", "nb201"), "pub_label"] == "DARTS-V1"
    assert table.loc[("msg_das", "nb201"), "pub_label"] == ""  # planted, yet unofficial: not attached
    assert table.loc[("msg_das", "nb201"), "label"] == "msg_das (unofficial)"
    assert not table.loc[("msg_das", "nb201"), "official"]
    off, own = table.loc[("sdarts_rs", "darts")], table.loc[("sdarts_rs", "darts_nonone")]
    assert (off["label"], off["paper_space"], off["off_paper_space"]) == (
        "sdarts_rs (paper searched darts_nonone)",
        "darts_nonone",
        True,
    )
    assert (own["label"], own["off_paper_space"]) == ("sdarts_rs", False)
    one_level = table.loc[("stacnas", "s3")]
    assert one_level["training_images"] and one_level["label"] == "stacnas (StacNAS-style)"
    assert not table.loc[("darts", "nb201"), "training_images"]

    text = "\n".join(render_text(s) for s in sections(runs))
    assert (
        "msg_das (unofficial)" in text
        and "msg_das (unofficial): unofficial, a reconstruction without public code" in text
    )
    assert "MSG-DAS" not in text.split("Published reference numbers")[0]
    assert "sdarts_rs (paper searched darts_nonone) on darts: its paper searched darts_nonone" in text
    assert "stacnas (StacNAS-style) on s3: StacNAS-style, the harness's extension" in text
    assert "18.00 (n=1) [train]" in text and "0.250 (n=1) [train]" in text  # valid acc and eigenvalue
    assert "stacnas (StacNAS-style) on s3/cifar10: a one-level search on the whole training set" in text
    assert "18.00 [train]" in text  # the best seed's valid acc (RobustDARTS protocol) too
    assert all("stacnas" in line for line in text.splitlines() if "[train]" in line)


def test_a_run_off_its_papers_space_gets_no_published_figure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The published-figure gate of a space with variants, exercised on NB201 by saying DARTS' paper searched
    another variant of it (no such variant exists; the DARTS space's rows would be gated the same way)."""
    write_run(tmp_path, method="darts", rows=[epoch_row(e, alphas=None) for e in range(2)])
    assert comparison(load_results(tmp_path).runs)["pub_label"].tolist() == ["DARTS-V1"]
    monkeypatch.setattr(Darts, "paper_spaces", {"nb201": "nb201_other_variant"})
    row = comparison(load_results(tmp_path).runs).iloc[0]
    assert (row["pub_label"], row["label"]) == ("", "darts (paper searched nb201_other_variant)")
    assert pd.isna(row["pub_gt_cifar10_test"])


def test_leaderboard_and_report_carry_the_labels(tmp_path: Path, planted_rows: None):
    build(tmp_path / "results")
    board = leaderboard(load_results(tmp_path / "results").runs).set_index(["method", "space"])
    msg = board.loc[("msg_das", "nb201")]
    assert (msg["label"], msg["official"], msg["published_label"]) == ("msg_das (unofficial)", False, "")
    assert board.loc[("sdarts_rs", "darts"), "off_paper_space"]
    assert board.loc[("sdarts_rs", "darts"), "paper_space"] == "darts_nonone"
    stac = board.loc[("stacnas", "s3")]
    assert (stac["split"], stac["eval_on_training_images"], stac["label"]) == ("full", True, "stacnas (StacNAS-style)")
    assert not board.loc[("darts", "nb201"), "eval_on_training_images"]
    printed = CliRunner().invoke(main, ["leaderboard", str(tmp_path / "results"), "--csv", str(tmp_path / "b.csv")])
    lines = {line.split("  ")[0].strip(): line for line in printed.output.splitlines()}
    assert "18.00 [train]" in lines["stacnas (StacNAS-style)"] and "[train]" not in lines["msg_das (unofficial)"]

    epochs = load_results(tmp_path / "results").current_epochs()
    legend = [t.get_text() for lg in overview_figure(epochs, "nb201").legends for t in lg.get_texts()]
    assert legend == ["darts (n=1)", "msg_das (unofficial) (n=1)"]
    legend = [t.get_text() for lg in overview_figure(epochs, "darts").legends for t in lg.get_texts()]
    assert legend == ["sdarts_rs (paper searched darts_nonone) (n=1)"]

    page = write_report(tmp_path / "results", tmp_path / "out", pdf=False).html.read_text()
    for label in ("msg_das (unofficial)", "stacnas (StacNAS-style)", "sdarts_rs (paper searched darts_nonone)"):
        assert f"<td>{label}</td>" in page, label
    assert "[train]" in page


def test_retrained_table_names_an_unofficial_method_and_notes_an_off_paper_space():
    row = {c: None for c in COLUMNS} | {"dataset": "cifar10", "setting": "s", "seed": 0, "stage": "final"}
    row |= {"status": "finished", "stale": False, "test_error": 3.0, "full_protocol": True}
    evals = pd.DataFrame(
        [row | {"space": "darts", "method": "msg_das"}, row | {"space": "darts", "method": "sdarts_rs"}],
        columns=list(COLUMNS),
    )
    section = evaluation_section(evals)
    assert "cifar10 msg_das (unofficial)" in section.table.columns and "cifar10 sdarts_rs" in section.table.columns
    assert "sdarts_rs on darts: paper searched darts_nonone (see the comparison tables' notes)." in section.notes
