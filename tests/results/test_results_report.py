"""The report: HTML that parses, images that exist, everything escaped, a folder that can be copied."""

from __future__ import annotations

import base64
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

from click.testing import CliRunner
from results_support import epoch_row, write_run

from nasbench_harness.cli import main
from nasbench_harness.results import load_results, write_report
from nasbench_harness.results.plots import collapse_curves

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class _Collector(HTMLParser):
    """Tags seen, image sources, and whether every opened element was closed."""

    VOID = {"meta", "img", "br", "link"}

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.images: list[str] = []
        self.open: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()

    def handle_data(self, data):
        self.text.append(data)


def _parse(page: Path) -> _Collector:
    parser = _Collector()
    parser.feed(page.read_text())
    parser.close()
    assert parser.open == []
    return parser


def test_report_of_real_runs(real_tree: Path, tmp_path: Path):
    out = tmp_path / "report"
    result = CliRunner().invoke(main, ["report", str(real_tree), "-o", str(out)])
    assert result.exit_code == 0, result.output
    parsed = _parse(out / "report.html")
    markdown = (out / "report.md").read_text()
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    kinds = [Path(src).name.split("_")[0] for src in linked]
    assert (kinds.count("alpha"), kinds.count("collapse"), kinds.count("final")) == (2, 2, 2)  # nb201 and s1
    for src in linked:
        assert not Path(src).is_absolute() and src.startswith("img/")
        png = out / src
        assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 5000
        assert png.with_suffix(".pdf").stat().st_size > 1000
    # report.html embeds the same figures, in the same order, as data URIs: the page alone is self-contained.
    assert [_embedded_png(src) for src in parsed.images] == [(out / src).read_bytes() for src in linked]
    text = " ".join(parsed.text)
    assert "NAS-Bench-201: ground truth of the final cells" in text and "published: DARTS-V1" in text
    assert "S1–S4: RobustDARTS protocol" in text and "approximate" in text

    alone = tmp_path / "alone"  # the HTML page copied without img/ still shows every figure
    alone.mkdir()
    shutil.copy(out / "report.html", alone)
    assert all(_embedded_png(src)[:8] == PNG_MAGIC for src in _parse(alone / "report.html").images)
    copy = shutil.copytree(out, tmp_path / "copied")  # the Markdown's relative links resolve in a copy
    assert all((copy / src).is_file() for src in linked)


def _embedded_png(src: str) -> bytes:
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix), f"report.html links {src[:60]!r} instead of embedding it"
    return base64.b64decode(src[len(prefix) :], validate=True)


def test_run_supplied_strings_are_escaped(tmp_path: Path):
    evil = "<script>alert(1)"  # a method name is a directory name: no "/"
    genotype = "</script><img src=x onerror=alert(2)>|skip_connect~0|"
    for seed in (0, 1):
        rows = [epoch_row(0, eigenvalue=0.5), epoch_row(1, eigenvalue=0.9 + seed)]
        write_run(
            tmp_path, method=evil, seed=seed, rows=rows, genotype=genotype, final_metrics={"gt_cifar10_test": 90.0}
        )
    write_run(tmp_path, method=evil, seed=2, status="failed", rows=[epoch_row(0)])
    out = tmp_path / "report"
    report = write_report(tmp_path, out, pdf=False)
    page = report.html.read_text()
    parsed = _parse(report.html)
    # The overview figure of nb201, then the detail's collapse curves, final distribution and α heat map.
    assert "script" not in parsed.tags and parsed.tags.count("img") == len(parsed.images) == 4
    assert evil not in page and "&lt;script&gt;alert(1)" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(2)&gt;" in page
    assert evil in " ".join(parsed.text)  # shown as text
    markdown = report.markdown.read_text()
    assert evil not in markdown and "<img src=x" not in markdown and "&lt;script&gt;" in markdown
    for image in report.images:
        assert re.fullmatch(r"[A-Za-z0-9_.-]+\.png", image.name) and image.stat().st_size > 5000


def test_collapse_curves_use_the_latest_segment(tmp_path: Path):
    rows = [epoch_row(e, 0, eigenvalue=1.0 * e) for e in range(4)] + [epoch_row(3, 1, eigenvalue=0.25)]
    write_run(tmp_path, rows=rows, epochs=4)
    results = load_results(tmp_path)
    epochs = results.current_epochs()
    assert epochs.sort_values("epoch")["eigenvalue"].tolist() == [0.0, 1.0, 2.0, 0.25]
    (png,) = collapse_curves(epochs, "nb201", "cifar10", tmp_path / "img" / "curves", pdf=False)
    assert png.read_bytes()[:8] == PNG_MAGIC


def test_report_of_an_empty_tree(tmp_path: Path):
    (tmp_path / "runs").mkdir()
    report = write_report(tmp_path, tmp_path / "out")
    parsed = _parse(report.html)
    assert parsed.images == [] and "Published reference numbers (confirmed only)" in " ".join(parsed.text)


def test_report_when_no_run_logged_an_epoch(tmp_path: Path):
    write_run(tmp_path, seed=0, status="failed", metadata=False)
    write_run(tmp_path, seed=1, status="unfinished")
    report = write_report(tmp_path, tmp_path / "out", pdf=False)
    text = " ".join(_parse(report.html).text)
    assert report.images == [] and "RunFailure: train_loss is nan" in text and "unfinished" in text


def test_collapse_curves_show_grad_corr_beside_the_other_signals(tmp_path: Path, monkeypatch):
    """The report's collapse figure has a `grad_corr` panel (Λ-DARTS' signal) next to accuracy,
    eigenvalue and skip count."""
    import nasbench_harness.results.plots as plots

    rows = [epoch_row(e, 0, eigenvalue=0.1, grad_corr=0.2 * e) for e in range(3)]
    write_run(tmp_path, rows=rows, epochs=3)
    epochs = load_results(tmp_path).current_epochs()
    plotted: list[str] = []
    band = plots._band
    monkeypatch.setattr(plots, "_band", lambda ax, frame, column: plotted.append(column) or band(ax, frame, column))
    collapse_curves(epochs, "nb201", "cifar10", tmp_path / "img" / "curves", pdf=False)
    assert plotted[1:] == ["eigenvalue", "skip_cell", "grad_corr"]
