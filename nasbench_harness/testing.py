"""Conformance checks every registered method must pass (in the spirit of Optuna's sampler tests).

`tests/methods/test_conformance.py` runs them for every name in `list_methods()` on every space in
`list_spaces()`, so a new method (or space) is checked the moment it is registered: `check_method`
(one epoch in process: finite steps, architecture-state shapes, a valid genotype, every hyperparameter
described, determinism, a checkpoint round trip giving the identical next step) and
`check_resume_after_kill` (a real tiny run SIGKILLed after its first checkpoint and resumed ends as
the uninterrupted run; its metadata records the resolved config). Third-party methods can call both.
"""

from __future__ import annotations

import io
import json
import math
import os
import random
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nasbench_harness.config import PROFILES, RunConfig, TrainConfig
from nasbench_harness.engine import stages
from nasbench_harness.engine.checkpoint import rng_state, set_rng_state
from nasbench_harness.methods import EpochDecision, Method, get_method_class
from nasbench_harness.spaces import get_space, list_spaces
from nasbench_harness.suite_expansion import network_for

#: The one table of test-sized supernets, space → network options: the `tiny` profile's network as a run
#: resolves it for each space (two reductions / three NB201 stages, a few thousand weights each), so tests
#: and `profile: tiny` runs build the same networks, and a newly registered space gets its entry.
TINY_NETWORK: dict[str, dict[str, Any]] = {
    name: network_for(get_space(name), PROFILES["tiny"]["network"]) for name in list_spaces()
}
BATCH, SIZE = 4, 8
#: A learning rate for the step after the "checkpoint" (a new epoch, as after a resume).
NEXT_LR = 0.02


def tiny_method(
    name: str, space: str, seed: int = 0, stage: int = 0, edge_ops: stages.StageOps | None = None, **method_args: Any
) -> Method:
    """The method as a run builds it (space registry supernet, method registry class), at test size;
    `method_args` override the method's defaults.

    A staged method (`Method.stages`) is built for `stage`, on `edge_ops` if given, else on the op lists
    the stages before it hand on, each trained for one `first_epoch`; the test-size network replaces the
    stages' cells."""
    if space not in TINY_NETWORK:
        raise KeyError(f"space {space!r} was registered after nasbench_harness.testing was imported; import it first")
    cls = get_method_class(name)
    args = cls.expand_args(cls.Args.model_validate(method_args))[0]
    config = RunConfig(
        method=name,
        space=space,
        dataset="cifar10",
        seed=seed,
        train=TrainConfig(batch_size=BATCH),
        method_args=args.model_dump(mode="json"),
    )
    planned = stages.plan(cls, config)
    run_config, search_space = config, get_space(space)
    network = tiny_network(cls, config, planned)
    first = stage if edge_ops is not None else 0
    previous = None
    for index in range(first, stage + 1):
        if planned is not None:
            run_config = stages.stage_config(config, planned[index])
            edge_ops = planned[index].edge_ops or edge_ops
            search_space = stages.stage_space(get_space(space), edge_ops)
        seed_all(seed)
        mixer = cls.mixer(cls.Args.model_validate(run_config.method_args))
        net = search_space.build_supernet(num_classes=10, mixer=mixer, **network)
        method = cls(net, run_config, torch.device("cpu"))
        if previous is not None:
            method.carry_over(previous)  # as the runner does at a stage transition
        previous = method
        if index < stage:
            assert planned is not None, f"{name} declares no stages; it has only stage 0"
            first_epoch(method)
            edge_ops = planned[index + 1].edge_ops or method.next_stage(planned[index + 1]).edge_ops
    return method


def tiny_network(cls: type[Method], config: RunConfig, planned: list[stages.Stage] | None) -> dict[str, Any]:
    """`TINY_NETWORK`, its channels rounded up to a multiple of every stage's partial-channel divisor
    (DrNAS' k = 6 cannot split 4 channels)."""
    network = dict(TINY_NETWORK[config.space])
    configs = [config] if planned is None else [stages.stage_config(config, s) for s in planned]
    divisor = math.lcm(*(cls.mixer(cls.Args.model_validate(c.method_args)).channel_divisor for c in configs))
    if "channels" in network and network["channels"] % divisor:
        network["channels"] = math.lcm(network["channels"], divisor)
    return network


