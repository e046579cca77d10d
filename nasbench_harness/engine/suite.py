"""`nasbench run`: load a suite, expand it, run it with an executor, summarise."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from nasbench_harness.datadir import resolve_data_dir
from nasbench_harness.engine.executors import get_executor
from nasbench_harness.engine.runner import Reporter, RunOutcome
from nasbench_harness.errors import HarnessError
from nasbench_harness.suite_expansion import expand_suite, load_suite

RESULTS_ENV = "NASBENCH_RESULTS"
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
    executor: str = "local",
    report: Reporter = print,
    rerun_stale: bool = False,
) -> list[RunOutcome]:
    """Every run of the suite; a run's failure is an outcome, only a suite that cannot start raises."""
    suite_path = Path(suite_path)
    suite = load_suite(suite_path)
    configs = expand_suite(suite, suite_path)
    results = resolve_results_dir(results_dir, suite.results_dir, suite_path)
    _make_results_dir(results)
    data = resolve_data_dir(data_dir or (str(suite_path.parent / suite.data_dir) if suite.data_dir else None))
    report(f"suite {suite.name!r}: {len(configs)} runs → {results} (data: {data})")
    return get_executor(executor).run_all(
        configs, results, data, device or suite.device, report, rerun_stale=rerun_stale
    )


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
