"""Which code trained a run: the harness version and git commit, per run and per resume.

A finished run (search or evaluation) is reused only if every epoch of it came from the current code;
otherwise it is stale (kept, reported with both versions, rerun with --rerun-stale)."""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import nasbench_harness
from nasbench_harness.engine.record import METADATA, RunRecord

Version = dict[str, str | None]


@functools.cache
def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(nasbench_harness.__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def current_code() -> Version:
    return {"harness_version": nasbench_harness.__version__, "git_commit": git_commit()}


def recorded_versions(metadata: Mapping[str, Any]) -> list[Version]:
    """The versions recorded in a run's metadata (records written before `code_versions` name one)."""
    recorded = metadata.get("code_versions")
    if recorded:
        return [dict(v) for v in recorded]
    return [{"harness_version": metadata.get("harness_version"), "git_commit": metadata.get("git_commit")}]


def describe_version(version: str | None, commit: str | None) -> str:
    return f"{version} (commit {commit[:12] if commit else 'unknown'})"


def describe_versions(versions: list[Version], joiner: str = ", ") -> str:
    return joiner.join(describe_version(v.get("harness_version"), v.get("git_commit")) for v in versions)


def stale_reason(record: RunRecord) -> str | None:
    """Why a finished run may not be what this harness would produce (another version or commit, for any
    of its epochs), or None."""
    try:
        metadata = record.read_json(METADATA)
    except (OSError, ValueError):
        return None
    versions = recorded_versions(metadata)
    if versions == [current_code()]:
        return None
    now = describe_version(*current_code().values())
    return f"stale: finished by nasbench_harness {describe_versions(versions)}, this is {now}"


def resumed_versions(metadata: Mapping[str, Any], report: Callable[[str], None], what: str) -> list[Version]:
    """On resume: the versions that trained the earlier epochs, plus this one (with a warning) if it differs,
    so the finished `what` ("run", "evaluation") is then reported stale."""
    versions = recorded_versions(metadata)
    if current_code() not in versions:
        report(
            f"warning: this {what} was started by nasbench_harness {describe_versions(versions)} and is resumed "
            f"by {describe_version(*current_code().values())}: its epochs come from different code (recorded "
            "in metadata code_versions; it will be reported stale)"
        )
        versions.append(current_code())
    return versions
