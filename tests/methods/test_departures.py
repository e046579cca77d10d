"""Every default that departs from a method's original code is listed, with why, in `nasbench list methods` and
in docs/methods.md, from one place (`Method.departures`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from nasbench_harness.cli import main
from nasbench_harness.methods import get_method_class, list_methods

METHODS_DOC = Path(__file__).resolve().parents[2] / "docs" / "methods.md"


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def listed() -> dict[str, str]:
    """`nasbench list methods`, per method the text of its lines."""
    out = CliRunner().invoke(main, ["list", "methods"]).output
    blocks: dict[str, list[str]] = {}
    current = ""
    for line in out.splitlines():
        if line and not line.startswith(" "):
            current = line.split()[0]
        blocks.setdefault(current, []).append(line)
    return {name: flat(" ".join(lines)).replace(" departs: ", " ") for name, lines in blocks.items()}


@pytest.mark.parametrize("method", list_methods())
def test_departures_are_listed_and_documented(method):
    departures = get_method_class(method).departures
    doc = flat(METHODS_DOC.read_text())
    shown = listed()[method]
    for departure in departures:
        assert flat(departure) in shown, f"nasbench list methods does not show {method}'s {departure[:40]!r}"
        assert f"| `{method}` | {flat(departure)} |" in doc, f"docs/methods.md lacks {method}'s {departure[:40]!r}"
    if not departures:
        assert "none known" in shown and f"| `{method}` | none known" in doc