def stage_count(name: str, space: str) -> int:
    """How many stages the method's run has on `space` (1 for a method that declares none)."""
    cls = get_method_class(name)
    config = RunConfig(method=name, space=space, dataset="cifar10", seed=0)
    planned = stages.plan(cls, config)
    return 1 if planned is None else len(planned)


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def random_batch(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(BATCH, 3, SIZE, SIZE, generator=g), torch.randint(0, 10, (BATCH,), generator=g)


def step_figures(stats: Mapping[str, Any]) -> dict[str, float]:
    """A step's figures as floats, after checking each is what the runner accumulates: a float, or a
    detached 0-d tensor (a figure still attached to the graph would keep every step's graph alive)."""
    for key, value in stats.items():
        if isinstance(value, torch.Tensor):
            assert value.dim() == 0 and not value.requires_grad, f"step figure {key!r} must be a detached 0-d tensor"
        else:
            assert isinstance(value, float), f"step figure {key!r} is a {type(value).__name__}, not a tensor or float"
    return {key: float(value) for key, value in stats.items()}


def first_epoch(method: Method) -> list[dict[str, float]]:
    """Epoch 0 of a run: two steps, then the epoch-end hook (the runner's order)."""
    method.set_epoch(0, 0.025)
    stats = [step_figures(method.step(random_batch(2 * step), random_batch(2 * step + 1))) for step in range(2)]
    method.after_train_steps()
    record = {"epoch": 0, "eigenvalue": None, "eval_valid_acc": 10.0, "genotype": str(method.genotype())}
    assert isinstance(method.on_epoch_end(0, record), EpochDecision)
    return stats


def next_step(method: Method, rng: dict[str, Any]) -> dict[str, float]:
    """Epoch 1's first step from the RNG state `rng` (what a resumed run continues with)."""
    set_rng_state(rng)
    method.set_epoch(1, NEXT_LR)
    return step_figures(method.step(random_batch(100), random_batch(101)))


def check_method(name: str, space: str, **method_args: Any) -> None:
    """A method steps with finite figures, learns what it claims to, derives a valid genotype, describes
    itself in JSON, is deterministic under a seed, and resumes exactly: after a checkpoint round trip
    (weights-only torch.save/torch.load, as the runner's) every `arch_state` tensor is restored and the
    next step is bitwise the step without one. A staged method passes all of it in every stage;
    `method_args` override the method's defaults."""
    for stage in range(stage_count(name, space)):
        check_stage(name, space, stage, **method_args)


def check_stage(name: str, space: str, stage: int = 0, **method_args: Any) -> None:
    """`check_method` for one stage of the method (stage 0: the whole of a single-stage method)."""
    seed_all(0)
    method = tiny_method(name, space, stage=stage, **method_args)
    assert method.name == name
    check_describe(method)
    check_arch_state(method, space)
    net = method.net
    weights_before = [p.detach().clone() for p in net.weight_parameters()]
    arch_before = [a.detach().clone() for a in method.arch_parameters()]
    stats = first_epoch(method)
    for row in stats:
        assert row and all(math.isfinite(v) for v in row.values()), row
    assert any(not torch.equal(a, b) for a, b in zip(weights_before, net.weight_parameters())), "weights unchanged"
    changed = [not torch.equal(a, b) for a, b in zip(arch_before, method.arch_parameters())]
    trained = method.arch_trained(0)
    assert all(c == trained for c in changed), (
        f"architecture parameters changed: {changed}, trained in epoch 0: {trained}"
    )
    check_arch_state(method, space)
    genotype = method.genotype()
    assert get_space(space).parse_genotype(str(genotype)) == genotype

    checkpoint = round_trip({"net": net.state_dict(), "method": method.state_dict(), "rng": rng_state()})

    again = tiny_method(name, space, stage=stage, **method_args)
    assert first_epoch(again) == stats, "the same seed gave different step figures"
    assert_same_state(again, method, "the same seed gave a different state after one epoch")

    edge_ops = method.net.space.edge_ops if stage else None
    resumed = tiny_method(name, space, seed=1, stage=stage, edge_ops=edge_ops, **method_args)
    resumed.net.load_state_dict(checkpoint["net"])
    resumed.load_state_dict(checkpoint["method"])
    saved, restored = method.arch_state(), resumed.arch_state()
    lost = [k for k in saved if _bits(saved[k]) != _bits(restored[k])]
    assert not lost, f"{name} on {space}: arch_state {lost} not restored by a checkpoint round trip (in state_dict?)"
    expected = next_step(method, checkpoint["rng"])
    got = next_step(resumed, checkpoint["rng"])
    where = f"{name} on {space}: the step after a checkpoint round trip differs from the step without one"
    assert got == expected, f"{where} (step figures {got} != {expected}); does state_dict hold everything?"
    assert_same_state(resumed, method, where)
    assert str(resumed.genotype()) == str(method.genotype()), where


def check_profile(profile: str, name: str, space: str) -> None:
    """A `profile` suite of the method on the space expands (its constraints checked, `Method.config_problems`)
    and every stage builds at the profile's size: supernet, method, one training-mode forward of two images
    with the method's mixing. Build time only, no search: what a suite at that profile needs to start."""
    from nasbench_harness.config import SuiteConfig
    from nasbench_harness.suite_expansion import expand_suite

    suite = {"name": "conformance", "profile": profile, "methods": [name], "spaces": [space], "datasets": ["cifar10"]}
    config = expand_suite(SuiteConfig.model_validate({**suite, "seeds": [0]}))[0]
    cls = get_method_class(name)
    assert not cls.config_problems(config), cls.config_problems(config)
    planned = stages.plan(cls, config)
    edge_ops, previous = None, None
    for index in range(1 if planned is None else len(planned)):
        run_config, search_space = config, get_space(space)
        if planned is not None:
            run_config = stages.stage_config(config, planned[index])
            if index:
                assert previous is not None
                edge_ops = planned[index].edge_ops or previous.next_stage(planned[index]).edge_ops
            else:
                edge_ops = planned[index].edge_ops
            search_space = stages.stage_space(get_space(space), edge_ops)
        seed_all(0)
        mixer = cls.mixer(cls.Args.model_validate(run_config.method_args))
        net = search_space.build_supernet(num_classes=10, mixer=mixer, **run_config.network)
        method = cls(net, run_config, torch.device("cpu"))
        if previous is not None:
            method.carry_over(previous)
        with torch.no_grad():
            logits = net(torch.randn(2, 3, 32, 32), method.mixing_weights())
        assert logits.shape == (2, 10) and bool(torch.isfinite(logits).all()), f"{name} on {space} at {profile}"
        previous = method


def check_describe(method: Method) -> None:
    """`describe()` is JSON and records every hyperparameter of the method's Args with its value."""
    described = json.loads(json.dumps(method.describe()))
    args = described.get("args")
    assert isinstance(args, dict), f"{method.name}: describe() has no 'args' mapping: {described}"
    expected = method.args.model_dump(mode="json")
    missing = sorted(set(type(method.args).model_fields) - set(args))
    assert not missing, f"{method.name}: describe()['args'] misses hyperparameters {missing}"
    wrong = {k: (args[k], v) for k, v in expected.items() if args[k] != v}
    assert not wrong, f"{method.name}: describe()['args'] records other values (recorded, actual): {wrong}"


def check_arch_state(method: Method, space: str) -> None:
    """Every architecture tensor the method declares has its declared shape; α per cell type has the
    space's `alpha_shapes()` (a stage's: its op lists), and all of it is finite."""
    state, shapes = method.arch_state(), method.arch_state_shapes()
    where = f"{method.name} on {space}"
    assert state.keys() == shapes.keys(), f"{where}: arch_state {sorted(state)} != arch_state_shapes {sorted(shapes)}"
    for cell_type, shape in method.net.space.alpha_shapes().items():
        key = f"alpha.{cell_type}"
        assert shapes.get(key) == shape, f"{where}: {key} declared {shapes.get(key)}, the space's α is {shape}"
    for key, tensor in state.items():
        assert tuple(tensor.shape) == tuple(shapes[key]), f"{where}: {key} has shape {tuple(tensor.shape)}"
        assert torch.isfinite(tensor).all(), f"{where}: {key} is not finite"


def round_trip(payload: dict[str, Any]) -> dict[str, Any]:
    """Through bytes, as `engine.checkpoint` writes and reads it (weights_only=True rejects arbitrary objects)."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def assert_same_state(a: Method, b: Method, message: str) -> None:
    """Weights, α and buffers bitwise equal; method state (optimizers included) equal."""
    net_a, net_b = a.net.state_dict(), b.net.state_dict()
    assert net_a.keys() == net_b.keys(), message
    differ = [k for k in net_a if _bits(net_a[k]) != _bits(net_b[k])]
    assert not differ, f"{message}: network entries {differ[:5]} differ"
    state_a, state_b = _flatten(a.state_dict()), _flatten(b.state_dict())
    assert state_a == state_b, f"{message}: method state differs in {_first_difference(state_a, state_b)}"


def _flatten(state: object, prefix: str = "") -> dict[str, object]:
    """Path → leaf of a nested state dict, tensors bitwise."""
    if isinstance(state, dict):
        return {k: v for key, value in state.items() for k, v in _flatten(value, f"{prefix}/{key}").items()}
    if isinstance(state, (list, tuple)):
        return {k: v for i, value in enumerate(state) for k, v in _flatten(value, f"{prefix}/{i}").items()}
    if isinstance(state, torch.Tensor):
        return {prefix: _bits(state)}
    return {prefix: state}


def _bits(tensor: torch.Tensor) -> tuple[str, tuple[int, ...], bytes]:
    """Bitwise identity (torch.equal calls -0.0 and 0.0 equal and NaN unequal to itself)."""
    return str(tensor.dtype), tuple(tensor.shape), tensor.detach().cpu().contiguous().numpy().tobytes()


def _first_difference(a: dict[str, object], b: dict[str, object]) -> str:
    keys = sorted(set(a) ^ set(b)) or [k for k in a if a[k] != b[k]]
    return keys[0] if keys else "?"


#: A subprocess running the RunConfig in argv[1] (a JSON list of them: a seed pack) into argv[2] (data in
#: argv[3]), SIGKILLed at the argv[4]-th call of its method's `step` (1-based, counted over the pack's runs;
#: 0: never): kills at any point of a run, a stage change included.
KILLED_AT_STEP = """
import json, os, signal, sys
from pathlib import Path
import torch
torch.set_num_threads(1)
from nasbench_harness.config import RunConfig
from nasbench_harness.engine.packed import SeedPack, execute_pack
from nasbench_harness.engine.runner import execute
from nasbench_harness.methods import get_method_class

raw = json.loads(Path(sys.argv[1]).read_text())
configs = [RunConfig.model_validate(c) for c in (raw if isinstance(raw, list) else [raw])]
config = SeedPack(tuple(configs)) if isinstance(raw, list) else configs[0]
cls = get_method_class(configs[0].method)
kill_at, calls, original = int(sys.argv[4]), [0], cls.step

def step(self, train, valid):
    calls[0] += 1
    if calls[0] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return original(self, train, valid)

cls.step = step
run = execute_pack if isinstance(config, SeedPack) else execute
run(config, Path(sys.argv[2]), Path(sys.argv[3]), torch.device("cpu"), progress=False)
"""


def run_killed_at_step(config_file: Path, results: Path, data_dir: Path, kill_at: int) -> int:
    """Run the config in `config_file` in a subprocess, SIGKILLed at step `kill_at` (0: never); its return code."""
    env = {**os.environ, "NASBENCH_OFFLINE": "1"}
    command = [sys.executable, "-c", KILLED_AT_STEP, str(config_file), str(results), str(data_dir), str(kill_at)]
    return subprocess.run(command, env=env, capture_output=True, timeout=300).returncode


#: A subprocess: the run configured in argv[1] (RunConfig JSON), into argv[2], data from argv[3], that
#: SIGKILLs itself the moment its first epoch's checkpoint is on disk.
KILLED_AFTER_FIRST_CHECKPOINT = """
import os, signal, sys
from pathlib import Path
import torch
torch.set_num_threads(1)
import nasbench_harness.engine.runner as runner
from nasbench_harness.config import RunConfig

original = runner.save_checkpoint

def save_then_die(path, payload):
    original(path, payload)
    if Path(path).name == "checkpoint.pt":
        os.kill(os.getpid(), signal.SIGKILL)

runner.save_checkpoint = save_then_die
config = RunConfig.model_validate_json(Path(sys.argv[1]).read_text())
runner.execute(config, Path(sys.argv[2]), Path(sys.argv[3]), torch.device("cpu"), progress=False)
"""
#: Row figures that measure time, not the search.
TIMING_KEYS = frozenset({"train_seconds", "epoch_seconds", "eigenvalue_seconds"})


def kill_resume_config(name: str, space: str, network: dict[str, Any] | None = None, **method_args: Any) -> RunConfig:
    """A 2-epoch `tiny` run of the method as a suite expands it (its first argument set), with the fast
    eigenvalue every epoch (methods that decide on it need it on) and no ground truth; `network` overrides
    the profile's network (progressive DrNAS needs channels divisible by each stage's k)."""
    from nasbench_harness.config import SuiteConfig
    from nasbench_harness.suite_expansion import expand_suite

    suite = SuiteConfig.model_validate(
        {
            "name": "conformance",
            "profile": "tiny",
            "methods": [name],
            "spaces": [space],
            "datasets": ["cifar10"],
            "seeds": [0],
            "train": {"epochs": 2},
            "metrics": {"eigenvalue": "fast", "eigenvalue_every": 1, "ground_truth": False},
            "method_args": method_args,
            **({"network": network} if network else {}),
        }
    )
    return expand_suite(suite)[0]


def check_resume_after_kill(config: RunConfig, work: Path, data_dir: Path) -> None:
    """A real run SIGKILLed after its first epoch's checkpoint, then resumed, ends with the metrics rows,
    genotype and final weights and α of the same run uninterrupted; its metadata records the full
    resolved config and every method hyperparameter."""
    from nasbench_harness.engine.runner import execute

    where = f"{config.method} on {config.space}"
    straight = execute(config, work / "straight", data_dir, torch.device("cpu"), progress=False)
    assert straight.status == "finished", f"{where}: the uninterrupted run ended {straight.status}: {straight.reason}"

    config_file = work / "config.json"
    config_file.write_text(config.model_dump_json())
    command = [sys.executable, "-c", KILLED_AFTER_FIRST_CHECKPOINT, str(config_file), str(work / "resumed")]
    env = {**os.environ, "NASBENCH_OFFLINE": "1"}
    killed = subprocess.run([*command, str(data_dir)], env=env, capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, f"{where}: the run to kill exited {killed.returncode}: {killed.stderr}"
    directory = work / "resumed" / config.relative_dir()
    assert [r["epoch"] for r in _rows(directory)] == [0], f"{where}: not killed right after epoch 0"
    assert not (directory / "result.json").exists()

    resumed = execute(config, work / "resumed", data_dir, torch.device("cpu"), progress=False)
    assert resumed.status == "finished", f"{where}: the resumed run ended {resumed.status}: {resumed.reason}"
    message = f"{where}: killed after epoch 0 and resumed, the run differs from the uninterrupted one"
    assert _rows(straight.directory) == _rows(directory), f"{message} (metrics rows)"
    results = [json.loads((d / "result.json").read_text()) for d in (straight.directory, directory)]
    assert results[0]["genotype"] == results[1]["genotype"], f"{message} (genotype)"
    final = [torch.load(d / "checkpoint.pt", weights_only=True)["net"] for d in (straight.directory, directory)]
    differ = [k for k in final[0] if _bits(final[0][k]) != _bits(final[1][k])]
    assert final[0].keys() == final[1].keys() and not differ, f"{message} (final network entries {differ[:5]})"

    metadata = json.loads((directory / "metadata.json").read_text())
    assert metadata["config"] == config.model_dump(mode="json"), f"{where}: metadata lacks the resolved config"
    args = metadata["method"].get("args", {})
    expected = get_method_class(config.method).Args.model_validate(config.method_args).model_dump(mode="json")
    assert args == expected, f"{where}: metadata records method args {args}, the run used {expected}"


def _rows(directory: Path) -> list[dict[str, Any]]:
    lines = (directory / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING_KEYS} for line in lines if line.strip()]
