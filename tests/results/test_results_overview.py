"""The report's overview: per space one figure with every method of the results (whatever their names)
and one summary table with their published NB201 numbers; the per-run detail follows, folded away."""

from __future__ import annotations

import re
from pathlib import Path

from matplotlib.collections import PolyCollection
from results_support import epoch_row, write_run

from nasbench_harness.results import load_results, write_report
from nasbench_harness.results.plots import overview_figure

#: Three methods on NB201 (one no harness registers: the overview must not need the registry), two on S3.
NB201_METHODS = ("darts", "beta_darts", "no_such_method")
S3_METHODS = ("sdarts_rs", "sdarts_adv")


def build_tree(root: Path) -> None:
    for k, method in enumerate(NB201_METHODS):
        for seed in (0, 1):
            # No α: the detail's heat maps are not what this file tests, and they cost time to draw.
            rows = [
                epoch_row(e, alphas=None, gt_cifar10_test=60.0 + 10 * k + e + seed, skip_cell=3 - e) for e in range(3)
            ]
            write_run(root, method=method, seed=seed, rows=rows, epochs=3)
    for method in S3_METHODS:
        rows = [
            epoch_row(
                e, alphas=None, skip_cell=None, gt_cifar10_test=None, nb301_valid_acc_approx=90.0 + e, skip_normal=e
            )
            for e in range(3)
        ]
        write_run(root, method=method, space="s3", rows=rows, epochs=3)


def legend_labels(fig) -> list[str]:
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


def test_one_figure_per_space_with_every_method(tmp_path: Path):
    build_tree(tmp_path)
    epochs = load_results(tmp_path).current_epochs()
    nb201 = overview_figure(epochs, "nb201")
    assert legend_labels(nb201) == [f"{m} (n=2)" for m in sorted(NB201_METHODS)]
    accuracy, skip = nb201.axes[:2]
    assert len(accuracy.lines) == len(skip.lines) == len(NB201_METHODS)
    # Mean over the two seeds, with their spread shaded.
    means = {line.get_label(): list(line.get_ydata()) for line in accuracy.lines}
    assert means["beta_darts (n=2)"] == [60.0 + 10 + e + 0.5 for e in range(3)]
    assert sum(isinstance(c, PolyCollection) for c in accuracy.collections) == len(NB201_METHODS)
    assert list(skip.lines[0].get_ydata()) == [3, 2, 1]
    # The same style for a method in both panels.
    assert [(a.get_color(), a.get_linestyle()) for a in accuracy.lines] == [
        (s.get_color(), s.get_linestyle()) for s in skip.lines
    ]

    s3 = overview_figure(epochs, "s3")
    assert legend_labels(s3) == [f"{m} (n=1)" for m in sorted(S3_METHODS)]
    assert "NB301" in s3.axes[0].get_ylabel()
    assert [list(line.get_ydata()) for line in s3.axes[1].lines] == [[0, 1, 2]] * 2
    assert not any(isinstance(c, PolyCollection) for c in s3.axes[0].collections), "one seed: no band"


def test_a_dozen_methods_get_distinct_styles(tmp_path: Path):
    methods = [f"method_{i:02d}" for i in range(13)]
    for method in methods:
        write_run(tmp_path, method=method, rows=[epoch_row(e) for e in range(2)])
    fig = overview_figure(load_results(tmp_path).current_epochs(), "nb201")
    styles = [(line.get_color(), line.get_linestyle()) for line in fig.axes[0].lines]
    assert len(styles) == len(set(styles)) == 13


def overview_sections(page: str) -> dict[str, str]:
    return dict(re.findall(r'<section class="overview" data-space="([^"]+)">(.*?)</section>', page, re.S))


def test_report_opens_with_the_overview_and_folds_the_detail(tmp_path: Path):
    build_tree(tmp_path / "results")
    report = write_report(tmp_path / "results", tmp_path / "out", pdf=False)
    page = report.html.read_text()
    sections = overview_sections(page)
    assert list(sections) == ["nb201", "s3"]
    for space, methods in (("nb201", NB201_METHODS), ("s3", S3_METHODS)):
        html = sections[space]
        assert html.count("<img ") == 1, f"{space}: one figure"
        for method in methods:
            assert f"<td>{method}</td>" in html, f"{method} missing from the {space} overview table"
    # Published NB201 numbers beside ours (β-DARTS' and DARTS-V1's rows), none for an unpublished method.
    assert "94.36 (β-DARTS)" in sections["nb201"] and "54.30 (DARTS-V1)" in sections["nb201"]
    # Everything else comes after the overview, inside <details>.
    details = page.index("<details>")
    assert page.index('<section class="overview"') < details
    assert page.index("Runs by status") > details and page.index("Published reference numbers") > details
    assert page.rstrip().endswith("</details>\n</body></html>".strip())
    markdown = report.markdown.read_text()
    assert (
        markdown.index("## Overview")
        < markdown.index("### nb201")
        < markdown.index("### s3")
        < markdown.index("## Detail")
    )
    assert sorted(p.name for p in report.images if p.name.startswith("overview")) == [
        "overview_nb201.png",
        "overview_s3.png",
    ]
