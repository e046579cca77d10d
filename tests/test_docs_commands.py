"""Every command shown in README.md, docs/*.md and ci/README.md exists and works as written.

Commands are collected from fenced blocks (bash/console/plain lines, YAML comments) and inline code
spans: `nasbench ...`, `python -m ...` and `bash ...`, after any `VAR=value` prefix and `$ ` prompt.

- A concrete, cheap `nasbench` command runs verbatim (click's CliRunner) in a scratch folder where
  `results/first-run` is a real tiny results tree and `$NASBENCH_DATA` the reference data.
- A synopsis (placeholders such as `DIR`, `[--opt X]`, `a|b`, `{x,y}`) must name an existing command
  path, and every option and choice it shows must exist.
- Expensive or state-changing commands (EXPENSIVE) are checked like a synopsis; `nasbench run SUITE`
  also loads and expands the suite, so a documented suite that does not exist or does not validate fails.
- `python -m MODULE PATHS...` needs an importable module and existing paths; `bash FILE` needs a file
  that `bash -n` accepts.
EXEMPT lists the only mentions not run; each says why.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from nasbench_harness.cli import main
from nasbench_harness.suite_expansion import expand_suite, load_suite

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "ci" / "README.md"]

#: Mentions that are not commands to run, with the reason (keep this tiny).
EXEMPT = {
    "nasbench COMMAND --help": "a pattern for every command; `--help` of each command is covered by the synopses",
    "nasbench query": "the heading of groundtruth.md's CLI section, whose usage lines follow it",
}

#: Commands checked as a synopsis (and `run` suites expanded) instead of executed, and why.
EXPENSIVE = {
    ("run",): "a search: minutes; CI runs the README's first search verbatim (.ci/run)",
    ("data", "download"): "network access (CI is offline); tests/data/test_data_download.py serves archives locally",
    ("data", "convert-nb201"): "needs an official NAS-Bench-201 file; tests/groundtruth/test_gt_cli.py builds one",
    ("check",): "`--update` rewrites the committed baseline; ci/check_collapse.sh runs the check in CI",
    ("evaluate",): "a retrain: hours; tests/evaluation/ runs a tiny one and --params-only",
    ("bench",): "times full-size search steps: minutes; tests/bench/test_bench.py runs it at test size",
}

PREFIXES = ("nasbench", "python -m", "bash")
_ENV = re.compile(r"^(?:[A-Z_][A-Z0-9_]*=\S*\s+)+")
_PLACEHOLDER = re.compile(r"(^[A-Z][A-Z0-9_]*$)|\.\.\.|[\[\]|{}]")


@dataclass(frozen=True)
class DocCommand:
    text: str
    where: str

    @property
    def id(self) -> str:
        return f"{self.where}: {self.text}"


def _command_start(text: str) -> str | None:
    text = _ENV.sub("", text.strip().removeprefix("$ ").strip())
    text = " ".join(re.sub(r"\s+#\s.*$", "", text).split())  # drop a trailing `# comment`
    return text if any(text == p or text.startswith(p + " ") for p in PREFIXES) else None


def collect() -> list[DocCommand]:
    """Every documented command, in file order (duplicates within a file once)."""
    found: list[DocCommand] = []
    for path in DOCS:
        rel = path.relative_to(REPO)
        seen: set[str] = set()
        fence: str | None = None
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            stripped = line.strip()
            if stripped.startswith("```"):
                fence = stripped[3:].strip() if fence is None else None
                continue
            candidates: list[str] = []
            if fence is None:
                candidates = re.findall(r"`([^`]+)`", line)
            elif fence == "yaml":
                candidates = re.findall(r"#\s*(nasbench .*)$", line)
            elif fence in ("", "bash", "sh", "console", "shell"):
                candidates = [line]
            for candidate in candidates:
                text = _command_start(candidate)
                if text and text not in seen:
                    seen.add(text)
                    found.append(DocCommand(text, f"{rel}:{number}"))
    return found


COMMANDS = collect()


def _tokens(text: str) -> list[str]:
    return shlex.split(text, comments=True)


def _is_synopsis(tokens: list[str]) -> bool:
    return any(_PLACEHOLDER.search(t) for t in tokens)


def _resolve(tokens: list[str]) -> list[tuple[tuple[str, ...], click.Command, list[str]]]:
    """(command path, command, remaining tokens) for each alternative of `a|b` in a subcommand position."""
    paths: list[tuple[tuple[str, ...], click.Command, list[str]]] = []

    def walk(group: click.Command, path: tuple[str, ...], rest: list[str]) -> None:
        if not isinstance(group, click.Group) or not rest or rest[0].startswith("-"):
            paths.append((path, group, rest))
            return
        for name in rest[0].split("|"):
            sub = group.commands.get(name)
            known = sorted(group.commands)
            assert sub is not None, f"`nasbench {' '.join(path)}` has no command {name!r} (has: {known})"
            walk(sub, (*path, name), rest[1:])

    walk(main, (), tokens)
    return paths


def _check_synopsis(command: click.Command, path: tuple[str, ...], args: list[str]) -> None:
    """Every option shown exists, and every value shown for a Choice (`{a,b}`, `a|b`, `x`) is one of its choices."""
    shown = f"`nasbench {' '.join(path)}`"
    by_name = {o: p for p in command.params if isinstance(p, click.Option) for o in (*p.opts, *p.secondary_opts)}
    positional = [p for p in command.params if isinstance(p, click.Argument)]
    values = [t.strip("[]") for t in args]
    i = 0
    while i < len(values):
        token = values[i]
        if token.startswith("-"):
            name = token.split("=")[0]
            assert name in by_name or name == "--help", f"{shown} has no option {name!r} (has: {sorted(by_name)})"
            param = by_name.get(name)
            takes_value = param is not None and not getattr(param, "is_flag", False) and "=" not in token
            if takes_value and i + 1 < len(values):
                _check_choices(shown, param, values[i + 1])
                i += 1
        elif positional:
            _check_choices(shown, positional.pop(0), token)
        i += 1


def _check_choices(shown: str, param: click.Parameter, value: str) -> None:
    if not isinstance(param.type, click.Choice) or re.search(r"^[A-Z][A-Z0-9_]*$|\.\.\.", value):
        return
    for choice in value.strip("{}").replace(",", "|").split("|"):
        choices = param.type.choices
        assert choice in choices, f"{shown}: {choice!r} is not a choice of {param.name} ({choices})"


def _check_run(args: list[str]) -> None:
    suites = [a for a in args if a.endswith((".yaml", ".yml"))]
    for suite in suites:
        assert expand_suite(load_suite(REPO / suite)), f"{suite} expands to no runs"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory, reference_data_dir: Path) -> Path:
    """A scratch folder with the repository's suites/ and ci/ and a real tiny tree in results/first-run."""
    from nasbench_harness.engine import run_suite

    root = tmp_path_factory.mktemp("docs")
    for name in ("suites", "ci"):
        (root / name).symlink_to(REPO / name)
    suite = root / "tiny.yaml"
    suite.write_text(
        "name: docs-tiny\nprofile: tiny\nmethods: [darts]\nspaces: [nb201, s3]\ndatasets: [cifar10]\nseeds: [0]\n"
    )
    outcomes = run_suite(
        suite, results_dir=str(root / "results" / "first-run"), data_dir=str(reference_data_dir), device="cpu"
    )
    assert [o.status for o in outcomes] == ["finished"] * 2, [o.reason for o in outcomes]
    return root


