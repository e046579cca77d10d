"""docs/data.md says, for every file of a data directory, how to get it and what happens without it."""

from __future__ import annotations

import re
from pathlib import Path

from nasbench_harness.data import get_spec, list_datasets

REPO = Path(__file__).resolve().parents[2]
NOT_DATA = {"README.md", "SHA256SUMS"}  # the reference folder's own notes


def _rows(markdown: str) -> dict[str, list[str]]:
    """Rows of the data-directory table, keyed by the first path in their first cell."""
    rows = {}
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 4:
            rows[re.match(r"`([^`]+)`", cells[0]).group(1)] = cells
    return rows


def _entries(reference_data_dir: Path) -> list[str]:
    """Every folder and file a data directory holds: top level, and inside nb201/ (several sources)."""
    top = [p for p in sorted(reference_data_dir.iterdir()) if p.name not in NOT_DATA]
    names = [f"{p.name}/" if p.is_dir() else p.name for p in top if p.name != "nb201"]
    names += [f"nb201/{p.name}" + ("/" if p.is_dir() else "") for p in sorted((reference_data_dir / "nb201").iterdir())]
    return names + [f"{get_spec(name).folder}/" for name in list_datasets()]


def test_every_data_file_has_a_row_saying_how_to_get_it(reference_data_dir: Path) -> None:
    rows = _rows((REPO / "docs" / "data.md").read_text(encoding="utf-8"))
    for entry in _entries(reference_data_dir):
        assert entry in rows, f"docs/data.md has no row for {entry} (rows: {sorted(rows)})"
        _, what, how, without = rows[entry]
        assert what and without, entry
        assert "nasbench " in how or "https://" in how or "manual" in how, f"{entry}: no way to get it in {how!r}"
    assert "convert-nb201" in rows["nb201/nb201_ground_truth.csv.gz"][2]
    assert "yahpo" in rows["nb301-surrogate/"][2].lower()
    assert "downloaded on first use" in rows["cifar-10-batches-py/"][2]


def test_readme_points_at_each_data_folder() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for folder in ("cifar-10-batches-py/", "nb201/", "nb301-surrogate/", "ImageNet16/", "svhn/"):
        assert f"`{folder}" in readme, folder
    assert "Offline" in readme and "folder it looked in" in readme
