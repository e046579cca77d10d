"""`nasbench report`: one folder with report.md, report.html and img/, readable wherever it is copied.

The report opens with the overview: per space, one figure with every method's true-accuracy and skip
curves and one summary table, whatever methods the results hold. The detail (every comparison section,
per-(space, dataset) figures, α heat maps, the run list) follows; report.html folds it away.

report.html embeds every figure as a base64 PNG data URI, so the page alone is self-contained (mail it,
attach it to a CI run); report.md links the same figures by relative path (img/…), so the Markdown
needs the img/ folder beside it. Every string that comes from a run (method names, genotypes, failure
reasons, paths) is escaped before it reaches the HTML or the Markdown.
"""

from __future__ import annotations

import base64
import html
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from nasbench_harness import __version__
from nasbench_harness.results import evaluation_table, plots, tables
from nasbench_harness.results.load import STATUSES, Results, load_results


@dataclass(frozen=True)
class ReportImage:
    """An image of the report: its path relative to the report folder and its caption."""

    path: str
    caption: str


@dataclass
class Report:
    """What `write_report` produced."""

    markdown: Path
    html: Path
    images: list[Path] = field(default_factory=list)


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; max-width: 1400px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 0.5em 0; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td { font-variant-numeric: tabular-nums; }
ul.notes { font-size: 0.85em; color: #444; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #444; }
details > summary { font-size: 1.3em; font-weight: bold; margin: 1em 0; cursor: pointer; }
"""


class _Names:
    """File names from run-supplied strings: only [A-Za-z0-9_.-], unique within the report."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def __call__(self, *parts: object) -> str:
        base = re.sub(r"[^A-Za-z0-9_.-]+", "_", "_".join(str(p) for p in parts)).strip("._") or "figure"
        name, i = base, 2
        while name in self.used:
            name, i = f"{base}-{i}", i + 1
        self.used.add(name)
        return name


@dataclass(frozen=True)
class SpaceOverview:
    """One space's screen of the overview: its figure (None without finished runs) and summary table."""

    space: str
    image: ReportImage | None
    written: list[Path]
    section: tables.Section | None


def make_overview(results: Results, image_dir: Path, pdf: bool = True) -> list[SpaceOverview]:
    """Per space of the selected runs, the all-methods figure (finished runs) and the summary table."""
    runs = results.selected_runs()
    if runs.empty:
        return []
    epochs = results.current_epochs()
    epochs = epochs[epochs["status"] == "finished"] if not epochs.empty else epochs
    table = tables.comparison(results.runs)
    names = _Names()
    out = []
    for space in sorted(runs["space"].unique()):
        image, written = None, []
        if not epochs.empty and (epochs["space"] == space).any():
            name = names("overview", space)
            written = plots.overview_curves(epochs, space, image_dir / name, pdf, runs)
            caption = (
                f"{space}: every method's true accuracy of the derived cell, its skip connections, its "
                "parameter-free ops (dashed: the collapse threshold) and the dominant eigenvalue per epoch; mean "
                "over finished seeds, band: min–max over seeds where several; the legend gives each method's "
                "collapse verdict."
            )
            image = ReportImage(f"{image_dir.name}/{name}.png", caption)
        out.append(SpaceOverview(space, image, written, tables.overview_section(table, space)))
    return out


def make_figures(results: Results, image_dir: Path, pdf: bool = True) -> list[tuple[ReportImage, list[Path]]]:
    """Collapse curves and final distributions per (space, dataset); an α heat map per group's best run."""
    names = _Names()
    runs = results.selected_runs()
    finished = runs[runs["status"] == "finished"]
    epochs = results.current_epochs()
    epochs = epochs[epochs["status"] == "finished"] if not epochs.empty else epochs
    out: list[tuple[ReportImage, list[Path]]] = []

    def add(stem_name: str, caption: str, written: list[Path]) -> None:
        if written:
            out.append((ReportImage(f"{image_dir.name}/{stem_name}.png", caption), written))

    for (space, dataset), _ in finished.groupby(["space", "dataset"], sort=True):
        name = names("collapse", space, dataset)
        if not epochs.empty:
            add(
                name,
                f"Collapse curves on {space}/{dataset}: true accuracy of the derived cell, dominant eigenvalue "
                "and skip count per epoch (mean ± 1 std over finished seeds; latest segment per epoch).",
                plots.collapse_curves(epochs, space, dataset, image_dir / name, pdf),
            )
        name = names("final", space, dataset)
        add(
            name,
            f"Final accuracy of every finished seed on {space}/{dataset}, per method (bar: mean; star: published).",
            plots.final_distribution(finished, space, dataset, image_dir / name, pdf),
        )
    for row in tables.comparison(results.runs).itertuples(index=False):
        run_dir = getattr(row, "best_run_dir", None)
        if not isinstance(run_dir, str):
            continue
        seed = int(row.best_seed)
        name = names("alpha", row.space, row.dataset, row.method, seed)
        add(
            name,
            f"softmax(α) at the last epoch: {row.method} on {row.space}/{row.dataset}, seed {seed} "
            "(the seed with the best final supernet validation accuracy).",
            plots.alpha_heatmap(
                results.root / run_dir,
                row.space,
                f"{row.method} · {row.space}/{row.dataset} · seed {seed}",
                image_dir / name,
                pdf,
            ),
        )
    return out


def _provenance(runs: pd.DataFrame) -> pd.DataFrame:
    """Distinct versions, devices and ground-truth files behind the numbers."""
    rows = [{"field": c, "values": tables.distinct(runs[c]) or tables.MISSING} for c in tables.PROVENANCE if c in runs]
    return pd.DataFrame(rows, columns=["field", "values"])


def _status(runs: pd.DataFrame) -> pd.DataFrame:
    counts = runs["status"].value_counts() if not runs.empty else pd.Series(dtype=int)
    flags = {f"of which {f}": int(runs[f].sum()) if f in runs else 0 for f in tables.FLAGS}
    return pd.DataFrame([{s: int(counts.get(s, 0)) for s in STATUSES} | flags])


def _missing_ground_truth(results: Results) -> list[tables.Section]:
    """Runs whose metadata says no ground truth was available, and why (a missing nb201/ or NB301 surrogate)."""
    rows = []
    for run_dir in results.runs["run_dir"] if not results.runs.empty else []:
        try:
            metadata = json.loads((results.root / run_dir / "metadata.json").read_text())
        except (OSError, ValueError):
            continue
        gt = (metadata.get("provenance") or {}).get("ground_truth") or {}
        if gt.get("available") is False:
            rows.append({"run_dir": run_dir, "why": gt.get("why", "")})
    if not rows:
        return []
    note = "These runs have no true accuracy: their ground-truth columns are empty, not zero."
    return [tables.Section("Runs without ground truth", pd.DataFrame(rows), [note])]


def write_report(root: str | Path, out_dir: str | Path, pdf: bool = True) -> Report:
    """Aggregate `root` and write report.md, report.html and img/ into `out_dir`."""
    results = load_results(root)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = results.runs
    overview = make_overview(results, out_dir / "img", pdf)
    figures = make_figures(results, out_dir / "img", pdf) if not runs.empty else []
    summary = [
        tables.Section(
            "Runs by status",
            _status(runs),
            [
                "Every run directory found, before sweep selection. Running: unfinished, locked by a process now; "
                "stale: finished by another harness version or commit than this one (see the Runs list)."
            ],
        ),
        *_missing_ground_truth(results),
        *tables.sections(runs),
        *evaluation_table.report_sections(root),
        tables.Section("Provenance", _provenance(runs), ["Distinct values over all runs."]),
    ]
    listing = [tables.runs_section(runs)] if not runs.empty else []
    title = "nasbench results report"
    header = (
        f"Results directory: {Path(root)}. Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"nasbench_harness {__version__}."
    )

    md = [f"# {title}\n", f"{html.escape(header, quote=False)}\n"]
    if overview:
        md.append("## Overview\n")
        for view in overview:
            md.append(f"### {html.escape(view.space, quote=False)}\n")
            if view.image:
                md.append(f"![{_md_alt(view.image.caption)}]({view.image.path})\n")
            if view.section:
                md.append(tables.markdown_table(view.section.table) + "\n")
                md += [f"- {html.escape(n, quote=False)}" for n in view.section.notes] + [""]
        md.append("## Detail\n")
    md += [tables.render_markdown(s) for s in summary]
    if figures:
        md.append("## Figures\n")
        md += [f"![{_md_alt(f.caption)}]({f.path})\n\n{html.escape(f.caption, quote=False)}\n" for f, _ in figures]
    md += [tables.render_markdown(s) for s in listing]
    markdown = out_dir / "report.md"
    markdown.write_text("\n".join(md))

    page = out_dir / "report.html"
    page.write_text(_html(title, header, overview, summary, [f for f, _ in figures], listing, out_dir))
    written = [p for view in overview for p in view.written] + [p for _, paths in figures for p in paths]
    return Report(markdown, page, written)


def _md_alt(text: str) -> str:
    return html.escape(text, quote=False).replace("[", "(").replace("]", ")")


def _html_section(section: tables.Section) -> str:
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in section.notes)
    return f"<h2>{html.escape(section.title)}</h2>\n{tables.html_table(section.table)}" + (
        f'\n<ul class="notes">{notes}</ul>' if notes else ""
    )


