"""A missing reference package skips outside CI and fails under CI=true, in the real parity test files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from reference_packages import REFERENCE_PACKAGES, require

REPO_ROOT = Path(__file__).resolve().parent.parent

#: One xautodl test, one that needs no reference package, one NATS-Bench / NAS-Bench-201 test.
SELECTED = [
    "tests/spaces/test_spaces_parity.py::test_nb201_genotype_matches_xautodl",
    "tests/spaces/test_spaces_parity.py::test_nb201_discrete_parameter_count[0]",
    "tests/groundtruth/test_gt_backends.py::test_convert_rejects_unknown_output_format",
]


@pytest.mark.parametrize("ci", ["true", ""])
def test_require_fails_under_ci_and_skips_elsewhere(monkeypatch, ci):
    monkeypatch.setitem(sys.modules, "xautodl", None)  # `import xautodl` now raises ImportError
    monkeypatch.setenv("CI", ci)
    expected = pytest.fail.Exception if ci else pytest.skip.Exception
    with pytest.raises(expected, match="reference package 'xautodl' cannot be imported"):
        require("xautodl")


def test_ci_run_without_the_reference_packages_fails(tmp_path):
    """The parity and ground-truth tests, run by pytest with CI=true and the packages unimportable."""
    (tmp_path / "block_reference.py").write_text(
        "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in REFERENCE_PACKAGES)
    )
    env = {**os.environ, "CI": "true", "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO_ROOT)])}
    command = [sys.executable, "-m", "pytest", "-p", "block_reference", "-p", "no:cacheprovider", "-q", "-rfEs"]
    done = subprocess.run([*command, *SELECTED], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "1 passed, 2 errors" in out, out  # the package fixtures fail; the test that needs none passes
    assert f"ERROR {SELECTED[0]}" in out and "reference package 'xautodl' cannot be imported" in out, out
    assert f"ERROR {SELECTED[2]}" in out and "reference package 'nats_bench' cannot be imported" in out, out
    assert "SKIPPED" not in out, out
