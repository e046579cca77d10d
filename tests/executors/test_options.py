"""The suite's `executor:` section and the CLI options: validated, with file:line errors, never hashed."""

from __future__ import annotations

import pytest

from nasbench_harness.engine.suite import choose_executor
from nasbench_harness.errors import ConfigError
from nasbench_harness.suite_expansion import expand_suite, load_suite

BASE = "name: s\nprofile: tiny\nmethods: [darts]\nspaces: [nb201]\ndatasets: [cifar10]\nseeds: [0]\n"


def _suite(tmp_path, executor: str):
    path = tmp_path / "suite.yaml"
    path.write_text(BASE + executor)
    return path, load_suite(path)


def test_suite_section_then_cli_over_it(tmp_path):
    path, suite = _suite(tmp_path, "executor:\n  name: pool\n  workers: 3\n  max_retries: 5\n")
    chosen = choose_executor(suite, path, None, {"workers": 2, "partition": None})
    assert (chosen.name, chosen.options.workers, chosen.options.max_retries) == ("pool", 2, 5)
    other = choose_executor(suite, path, "ray", {"gpus_per_run": 0.5})  # another executor: the suite's options go
    assert (other.name, other.options.gpus_per_run, other.options.max_retries) == ("ray", 0.5, 2)


def test_suite_errors_name_file_line_and_key(tmp_path):
    path, suite = _suite(tmp_path, "executor:\n  name: pool\n  wokers: 2\n")
    with pytest.raises(ConfigError, match=rf"{path}:9: unknown key 'executor.wokers'. Did you mean 'workers'\?"):
        choose_executor(suite, path, None, {})
    path, suite = _suite(tmp_path, "executor:\n  name: slurm\n  time_limit: -1\n")
    with pytest.raises(ConfigError, match=rf"{path}:9: key 'executor.time_limit': Input should be greater than 0"):
        choose_executor(suite, path, None, {})
    path, suite = _suite(tmp_path, "executor:\n  name: poll\n")
    with pytest.raises(ConfigError, match=rf"{path}:8: unknown executor 'poll'. Did you mean 'pool'\?"):
        choose_executor(suite, path, None, {})


def test_cli_errors_name_the_flag(tmp_path):
    path, suite = _suite(tmp_path, "")
    with pytest.raises(
        ConfigError, match=r"--partition: not an option of executor 'pool'; its options are .*--workers"
    ):
        choose_executor(suite, path, "pool", {"partition": "gpu"})
    with pytest.raises(
        ConfigError, match=r"--gpus-per-run: Value error, gpus_per_run 0.3: a share of a GPU must divide"
    ):
        choose_executor(suite, path, "pool", {"gpus_per_run": 0.3})


def test_the_executor_section_does_not_enter_the_config_hash(tmp_path):
    path, plain = _suite(tmp_path, "")
    ids = [c.run_id() for c in expand_suite(plain, path)]
    path, scaled = _suite(tmp_path, "executor: {name: slurm, partition: gpu, gpus_per_run: 1}\n")
    assert [c.run_id() for c in expand_suite(scaled, path)] == ids


def test_importing_the_harness_needs_neither_ray_nor_submitit():
    import subprocess
    import sys

    code = (
        "import sys, builtins; real = builtins.__import__\n"
        "def block(name, *a, **k):\n"
        "    if name.split('.')[0] in ('ray', 'submitit'): raise ImportError(name)\n"
        "    return real(name, *a, **k)\n"
        "builtins.__import__ = block\n"
        "import nasbench_harness.cli, nasbench_harness.engine.executors as e; print(e.list_executors())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["['local',", "'pool',", "'ray',", "'slurm']"]


def test_pool_with_cuda_but_no_gpu_share_is_a_clear_error() -> None:
    """Workers of a CPU slot see no GPU (CUDA_VISIBLE_DEVICES=""): say so before any run, not in every worker."""
    import pytest

    from nasbench_harness.engine.executors import get_executor
    from nasbench_harness.errors import HarnessError

    pool = get_executor("pool", {"workers": 2})
    with pytest.raises(HarnessError, match="gpus-per-run"):
        pool.worker_device("cuda")
    assert pool.worker_device("cpu") == "cpu"
    assert get_executor("pool", {"workers": 1, "gpus_per_run": 1}).worker_device("auto") == "cuda"
