"""Every registered method, on every registered space, passes the conformance checks; and the checks
catch methods that do not resume exactly or are not deterministic."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from nasbench_harness.config import PROFILES
from nasbench_harness.methods import list_methods, register_method
from nasbench_harness.methods.base import METHODS, Batch, Method
from nasbench_harness.methods.darts import Darts
from nasbench_harness.methods.pc_darts import PcDarts
from nasbench_harness.spaces import list_spaces
from nasbench_harness.testing import check_method, check_profile, check_resume_after_kill, kill_resume_config


@pytest.mark.parametrize("space", list_spaces())
@pytest.mark.parametrize("method", list_methods())
def test_method_conforms(method, space):
    check_method(method, space)


@pytest.mark.parametrize("profile", sorted(PROFILES))
@pytest.mark.parametrize("space", list_spaces())
@pytest.mark.parametrize("method", list_methods())
def test_every_profile_builds_every_method_on_every_space(profile, method, space):
    check_profile(profile, method, space)


class ForgetsMomentum(Darts):
    """Saves the weight optimizer without its momentum buffers."""

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        return {**state, "w_optimizer": {**state["w_optimizer"], "state": {}}}


class ForgetsStepCounter(Darts):
    """α is frozen on every third step of a run; the step counter is not saved."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.steps = 0

    def step(self, train: Batch, valid: Batch) -> dict[str, float]:
        self.steps += 1
        if self.steps % 3 == 0:
            return self.weight_step(train)
        return super().step(train, valid)


class ForgetsGenerator(Darts):
    """Perturbs α from a private generator seeded by the run's seed, whose state is not saved."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.generator = torch.Generator().manual_seed(self.config.seed)

    def step(self, train: Batch, valid: Batch) -> dict[str, float]:
        with torch.no_grad():
            for alpha in self.net.arch_parameters():
                alpha.add_(1e-3 * torch.randn(alpha.shape, generator=self.generator))
        return super().step(train, valid)


class Unseeded(ForgetsGenerator):
    """The same perturbation from a generator seeded by the clock: not a function of the seed."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.generator.seed()


@pytest.fixture
def planted(monkeypatch: pytest.MonkeyPatch) -> Callable[[type[Method]], str]:
    """Registers a method class for one test only."""
    monkeypatch.setattr(METHODS, "_items", dict(METHODS._items))

    def plant(cls: type[Method]) -> str:
        name = f"planted_{cls.__name__.lower()}"
        register_method(name)(cls)
        return name

    return plant


@pytest.mark.parametrize("space", ["nb201", "s4"])
@pytest.mark.parametrize("cls", [ForgetsMomentum, ForgetsStepCounter, ForgetsGenerator])
def test_a_state_dict_that_misses_what_the_next_step_reads_is_caught(planted, cls, space):
    with pytest.raises(AssertionError, match="the step after a checkpoint round trip differs"):
        check_method(planted(cls), space)


class ForgetsBeta(PcDarts):
    """Leaves its edge-normalisation β out of the checkpoint (and keeps its own β on load)."""

    def state_dict(self) -> dict[str, Any]:
        return {k: v for k, v in super().state_dict().items() if k != "extra_arch"}

    def load_state_dict(self, state: Any) -> None:
        super().load_state_dict({**state, "extra_arch": {k: p.detach().clone() for k, p in self.extra_arch.items()}})


@pytest.mark.parametrize("space", ["nb201", "s4"])
def test_architecture_state_missing_from_the_checkpoint_is_caught(planted, space):
    with pytest.raises(AssertionError, match=r"arch_state \['beta\..*not restored by a checkpoint round trip"):
        check_method(planted(ForgetsBeta), space)


def test_a_method_that_ignores_the_seed_is_caught(planted):
    with pytest.raises(AssertionError, match="the same seed gave"):
        check_method(planted(Unseeded), "nb201")


#: Method arguments for the kill-and-resume test, which checks the run mechanics: second-order methods
#: pinned to first order (second order costs ~5x per step; `test_method_conforms` checks it), random
#: search ranking 20 sampled cells, not 1000, and selecting every epoch (so that state crosses the kill); PC-DARTS
#: without its 15-epoch freeze.
KILL_ARGS: dict[str, dict[str, Any]] = {
    **{name: {"order": "first"} for name in ("darts_es", "darts_ada", "rdarts_l2", "rdarts_dp")},
    "random_ws": {"eval_archs": 20, "first_pass_batches": 1, "top_k": 3, "select_every_epoch": True},
    # α and β step from the first epoch, so that the architecture state crosses the kill changing.
    "pc_darts": {"warmup_epochs": 0, "edge_normalisation": True},
}
#: Networks for the kill-and-resume test where the profile's 4 channels do not fit (DrNAS' k=6 then k=4).
KILL_NETWORK: dict[str, dict[str, Any]] = {"drnas": {"channels": 12}}
#: In the default run the SIGKILL test runs on NB201 for one method per kind of state that must cross a
#: kill (plain, rollback snapshots, a selection, architecture state beyond α, stages, sampled mixing); every
#: method checks its state round trip in `test_method_conforms`, and all methods x spaces run with `-m slow`.
KILL_DEFAULT = {"darts", "darts_ada", "random_ws", "pc_darts", "stacnas", "gdas"}


def _kill_cases() -> list[Any]:
    slow = pytest.mark.slow
    return [
        pytest.param(method, space, marks=() if space == "nb201" and method in KILL_DEFAULT else slow)
        for method in list_methods()
        for space in list_spaces()
    ]


@pytest.mark.parametrize(("method", "space"), _kill_cases())
def test_a_killed_run_resumes_to_the_uninterrupted_result(method, space, tmp_path, reference_data_dir):
    config = kill_resume_config(method, space, KILL_NETWORK.get(method), **KILL_ARGS.get(method, {}))
    check_resume_after_kill(config, tmp_path, reference_data_dir)
