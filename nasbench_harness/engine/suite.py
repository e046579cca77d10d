"""`nasbench run`: load a suite, expand it, run it with an executor, summarise."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, ValidationError, create_model

from nasbench_harness.config import RunConfig, SuiteConfig, explain, key_lines, line_suffix
from nasbench_harness.datadir import resolve_data_dir
from nasbench_harness.engine.executors import Executor, get_executor_class, list_executors
from nasbench_harness.engine.packed import SeedPack, pack_jobs
from nasbench_harness.engine.record import atomic_write_json
from nasbench_harness.engine.runner import Reporter, RunOutcome
from nasbench_harness.errors import ConfigError, HarnessError
from nasbench_harness.registry import unknown_name_message
from nasbench_harness.suite_expansion import expand_suite, load_suite

RESULTS_ENV = "NASBENCH_RESULTS"
#: results/suites/<name>.json: which runs each suite has, for `nasbench status` (pending ones included).
MANIFESTS = "suites"
#: Counted in the summary line only when they occur.
OPTIONAL_STATUSES = ("stale", "locked")


def resolve_results_dir(option: str | None, suite_value: str | None, suite_path: Path) -> Path:
    """CLI option, then the suite's `results_dir` (relative to the suite file), then $NASBENCH_RESULTS,
    then ./results."""
    if option:
        return Path(option).expanduser().resolve()
    if suite_value:
        return (suite_path.parent / Path(suite_value).expanduser()).resolve()
    return Path(os.environ.get(RESULTS_ENV, "results")).expanduser().resolve()


def run_suite(
    suite_path: str | Path,
    *,
    results_dir: str | None = None,
    data_dir: str | None = None,
    device: str | None = None,
    executor: str | None = None,
    executor_options: Mapping[str, Any] | None = None,
    report: Reporter = print,
    rerun_stale: bool = False,
    pack_seeds: int | None = None,
    pack_mode: str | None = None,
) -> list[RunOutcome]:
    """Every run of the suite; a run's failure is an outcome, only a suite that cannot start raises.

    `executor` / `executor_options` (the CLI's) override the suite's `executor:` section; `pack_seeds` /
    `pack_mode` (the CLI's) the suite's keys of the same names.
    """
    suite_path = Path(suite_path)
    suite = load_suite(suite_path)
    configs = expand_suite(suite, suite_path)
    chosen = choose_executor(suite, suite_path, executor, executor_options or {})
    results = resolve_results_dir(results_dir, suite.results_dir, suite_path)
    _make_results_dir(results)
    data = data_dir or (str((suite_path.parent / suite.data_dir).resolve()) if suite.data_dir else None)
    shown = chosen.worker_data_dir(data)
    where = resolve_data_dir(shown) if chosen.name == "local" else f"{shown or '$NASBENCH_DATA'}, on each worker"
    report(f"suite {suite.name!r}: {len(configs)} runs → {results} (data: {where}; executor {chosen.name})")
    write_manifest(results, suite.name, suite_path, configs)
    jobs = seed_packs(configs, suite, suite_path, chosen, pack_seeds, pack_mode)
    outcomes = chosen.run_all(jobs, results, data, device or suite.device, report, rerun_stale=rerun_stale)
    if suite.evaluate is not None:  # the retraining stage (evaluation/jobs.py), through the same executor
        from nasbench_harness.evaluation.jobs import suite_evaluations

        def run(jobs: list) -> list[RunOutcome]:
            return chosen.run_all(jobs, results, data, device or suite.device, report, rerun_stale=rerun_stale)

        outcomes += suite_evaluations(suite.evaluate, outcomes, run, report)
    return outcomes


def seed_packs(
    configs: list[RunConfig],
    suite: SuiteConfig,
    suite_path: Path,
    executor: Executor,
    size: int | None,
    mode: str | None,
) -> list[RunConfig | SeedPack]:
    """The suite's runs as jobs: seeds of one configuration packed (`pack_seeds`, engine/packed.py)."""
    chosen = size or suite.pack_seeds
    if chosen > 1 and not executor.runs_packs:
        lines = key_lines(suite_path.read_text())
        packing = [name for name in list_executors() if get_executor_class(name).runs_packs]
        source = "--pack-seeds" if size else f"{suite_path}{line_suffix(lines, ('pack_seeds',))}"
        raise ConfigError(
            f"{source}: executor {executor.name!r} runs one run per job and takes no seed packs; use one that "
            f"does ({', '.join(packing)}), or pack_seeds: 1"
        )
    return pack_jobs(configs, chosen, mode or suite.pack_mode)


def choose_executor(suite: SuiteConfig, suite_path: Path, name: str | None, cli_options: Mapping[str, Any]) -> Executor:
    """The suite's `executor:` section, with the CLI's choice and options over it, validated.

    A CLI `--executor` naming another executor than the suite's drops the suite's options (they are
    another executor's). Suite errors name the file and line; CLI errors name the flag.
    """
    section = suite.executor.model_dump()
    suite_name = section.pop("name")
    chosen = name or suite_name
    if chosen not in list_executors():
        text = suite_path.read_text()
        at = f"--executor {chosen}" if name else f"{suite_path}{line_suffix(key_lines(text), ('executor', 'name'))}"
        raise ConfigError(f"{at}: {unknown_name_message('executor', chosen, list_executors())}")
    cls = get_executor_class(chosen)
    options = section if chosen == suite_name else {}
    if options:
        wrapper = create_model("SuiteExecutor", __config__=ConfigDict(extra="forbid"), executor=(cls.Options, ...))
        try:
            wrapper.model_validate({"executor": options})
        except ValidationError as err:
            message = explain(err, suite_path, suite_path.read_text(), wrapper)
            raise ConfigError(message.replace("Allowed here: ", "Allowed here: name, ")) from None
    given = {k: v for k, v in cli_options.items() if v is not None}
    unknown = sorted(set(given) - set(cls.Options.model_fields))
    if unknown:
        flags = ", ".join(_flag(k) for k in unknown)
        known = ", ".join(_flag(k) for k in cls.Options.model_fields)
        raise ConfigError(f"{flags}: not an option of executor {chosen!r}; its options are {known}")
    try:
        validated = cls.Options.model_validate({**options, **given})
    except ValidationError as err:
        problems = [
            f"{_flag(str(e['loc'][0])) if e['loc'] else 'executor'}: {e['msg']} (got {e.get('input')!r})"
            for e in err.errors()
        ]
        source = "command line" if any(e["loc"] and e["loc"][0] in given for e in err.errors()) else str(suite_path)
        raise ConfigError(f"executor {chosen!r} options from the {source}: " + "; ".join(problems)) from None
    executor = cls(validated)
    executor.name = chosen
    return executor


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def write_manifest(results: Path, name: str, suite_path: Path, configs: Sequence[RunConfig]) -> None:
    """Record the suite's runs (adding to runs an earlier version of the suite listed) for `nasbench status`."""
    path = results / MANIFESTS / f"{name}.json"
    runs = {str(c.relative_dir()): _manifest_entry(c) for c in configs}
    try:
        import json

        earlier = json.loads(path.read_text()).get("runs", {})
    except (OSError, ValueError):
        earlier = {}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(
        path,
        {"name": name, "suite_file": str(suite_path.resolve()), "updated": time.time(), "runs": {**earlier, **runs}},
    )


def _manifest_entry(config: RunConfig) -> dict[str, Any]:
    return {
        "method": config.method,
        "space": config.space,
        "dataset": config.dataset,
        "seed": config.seed,
        "epochs": config.train.epochs,
    }


def _make_results_dir(results: Path) -> None:
    """Create the results directory up front: if it cannot exist, no run can, so say so once."""
    try:
        results.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        blocker = next((p for p in (results, *results.parents) if p.exists() and not p.is_dir()), None)
        why = f"{blocker} is a file, not a directory" if blocker else (err.strerror or str(err))
        raise HarnessError(
            f"cannot create the results directory {results}: {why}. Choose another one with --results-dir "
            "(or the suite's results_dir, or $NASBENCH_RESULTS)"
        ) from None


def summary_table(outcomes: Sequence[RunOutcome]) -> str:
    header = f"{'status':<9} {'method':<12} {'space':<6} {'dataset':<15} {'seed':>4}  {'time':>8}  genotype / reason"
    lines = [header, "-" * len(header)]
    for o in outcomes:
        c = o.config
        detail = o.reason if o.status != "finished" else o.genotype
        lines.append(
            f"{o.status:<9} {c.method:<12} {c.space:<6} {c.dataset:<15} {c.seed:>4}  {o.seconds:>7.1f}s  {detail}"
        )
    counts = {s: sum(o.status == s for o in outcomes) for s in ("finished", "skipped", "failed", *OPTIONAL_STATUSES)}
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items() if n or s not in OPTIONAL_STATUSES))
    return "\n".join(lines)
