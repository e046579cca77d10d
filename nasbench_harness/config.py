"""Typed, validated suite and run configurations, profiles and config hashing.

A suite (YAML) is a grid methods × spaces × datasets × seeds plus overrides; `suite_expansion`
expands it into `RunConfig`s whose defaults are the published hyperparameters. Layering, lowest first:
the papers' defaults (here) → the space's → the method's → the profile → the suite's sections →
per-space overrides → per-method overrides. Every error names the file, the key (with its line), what
was expected, and offers a "did you mean" for unknown keys. This module imports no registry: spaces and
methods import it.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, ValidationError, create_model

from nasbench_harness.errors import ConfigError

Device = Literal["auto", "cpu", "cuda"]
SplitProtocol = Literal["half", "nb201", "nb201_official", "full"]
#: How a seed pack executes its members' steps (engine/packed.py).
PackMode = Literal["interleaved", "batched"]
ValidSampling = Literal["darts_fresh_batch", "nb201_random", "permutation"]


def canonical_hash(payload: Any) -> str:
    """12 hex digits of the SHA-256 of `payload` as canonical JSON (sorted keys, no spaces)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


#: (section, key, default) of RunConfig keys that enter the config hash only when not at their default.
HASHED_WHEN_SET = [
    ("train", "precision", "fp32"),
    ("train", "lr_epoch", "current"),
    ("train", "zero_grad", "to_none"),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrainConfig(Strict):
    """Search hyperparameters (reference.md §2)."""

    epochs: PositiveInt = 50
    batch_size: PositiveInt = 64
    lr: PositiveFloat = 0.025
    lr_min: float = Field(0.001, ge=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(3e-4, ge=0)
    nesterov: bool = False
    grad_clip: PositiveFloat | None = 5.0
    arch_lr: PositiveFloat = 3e-4
    arch_betas: tuple[float, float] = (0.5, 0.999)
    arch_weight_decay: float = Field(1e-3, ge=0)
    #: Which update a search step makes first. None: the method's original code for the space (DARTS'
    #: train_search.py and xautodl DARTS-V2: α first; xautodl DARTS-V1 on NB201: weights first).
    step_order: Literal["alpha_first", "weights_first"] | None = None
    #: Parameters the gradient-norm clip measures: the weights (DARTS: α is no nn.Parameter there) or all
    #: `network.parameters()`, α included (xautodl's NB201 scripts), so α's gradients enlarge the norm.
    clip_scope: Literal["weights", "all"] = "weights"
    #: Arithmetic of the search steps: fp32, or bf16 autocast (an option; changes results, so it is hashed).
    precision: Literal["fp32", "bf16"] = "fp32"
    #: Which epoch's cosine rate epoch e trains at: `current`, lr(e), as `scheduler.step()` before the epoch
    #: under PyTorch < 1.1, or after it under >= 1.1; `next`, lr(e + 1), as `scheduler.step()` before the epoch
    #: under PyTorch >= 1.1 (the last epoch then trains at lr_min). Methods set their original's (docs/methods.md).
    lr_epoch: Literal["current", "next"] = "current"
    #: How the weight step clears gradients: `to_none`, `zero_grad(set_to_none=True)` (PyTorch >= 2's default):
    #: a parameter the step's loss does not reach has no gradient and is not stepped; `zeros`, PyTorch < 2's
    #: `zero_grad()`: zeroed in place, so a parameter that has had a gradient (in any weight or α backward)
    #: keeps a zero one and weight decay and momentum move it every step. Differs only for sampled methods.
    zero_grad: Literal["to_none", "zeros"] = "to_none"


class DataConfig(Strict):
    #: None: the method's protocol ("full" for one-level methods), else "nb201_official" on NB201, "half" elsewhere.
    split: SplitProtocol | None = None
    limit_train: PositiveInt | None = None
    limit_test: PositiveInt | None = None
    #: Keep the epoch's last, smaller weight batch (False: DARTS and NAS-Bench-201 keep it).
    drop_last: bool = False
    #: How each step's α batch is drawn: DARTS' fresh random batch, NAS-Bench-201's random image per
    #: weight image, or a walk through permutations (see data/pipeline.py).
    valid_sampling: ValidSampling = "darts_fresh_batch"
    augment: bool = True
    cutout_length: PositiveInt = 16
    eval_batch_size: PositiveInt = 256


class MetricsConfig(Strict):
    #: Dominant Hessian eigenvalue of the validation loss w.r.t. α: RobustDARTS-compatible `exact`,
    #: Hessian-vector-product `fast`, or `off`.
    eigenvalue: Literal["exact", "fast", "off"] = "exact"
    eigenvalue_every: PositiveInt = 2
    eigenvalue_batches: PositiveInt = 1
    eigenvalue_tol: PositiveFloat = 1e-3
    ground_truth: bool = True


NetworkValue = int | float | bool


class RunConfig(Strict):
    """One search: everything that determines its result (hashed) plus where it runs (not hashed)."""

    method: str
    space: str
    dataset: str
    seed: int
    profile: str | None = None
    train: TrainConfig = TrainConfig()
    data: DataConfig = DataConfig()
    metrics: MetricsConfig = MetricsConfig()
    network: dict[str, NetworkValue] = {}
    method_args: dict[str, Any] = {}

    def config_hash(self) -> str:
        """Hash of every result-changing field (paths and device are not part of a config)."""
        dump = self.model_dump(mode="json")
        # Keys added after runs were recorded hash only when set away from their default, so those runs keep
        # their directories.
        for section, key, default in HASHED_WHEN_SET:
            if dump[section].get(key) == default:
                del dump[section][key]
        return canonical_hash(dump)

    def run_id(self) -> str:
        return f"{self.seed}-{self.config_hash()}"

    def relative_dir(self) -> Path:
        return Path("runs") / self.space / self.dataset / self.method / self.run_id()


def _partial(model: type[BaseModel]) -> type[BaseModel]:
    """The same fields and constraints, none required: a suite section sets only what it changes.

    The placeholder default (None, never validated) is dropped by `_section_dict` (it dumps only the
    keys the user set), so `null` written by the user reaches the merge and resets a nullable field
    (`grad_clip: null`), and is a validation error, with file and line, on a field that is not nullable.
    """
    fields = {
        name: (Annotated[(f.annotation, *f.metadata)] if f.metadata else f.annotation, None)
        for name, f in model.model_fields.items()
    }
    return create_model(f"Partial{model.__name__}", __config__=ConfigDict(extra="forbid"), **fields)


PartialTrain = _partial(TrainConfig)
PartialData = _partial(DataConfig)
PartialMetrics = _partial(MetricsConfig)


class Sections(Strict):
    """Overridable sections; each sets only the keys it names."""

    train: PartialTrain = PartialTrain()  # type: ignore[valid-type]
    data: PartialData = PartialData()  # type: ignore[valid-type]
    metrics: PartialMetrics = PartialMetrics()  # type: ignore[valid-type]
    network: dict[str, NetworkValue] = {}
    method_args: dict[str, Any] = {}


class Overrides(Strict):
    methods: dict[str, Sections] = {}
    spaces: dict[str, Sections] = {}


class ExecutorSection(BaseModel):
    """`executor:` — where the runs execute. Its options are validated by the executor it names
    (engine/executors/, one file each), so a new executor needs no change here. Never part of a run's
    config or hash: where a run executes does not change its result."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str = "local"


class EvaluateSection(Strict):
    """`evaluate:` — retrain each finished search's genotype (docs/evaluation.md). The sections override the
    published protocol's settings; `select_epochs` switches to the RobustDARTS selection protocol."""

    seeds: list[int] = Field([0], min_length=1)
    train: dict[str, Any] = {}
    data: dict[str, Any] = {}
    network: dict[str, NetworkValue] = {}
    #: Short retrain of every seed's genotype (this many epochs, half the training set), then the full
    #: retrain of the one with the lowest held-out error; None: every seed's genotype fully retrained.
    select_epochs: PositiveInt | None = None


class SuiteConfig(Sections):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    profile: str | None = None
    methods: list[str] = Field(min_length=1)
    spaces: list[str] = Field(min_length=1)
    datasets: list[str] = Field(min_length=1)
    seeds: list[int] = Field(min_length=1)
    results_dir: str | None = None
    data_dir: str | None = None
    device: Device = "auto"
    executor: ExecutorSection = ExecutorSection()
    #: Train up to this many seeds of a configuration together in one process (engine/packed.py); like the
    #: executor, never part of a run's config or hash: packed runs end with the results of the runs alone.
    pack_seeds: PositiveInt = 1
    pack_mode: PackMode = "interleaved"
    overrides: Overrides = Overrides()
    evaluate: EvaluateSection | None = None


#: Profiles shrink the papers' settings; `None` (no profile) is the papers' full settings.
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {
        "train": {"epochs": 4, "batch_size": 32},
        "data": {"limit_train": 1024, "limit_test": 256, "eval_batch_size": 256},
        "network": {"channels": 8, "layers": 5, "cells_per_stage": 1},
        "metrics": {"eigenvalue": "fast", "eigenvalue_every": 2},
    },
    "tiny": {
        "train": {"epochs": 2, "batch_size": 8},
        "data": {"limit_train": 64, "limit_test": 32, "eval_batch_size": 32},
        "network": {"channels": 4, "layers": 3, "cells_per_stage": 1},
        "metrics": {"eigenvalue": "off"},
    },
}


def parse_suite(text: str, path: str | Path) -> SuiteConfig:
    """A suite from its YAML text, validated against the schema; every problem becomes a ConfigError
    naming file, key and line. Names of methods, spaces and datasets are checked by
    `suite_expansion.load_suite`, which knows the registries (this module imports none)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a suite is a mapping with keys name, methods, spaces, datasets, seeds")
    try:
        return SuiteConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(explain(err, path, text)) from None


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Line (1-based) of every mapping key in a YAML document, by key path."""
    lines: dict[tuple[str, ...], int] = {}

    def walk(node: yaml.Node, prefix: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                path = (*prefix, str(key.value))
                lines[path] = key.start_mark.line + 1
                walk(value, path)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[(*prefix, str(i))] = item.start_mark.line + 1
                walk(item, (*prefix, str(i)))

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines
    if root is not None:
        walk(root, ())
    return lines


def line_suffix(lines: dict[tuple[str, ...], int], loc: tuple[str, ...]) -> str:
    for end in range(len(loc), 0, -1):
        if loc[:end] in lines:
            return f":{lines[loc[:end]]}"
    return ""


def explain(
    err: ValidationError,
    path: Path,
    text: str | None,
    model: type[BaseModel] | None = None,
    where: str | None = None,
    within: tuple[str, ...] = (),
) -> str:
    """One line per problem: file:line, the dotted key, what was expected, and a "did you mean".

    `within`: the key path of the validated model inside the suite (its errors' locations are relative).
    """
    lines = key_lines(text) if text else {}
    prefix = f"{where}: " if where else ""
    problems = []
    for e in err.errors():
        loc = within + tuple(str(p) for p in e["loc"])
        key = ".".join(loc) or "(top level)"
        at = f"{path}{line_suffix(lines, loc)}: {prefix}"
        if e["type"] == "extra_forbidden":
            allowed = _allowed_keys(model or SuiteConfig, loc)
            close = difflib.get_close_matches(loc[-1], allowed, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            known = f" Allowed here: {', '.join(allowed)}." if allowed else " No keys are allowed here."
            problems.append(f"{at}unknown key '{key}'.{hint}{known}")
        elif e["type"] == "missing":
            problems.append(f"{at}missing required key '{key}'.")
        elif "input" in e and e["input"] is None:
            problems.append(f"{at}key '{key}' cannot be null: {e['msg']}. Remove the key to keep the default.")
        else:
            problems.append(f"{at}key '{key}': {e['msg']} (got {e.get('input')!r}).")
    return "\n".join(problems)


def _allowed_keys(model: type[BaseModel], loc: tuple[str, ...]) -> list[str]:
    """Field names of the model holding the key at `loc`, found by walking the model by location."""
    i = 0
    while i < len(loc) - 1:
        field = model.model_fields.get(loc[i])
        if field is None:
            return []
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model, i = annotation, i + 1
        elif get_origin(annotation) is dict and issubclass(get_args(annotation)[1], BaseModel):
            model, i = get_args(annotation)[1], i + 2
        else:
            return []
    return sorted(model.model_fields)
