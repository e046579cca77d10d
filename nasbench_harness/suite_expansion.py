"""A suite file → its validated runs: the names checked against the registries, the grid expanded with
every config layer applied (see `config` for the layer order).

It lives apart from `config` because it needs the space and method registries, whose modules import
`config` themselves.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from nasbench_harness.config import (
    PROFILES,
    DataConfig,
    MetricsConfig,
    NetworkValue,
    RunConfig,
    Sections,
    Strict,
    SuiteConfig,
    TrainConfig,
    explain,
    key_lines,
    line_suffix,
    parse_suite,
)
from nasbench_harness.data import list_datasets
from nasbench_harness.errors import ConfigError
from nasbench_harness.methods import get_method_class, list_methods
from nasbench_harness.spaces import SearchSpace, get_space, list_spaces


def load_suite(path: str | Path) -> SuiteConfig:
    """Read and validate a suite file; every problem becomes a ConfigError naming file, key and line."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"cannot read suite file {path}: {err.strerror or err}") from None
    suite = parse_suite(text, path)
    check_names(suite, path, text)
    return suite


def check_names(suite: SuiteConfig, path: Path, text: str) -> None:
    """Unknown methods, spaces, datasets, profiles get the registry's "did you mean"; repeats are errors."""
    lines = key_lines(text)
    checks = [
        ("method", suite.methods, list_methods(), ("methods",)),
        ("space", suite.spaces, list_spaces(), ("spaces",)),
        ("dataset", suite.datasets, list_datasets(), ("datasets",)),
        ("method", list(suite.overrides.methods), list_methods(), ("overrides", "methods")),
        ("space", list(suite.overrides.spaces), list_spaces(), ("overrides", "spaces")),
    ]
    if suite.profile is not None:
        checks.append(("profile", [suite.profile], sorted(PROFILES), ("profile",)))
    for kind, names, known, loc in checks:
        for name in names:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ConfigError(
                    f"{path}{line_suffix(lines, loc)}: unknown {kind} {name!r} under '{'.'.join(loc)}'.{hint} "
                    f"Known {kind}s: {', '.join(known)}."
                )
    for kind, seq in (
        ("seeds", suite.seeds),
        ("methods", suite.methods),
        ("spaces", suite.spaces),
        ("datasets", suite.datasets),
    ):
        if len(set(seq)) != len(seq):
            raise ConfigError(f"{path}{line_suffix(lines, (kind,))}: '{kind}' lists an entry twice: {seq}")


def expand_suite(suite: SuiteConfig, source: str | Path = "<suite>") -> list[RunConfig]:
    """The grid in a stable order (space, dataset, method, seed), with every layer applied."""
    runs = []
    for space_name in suite.spaces:
        space = get_space(space_name)
        for dataset in suite.datasets:
            for method in suite.methods:
                method_cls = get_method_class(method)
                layers: list[Mapping[str, Any]] = [
                    space.config_defaults,
                    method_cls.defaults,
                    method_cls.space_defaults_for(space),
                    PROFILES.get(suite.profile or "", {}),
                    _section_dict(suite),
                    _section_dict(suite.overrides.spaces.get(space_name, Sections())),
                    _section_dict(suite.overrides.methods.get(method, Sections())),
                ]
                merged: dict[str, Any] = {}
                for layer in layers:
                    merged = _merge(merged, layer)
                network = network_for(space, merged.get("network", {}))
                where = f"{method} on {space_name}"
                train = _validated(TrainConfig, merged, "train", source, where)
                data = _validated(DataConfig, merged, "data", source, where)
                metrics = _validated(MetricsConfig, merged, "metrics", source, where)
                try:
                    args = method_cls.Args.model_validate(merged.get("method_args", {}))
                except ValidationError as err:
                    raise ConfigError(
                        explain(err, Path(str(source)), None, method_cls.Args, f"method_args of {method}")
                    ) from None
                for variant in method_cls.expand_args(args):
                    for seed in suite.seeds:
                        runs.append(
                            RunConfig(
                                method=method,
                                space=space_name,
                                dataset=dataset,
                                seed=seed,
                                profile=suite.profile,
                                train=train,
                                data=data,
                                metrics=metrics,
                                network=network,
                                method_args=variant.model_dump(mode="json"),
                            )
                        )
    return runs


def network_for(space: SearchSpace, network: Mapping[str, NetworkValue]) -> dict[str, NetworkValue]:
    """Keep the network keys this space's supernet takes (profiles name keys of both families)."""
    known = dict(space.default_network)
    accepted = set(known) | {"layers"} if "layers" in known else set(known)
    return {**known, **{k: v for k, v in network.items() if k in accepted}}


def _merge(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """`update` over `base`, recursively; a None in `update` is a value (it sets the key to null)."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def _section_dict(sections: Sections) -> dict[str, Any]:
    """The section keys the user wrote (explicit nulls included), nothing filled in by a default."""
    return sections.model_dump(include=set(Sections.model_fields), exclude_unset=True)


def _validated(model: type[Strict], merged: Mapping[str, Any], section: str, source: str | Path, where: str) -> Any:
    """A section from all layers combined; a combination no single layer shows (a validator across
    fields) becomes a ConfigError naming the suite, the section and the run it applies to."""
    try:
        return model(**merged.get(section, {}))
    except ValidationError as err:
        path = Path(str(source))
        text = path.read_text() if path.is_file() else None
        raise ConfigError(explain(err, path, text, None, where, (section,))) from None
