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
    """The grid in a stable order (space, dataset, method, seed), with every layer applied.

    Every run is checked against its method's constraints (`Method.config_problems`) before any run starts;
    with a profile, a method first gets the fixes it needs to run the profile (`Method.profile_fixes`: the
    channels of a partial-channel split, the eigenvalue of DARTS-ES/ADA) on the keys the suite leaves alone."""
    runs = []
    profile = PROFILES.get(suite.profile or "", {})
    for space_name in suite.spaces:
        space = get_space(space_name)
        for dataset in suite.datasets:
            for method in suite.methods:
                method_cls = get_method_class(method)
                below = [
                    space.config_defaults,
                    method_cls.defaults,
                    method_cls.family_defaults.get(space.family, {}),
                    method_cls.space_defaults_for(space),
                    profile,
                ]
                user = [
                    _section_dict(suite),
                    _section_dict(suite.overrides.spaces.get(space_name, Sections())),
                    _section_dict(suite.overrides.methods.get(method, Sections())),
                ]
                where = f"{method} on {space_name}"
                variants = _variants(method_cls, space, [*below, *user], source, where)
                if suite.profile is not None:
                    fixes = _unset(method_cls.profile_fixes(variants[0]), user)
                    if fixes:
                        variants = _variants(method_cls, space, [*below, fixes, *user], source, where)
                for config in variants:
                    _check(method_cls, config, suite, source, where)
                    for seed in suite.seeds:
                        runs.append(
                            config.model_copy(update={"dataset": dataset, "seed": seed, "profile": suite.profile})
                        )
    return runs


def _variants(
    method_cls: Any, space: SearchSpace, layers: list[Mapping[str, Any]], source: str | Path, where: str
) -> list[RunConfig]:
    """One run config per argument set the method expands into, from the layers merged in order (dataset and
    seed are placeholders the caller replaces)."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged = _merge(merged, layer)
    network = network_for(space, merged.get("network", {}))
    train = _validated(TrainConfig, merged, "train", source, where)
    data = _validated(DataConfig, merged, "data", source, where)
    metrics = _validated(MetricsConfig, merged, "metrics", source, where)
    try:
        args = method_cls.Args.model_validate(merged.get("method_args", {}))
    except ValidationError as err:
        raise ConfigError(
            explain(err, Path(str(source)), None, method_cls.Args, f"method_args of {method_cls.name}")
        ) from None
    return [
        RunConfig(
            method=method_cls.name,
            space=space.name,
            dataset="",
            seed=0,
            train=train,
            data=data,
            metrics=metrics,
            network=network,
            method_args=variant.model_dump(mode="json"),
        )
        for variant in method_cls.expand_args(args)
    ]


def _unset(fixes: Mapping[str, Any], user: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The entries of a section layer `fixes` that no user layer (the suite's sections and overrides) sets."""
    kept: dict[str, Any] = {}
    for section, values in fixes.items():
        left = {k: v for k, v in values.items() if not any(k in layer.get(section, {}) for layer in user)}
        if left:
            kept[section] = left
    return kept


def _check(method_cls: Any, config: RunConfig, suite: SuiteConfig, source: str | Path, where: str) -> None:
    """A ConfigError naming the suite (and the method's line), the run and every problem, before any run starts."""
    problems = method_cls.config_problems(config)
    if not problems:
        return
    path = Path(str(source))
    lines = key_lines(path.read_text()) if path.is_file() else {}
    at = line_suffix(lines, ("methods", str(suite.methods.index(method_cls.name))))
    profile = f" at profile {suite.profile!r}" if suite.profile else ""
    raise ConfigError(
        f"{path}{at}: {where}{profile} cannot run: {'; '.join(problems)}. Set it for this method under "
        f"`overrides: {{methods: {{{method_cls.name}: ...}}}}` (or drop {method_cls.name} from this suite)."
    )


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
