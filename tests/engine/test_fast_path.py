"""The fast path's decisions and its capture wrapper, on CPU: where it applies and why not elsewhere (with a
notice and the metadata), and that the wrapper's static buffers, re-captures and eager last batches leave
every step's result bit for bit that of the plain step (driven by `EagerReplay`; the CUDA graph itself is
checked on a GPU by benchmarks/device/fast_path.py)."""

from __future__ import annotations

import json

import pytest
import torch
from pydantic import ValidationError

from nasbench_harness.config import RunConfig, TrainConfig
from nasbench_harness.engine import fast_path, run_suite
from nasbench_harness.errors import ConfigError
from nasbench_harness.testing import random_batch, tiny_method

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def test_plan_applies_only_on_cuda_to_methods_that_declare_themselves_capturable(monkeypatch) -> None:
    darts = tiny_method("darts", "nb201")
    assert fast_path.plan(darts, CUDA).enabled
    cpu = fast_path.plan(darts, CPU)
    assert not cpu.enabled and "CUDA graphs need a CUDA device" in cpu.notice()
    for name in ("darts_2nd", "darts_ada", "random_ws"):  # a subclass does not inherit the declaration
        other = fast_path.plan(tiny_method(name, "nb201"), CUDA)
        assert not other.enabled and f"method {name!r} does not declare" in other.reason
    monkeypatch.setenv(fast_path.ENV, "off")
    assert fast_path.plan(darts, CUDA).describe() == {
        "enabled": False,
        "mode": "eager",
        "reason": "NASBENCH_FAST_PATH=off",
        "precision": "fp32",
        "requested": "off",
    }
    monkeypatch.setenv(fast_path.ENV, "fast")
    with pytest.raises(ConfigError, match="NASBENCH_FAST_PATH='fast': expected one of auto, off"):
        fast_path.plan(darts, CUDA)


def _double(name: str, space: str):
    method = tiny_method(name, space)
    method.net.double()
    return method


def _batches(n: int, last: int) -> list:
    out = []
    for i in range(n):
        (x, y), (xv, yv) = random_batch(2 * i), random_batch(2 * i + 1)
        if i == n - 1:
            x, y, xv, yv = x[:last], y[:last], xv[:last], yv[:last]
        out.append(((x.double(), y), (xv.double(), yv)))
    return out


@pytest.mark.parametrize("space", ["nb201", pytest.param("darts", marks=pytest.mark.slow)])
def test_captured_steps_equal_plain_steps_bit_for_bit(space: str) -> None:
    plain, fast = _double("darts", space), _double("darts", space)
    stepper = fast_path.Stepper(fast, CPU, fast_path.Plan(True, "test"), backend=fast_path.EagerReplay())
    batches = _batches(5, last=2)
    for epoch, lr in enumerate((0.025, 0.02)):  # a new learning rate is a new capture
        plain.set_epoch(epoch, lr)
        fast.set_epoch(epoch, lr)
        for train, valid in batches:
            expected, got = plain.step(train, valid), stepper(train, valid)
            assert expected.keys() == got.keys()
            for key in expected:
                assert torch.equal(torch.as_tensor(expected[key]), torch.as_tensor(got[key])), key
    for a, b in zip(plain.net.state_dict().values(), fast.net.state_dict().values()):
        assert torch.equal(a, b)
    assert stepper.enabled and stepper.captures == 2
    # 3 warm-up steps, then per epoch the last (smaller) batch runs eagerly.
    assert stepper.eager_steps == fast_path.WARMUP_STEPS + 2
    assert stepper.replays == 2 * 5 - stepper.eager_steps


def test_a_parameter_without_gradient_turns_the_fast_path_off() -> None:
    method = tiny_method("darts", "nb201")
    method.w_optimizer.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))]})
    stepper = fast_path.Stepper(method, CPU, fast_path.Plan(True, "test"), backend=fast_path.EagerReplay())
    method.set_epoch(0, 0.025)
    for i in range(fast_path.WARMUP_STEPS + 2):
        stepper(random_batch(2 * i), random_batch(2 * i + 1))
    assert not stepper.enabled and stepper.captures == 0
    assert "received no gradient" in stepper.describe()["reason"]


def test_precision_is_validated_hashed_when_set_and_autocasts_the_step(monkeypatch) -> None:
    with pytest.raises(ValidationError, match="precision"):
        TrainConfig(precision="fp16")
    base = RunConfig(method="darts", space="nb201", dataset="cifar10", seed=0)
    bf16 = base.model_copy(update={"train": TrainConfig(precision="bf16")})
    fp32 = base.model_copy(update={"train": TrainConfig(precision="fp32")})
    assert fp32.config_hash() == base.config_hash() != bf16.config_hash()
    method = tiny_method("darts", "nb201")
    seen = []
    original = method.forward_loss

    def recording(batch, weights=None):
        seen.append(torch.is_autocast_enabled("cpu"))
        return original(batch, weights)

    monkeypatch.setattr(method, "forward_loss", recording)
    stepper = fast_path.Stepper(method, CPU, fast_path.plan(method, CPU, "bf16"))
    stepper(random_batch(0), random_batch(1))
    assert seen == [True, True] and stepper.describe()["precision"] == "bf16"


SUITE = """\
name: fastpath
profile: tiny
methods: [darts]
spaces: [nb201]
datasets: [cifar10]
seeds: [0]
train: {epochs: 1}
metrics: {ground_truth: false}
"""


def test_a_cpu_run_says_the_fast_path_is_off_and_records_it(tmp_path, reference_data_dir) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    messages: list[str] = []
    (outcome,) = run_suite(
        suite, results_dir=str(tmp_path / "r"), data_dir=str(reference_data_dir), device="cpu", report=messages.append
    )
    assert outcome.status == "finished"
    notices = [m for m in messages if "fast path" in m]
    assert len(notices) == 1 and "device cpu" in notices[0], messages
    metadata = json.loads((outcome.directory / "metadata.json").read_text())
    assert metadata["fast_path"]["enabled"] is False and metadata["fast_path"]["mode"] == "eager"


def test_a_checkpoint_from_the_cuda_fast_path_resumes_on_the_cpu() -> None:
    """Adam's `capturable` flag travels in its state dict: a run resumed without CUDA graphs turns it off."""
    saved = tiny_method("darts", "nb201")
    for group in saved.a_optimizer.param_groups:
        group["capturable"] = True  # as the GPU fast path saves it
    resumed = tiny_method("darts", "nb201")
    resumed.load_state_dict(saved.state_dict())
    stepper = fast_path.Stepper(resumed, CPU, fast_path.plan(resumed, CPU))
    stepper.restored()
    assert all(not group["capturable"] for group in resumed.a_optimizer.param_groups)
    stepper(random_batch(0), random_batch(1))