def test_commands_were_found() -> None:
    texts = {c.text for c in COMMANDS}
    for expected in ("nasbench list datasets", "nasbench leaderboard results/first-run", "bash ci/check_collapse.sh"):
        assert expected in texts
    assert len(COMMANDS) > 30


@pytest.mark.parametrize("doc", COMMANDS, ids=[c.id for c in COMMANDS])
def test_documented_command(doc: DocCommand, workdir: Path, reference_data_dir: Path, monkeypatch) -> None:
    if doc.text in EXEMPT:
        return
    tokens = _tokens(doc.text)
    if tokens[0] == "bash":
        script = REPO / tokens[1]
        assert script.is_file(), f"{doc.where}: {tokens[1]} does not exist"
        subprocess.run(["bash", "-n", str(script)], check=True)
        return
    if tokens[0] == "python":
        module = tokens[2]
        assert importlib.util.find_spec(module) is not None, f"{doc.where}: no module {module!r}"
        for arg in tokens[3:]:
            if not arg.startswith("-") and "/" in arg:
                assert (REPO / arg).exists(), f"{doc.where}: {arg} does not exist"
        return
    args = tokens[1:]
    for path, command, rest in _resolve(args):
        expensive = next((key for key in EXPENSIVE if path[: len(key)] == key), None)
        if expensive or _is_synopsis(rest):
            _check_synopsis(command, path, rest)
            if path == ("run",):
                _check_run(rest)
            continue
        monkeypatch.chdir(workdir)
        env = {"NASBENCH_DATA": str(reference_data_dir), "NASBENCH_OFFLINE": "1", "MPLBACKEND": "Agg"}
        result = CliRunner().invoke(main, [*path, *rest], env=env, catch_exceptions=False)
        assert result.exit_code == 0, f"{doc.where}: `{doc.text}` exited {result.exit_code}:\n{result.output}"


def test_exemptions_are_still_documented() -> None:
    """An exemption whose mention left the docs is dead weight: drop it."""
    texts = {c.text for c in COMMANDS}
    assert set(EXEMPT) <= texts
