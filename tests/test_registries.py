"""One file plus a decorator: a module dropped into the spaces, datasets, methods or executors package
is registered without touching any list, and the conformance tests pick the new method and space up;
`config` imports no registry (spaces and methods import it)."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nasbench_harness

REPO = Path(__file__).resolve().parents[1]
PACKAGE = Path(nasbench_harness.__file__).parent

#: package folder → a module that registers one planted item there.
PLANTED = {
    "spaces": """
import dataclasses
from nasbench_harness.spaces.nb201_space import nb201
from nasbench_harness.spaces.space import register_space

@register_space("planted_space")
def planted_space():
    return dataclasses.replace(nb201(), name="planted_space")
""",
    "data": """
from nasbench_harness.data.cifar import Cifar10
from nasbench_harness.data.registry import register_dataset

@register_dataset("planted_dataset")
class PlantedDataset(Cifar10):
    pass
""",
    "methods": """
from nasbench_harness.methods.base import register_method
from nasbench_harness.methods.darts import Darts

@register_method("planted_method")
class PlantedMethod(Darts):
    pass
""",
    "engine/executors": """
from nasbench_harness.engine.executors.base import register_executor
from nasbench_harness.engine.executors.local import LocalExecutor

@register_executor("planted_executor")
class PlantedExecutor(LocalExecutor):
    pass
""",
}

LIST_AND_COLLECT = """
import json, sys
import pytest
from nasbench_harness.data import list_datasets
from nasbench_harness.engine.executors import list_executors
from nasbench_harness.methods import list_methods
from nasbench_harness.spaces import list_spaces

print(json.dumps([list_spaces(), list_datasets(), list_methods(), list_executors()]))
sys.exit(pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", sys.argv[1]]))
"""


def test_a_module_dropped_into_a_package_registers_and_is_tested(tmp_path):
    copy = tmp_path / "nasbench_harness"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    for folder, source in PLANTED.items():
        (copy / folder / "planted.py").write_text(source)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"}
    conformance = str(REPO / "tests" / "methods" / "test_conformance.py")
    # run from tmp_path: `python -c` puts the working directory first on sys.path, ahead of PYTHONPATH
    done = subprocess.run(
        [sys.executable, "-c", LIST_AND_COLLECT, conformance],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    first, collected = done.stdout.split("\n", 1)
    spaces, datasets, methods, executors = json.loads(first)
    assert "planted_space" in spaces and "planted_dataset" in datasets
    assert "planted_method" in methods and "planted_executor" in executors
    conforms = [line for line in collected.splitlines() if "::test_method_conforms[" in line]
    for method, space in [("planted_method", "planted_space"), ("planted_method", "nb201"), ("darts", "planted_space")]:
        assert any(f"[{method}-{space}]" in line for line in conforms), (method, space, conforms)


def test_config_imports_no_registry():
    """config ↔ methods was an import cycle; config now needs only errors (and pydantic, yaml)."""
    tree = ast.parse((PACKAGE / "config.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    ours = sorted(name for name in imported if name.startswith("nasbench_harness"))
    assert ours == ["nasbench_harness.errors"], ours
