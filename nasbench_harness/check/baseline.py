"""The committed baseline: per-run reference values plus per-metric tolerances and why it last changed."""

from __future__ import annotations

import datetime as dt
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nasbench_harness.check.direction import Direction, parse_direction
from nasbench_harness.check.summary import RunSummary
from nasbench_harness.errors import ConfigError

#: Absolute tolerances unless the name ends in `_rel` (relative). `genotype`: how many edges may change
#: in place ("exact": none); `genotype_ops`: how many edges may change op. Chosen from measured
#: variation (ci/README.md): 1.5-2x the largest difference seen under perturbed rounding.
DEFAULT_TOLERANCES: dict[str, Any] = {
    "genotype": 3,
    "genotype_ops": 3,
    "epochs_run": 0,
    "final_skip": 2,
    "final_param_free": 2,
    "skip_per_epoch": 3,
    "final_valid_acc": 8.0,
    "eigenvalue_final_rel": 1.0,
    "eigenvalue_mean_rel": 0.4,
    "eigenvalue_slope": 0.02,
    "gt_cifar10-valid_valid": 4.5,
    "gt_cifar10_test": 4.5,
    "nb301_valid_acc_approx": 3.0,
}


@dataclass
class Baseline:
    tolerances: dict[str, Any]
    runs: dict[str, dict[str, Any]]
    hashes: dict[str, str] = field(default_factory=dict)
    reason: str = ""
    updated: str = ""
    machine: str = ""
    tolerance_notes: str = ""
    #: space → tolerances that differ there (e.g. S3, whose input choices are near-ties).
    space_tolerances: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Which groups must collapse and which fixes must hold (check/direction.py).
    direction: Direction = field(default_factory=Direction)

    def tolerances_for(self, space: str) -> dict[str, Any]:
        return {**self.tolerances, **self.space_tolerances.get(space, {})}


def _check_keys(path: Path, where: str, keys: Any) -> None:
    unknown = set(keys) - set(DEFAULT_TOLERANCES)
    if unknown:
        raise ConfigError(
            f"{path}: unknown tolerance keys {sorted(unknown)} in '{where}'; known: {sorted(DEFAULT_TOLERANCES)}"
        )


def load_baseline(path: Path) -> Baseline:
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except OSError as err:
        raise ConfigError(f"cannot read baseline {path}: {err.strerror or err}; create one with --update") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("runs"), dict):
        raise ConfigError(f"{path}: a baseline is a mapping with 'tolerances' and 'runs'")
    runs = {key: dict(entry.get("values", {})) for key, entry in raw["runs"].items()}
    hashes = {key: str(entry.get("config_hash", "")) for key, entry in raw["runs"].items()}
    _check_keys(path, "tolerances", raw.get("tolerances") or {})
    space_tolerances = raw.get("space_tolerances") or {}
    for space, overrides in space_tolerances.items():
        _check_keys(path, f"space_tolerances.{space}", overrides)
    return Baseline(
        {**DEFAULT_TOLERANCES, **(raw.get("tolerances") or {})},
        runs,
        hashes,
        raw.get("reason", ""),
        str(raw.get("updated", "")),
        raw.get("machine", ""),
        raw.get("tolerance_notes", ""),
        space_tolerances,
        parse_direction(raw.get("direction"), Path(path)),
    )


def _machine() -> str:
    """What decides floating-point rounding of the runs: CPU, vector kernels, threads, torch."""
    import torch

    model = next(
        (line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")), platform.machine()
    )
    capability = torch.backends.cpu.get_cpu_capability()
    return f"{model}, {capability}, {torch.get_num_threads()} threads, torch {torch.__version__}, {platform.platform()}"


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def write_baseline(path: Path, summaries: dict[str, RunSummary], reason: str, previous: Baseline | None) -> None:
    """Rewrite the baseline from these results, keeping the tolerances (and their notes)."""
    if not reason.strip():
        raise ConfigError("--update needs --reason: say why the collapse behaviour changed deliberately")
    document = {
        "reason": reason,
        "updated": dt.date.today().isoformat(),
        "machine": _machine(),
        "tolerance_notes": previous.tolerance_notes if previous else "",
        "tolerances": previous.tolerances if previous else DEFAULT_TOLERANCES,
        "space_tolerances": previous.space_tolerances if previous else {},
        **({"direction": previous.direction.as_yaml()} if previous and previous.direction else {}),
        "runs": {key: {"config_hash": s.config_hash, "values": s.values} for key, s in sorted(summaries.items())},
    }
    Path(path).write_text(yaml.safe_dump(document, sort_keys=False, width=200))
