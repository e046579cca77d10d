"""README ↔ CI: the install, test and first-search blocks a new user copies are the ones `.ci/run` runs.

`.ci/run` itself runs on a fresh clone in CI; these tests pin the wiring that makes that true (the
markers, the extraction, the order of the torch pin) so an edit that breaks it fails here first.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from nasbench_harness.suite_expansion import expand_suite, load_suite

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
CI_RUN = REPO / ".ci" / "run"


def _blocks_module():
    spec = importlib.util.spec_from_file_location("readme_blocks", REPO / ".ci" / "readme_blocks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_marks_install_test_and_first_run_blocks() -> None:
    blocks = _blocks_module().readme_blocks(README.read_text(encoding="utf-8"))
    assert set(blocks) == {"install", "test", "first-run"}
    install = blocks["install"].strip()
    assert len(install.splitlines()) == 1 and 'pip install -e ".[dev]"' in install  # one command sets up
    assert install.startswith("python3 -m venv .venv && . .venv/bin/activate && ")
    assert blocks["test"].strip() == "pytest"
    first = shlex.split(blocks["first-run"].strip())
    assert first[:3] == ["nasbench", "run", "suites/smoke.yaml"] and len(blocks["first-run"].splitlines()) == 1
    assert expand_suite(load_suite(REPO / first[2]))  # the suite it names exists and expands


def test_cpu_torch_comes_before_the_install_command() -> None:
    """Followed top to bottom, the README must offer the CPU build of torch before the project pulls torch."""
    text = README.read_text(encoding="utf-8")
    cpu = text.find("--index-url https://download.pytorch.org/whl/cpu")
    assert 0 <= cpu < text.index("<!-- ci:install -->")


def test_ci_runs_the_readme_blocks_verbatim_after_pinning_torch() -> None:
    script = CI_RUN.read_text()
    order = [script.index(s) for s in ("export PIP_CONSTRAINT", "readme_block install", "readme_block test")]
    assert order == sorted(order)
    assert script.index("readme_block test") < script.index("readme_block first-run")
    assert re.search(r'echo "torch==2\.13\.0" >"\$constraints"', script)
    # Nothing but the README installs the project: no second, drifting copy of the install command.
    assert "pip install -q -e" not in script and 'pip install -e ".[dev]"' not in script
    assert CI_RUN.stat().st_mode & 0o111


def test_extraction_prints_the_block_and_names_a_missing_marker(tmp_path: Path) -> None:
    tool = [sys.executable, str(REPO / ".ci" / "readme_blocks.py")]
    out = subprocess.run([*tool, str(README), "first-run"], capture_output=True, text=True, check=True).stdout
    assert out == "nasbench run suites/smoke.yaml --results-dir results/first-run\n"
    broken = tmp_path / "README.md"
    broken.write_text("<!-- ci:install -->\ntext\n```bash\npip install .\n```\n")
    failed = subprocess.run([*tool, str(broken), "install"], capture_output=True, text=True)
    assert failed.returncode == 2 and f"{broken}:1: marker ci:install must be followed directly" in failed.stderr
    missing = subprocess.run([*tool, str(README), "nope"], capture_output=True, text=True)
    assert missing.returncode == 2 and "no block marked <!-- ci:nope -->" in missing.stderr


@pytest.mark.parametrize("name", ["install", "test", "first-run"])
def test_each_block_is_valid_bash(name: str) -> None:
    block = _blocks_module().readme_blocks(README.read_text(encoding="utf-8"))[name]
    subprocess.run(["bash", "-n", "-c", block], check=True)