def _data_uri(png: Path) -> str:
    """A PNG as a data URI, so report.html shows it without the img/ folder."""
    return "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")


def _html_figure(figure: ReportImage, out_dir: Path) -> str:
    e = html.escape
    return (
        f'<figure><img src="{_data_uri(out_dir / figure.path)}" alt="{e(figure.caption)}">'
        f"<figcaption>{e(figure.caption)}</figcaption></figure>"
    )


def _html(
    title: str,
    header: str,
    overview: list[SpaceOverview],
    summary: list[tables.Section],
    figures: list[ReportImage],
    listing: list[tables.Section],
    out_dir: Path,
) -> str:
    e = html.escape
    body = [f"<h1>{e(title)}</h1>", f"<p>{e(header)}</p>"]
    if overview:
        body.append('<h2 id="overview">Overview</h2>')
        for view in overview:
            body.append(f'<section class="overview" data-space="{e(view.space)}"><h3>{e(view.space)}</h3>')
            if view.image:
                body.append(_html_figure(view.image, out_dir))
            if view.section:
                body.append(tables.html_table(view.section.table))
                body.append('<ul class="notes">' + "".join(f"<li>{e(n)}</li>" for n in view.section.notes) + "</ul>")
            body.append("</section>")
        body.append("<details><summary>Detail: every table, per-run figures and the run list</summary>")
    body += [_html_section(s) for s in summary]
    if figures:
        body.append("<h2>Figures</h2>")
        body += [_html_figure(f, out_dir) for f in figures]
    body += [_html_section(s) for s in listing]
    if overview:
        body.append("</details>")
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
        f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
