"""DrNAS' distinguishing mechanics: Dirichlet(ELU(α)+1) samples on the simplex, fresh at every forward,
with pathwise gradients to the concentrations; the KL regulariser of its code; its per-space defaults; the
progressive learning of its DARTS-space code (stage plan, pruning, α and net2wider carry-over, resume)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from nasbench_harness.config import RunConfig
from nasbench_harness.engine.runner import cosine_lr
from nasbench_harness.errors import ConfigError, HarnessError
from nasbench_harness.methods.drnas import Drnas, DrnasArgs
from nasbench_harness.mixing import MixedEdge
from nasbench_harness.spaces import get_space
from nasbench_harness.testing import _bits, random_batch, run_killed_at_step, tiny_method


def read_rows(directory: Path) -> list[dict[str, Any]]:
    lines = (directory / "metrics.jsonl").read_text().splitlines()
    timing = ("train_seconds", "epoch_seconds")
    return [{k: v for k, v in json.loads(line).items() if k not in timing} for line in lines]


@pytest.mark.parametrize("space", ["nb201", "darts", "s1"])
def test_samples_lie_on_the_simplex_and_are_drawn_afresh(space):
    method = tiny_method("drnas", space)
    first, second = method.mixing_weights(), method.mixing_weights()
    for t, w in first.items():
        assert w.shape == method.net.alphas[t].shape
        assert bool((w >= 0).all())
        torch.testing.assert_close(w.sum(-1), torch.ones(w.shape[0]))
        assert not torch.equal(w, second[t]), "a new sample per forward"


def test_samples_follow_the_dirichlet_of_the_elu_concentrations():
    method = tiny_method("drnas", "nb201")
    with torch.no_grad():
        method.net.alphas["cell"].copy_(torch.tensor([0.0, 1.0, 2.0, -0.5, 0.5]).expand(6, 5))
    concentration = torch.tensor([1.0, 2.0, 3.0, float(torch.exp(torch.tensor(-0.5))), 1.5])  # ELU(α) + 1
    torch.testing.assert_close(method.arch_state()["concentration.cell"][0], concentration)
    torch.manual_seed(0)
    mean = torch.stack([method.mixing_weights()["cell"].detach() for _ in range(4000)]).mean(dim=(0, 1))
    torch.testing.assert_close(mean, concentration / concentration.sum(), atol=4e-3, rtol=0)


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_pathwise_gradients_reach_every_concentration(space):
    method = tiny_method("drnas", space)
    loss, _ = method.forward_loss(random_batch(0))
    grads = torch.autograd.grad(loss, method.net.arch_parameters())
    for g in grads:
        assert bool(torch.isfinite(g).all()) and bool((g != 0).all())


def closed_form_kl(c: torch.Tensor) -> torch.Tensor:
    """KL(Dir(c) || Dir(1)) per row, written out."""
    c0 = c.sum(-1)
    k = torch.tensor(float(c.shape[-1]))
    return (
        torch.lgamma(c0)
        - torch.lgamma(c).sum(-1)
        - torch.lgamma(k)
        + ((c - 1) * (torch.digamma(c) - torch.digamma(c0)[..., None])).sum(-1)
    )


def test_the_kl_regulariser_is_added_to_the_alpha_loss_and_replaces_weight_decay():
    method = tiny_method("drnas", "darts", reg_type="kl", reg_scale=0.5)
    assert method.a_optimizer.param_groups[0]["weight_decay"] == 0.0
    with torch.no_grad():
        for a in method.net.alphas.values():
            a.normal_()
    expected = 0.5 * sum(closed_form_kl(torch.nn.functional.elu(a) + 1).sum() for a in method.net.alphas.values())
    torch.testing.assert_close(method.kl_regulariser(), expected)

    alphas = [a.detach().clone() for a in method.net.arch_parameters()]
    rng = torch.get_rng_state()
    method.alpha_step(random_batch(1))
    step_grads = [a.grad.clone() for a in method.net.arch_parameters()]
    with torch.no_grad():
        for a, saved in zip(method.net.arch_parameters(), alphas):
            a.copy_(saved)
    torch.set_rng_state(rng)
    loss, _ = method.forward_loss(random_batch(1))
    ce = torch.autograd.grad(loss, method.net.arch_parameters())
    kl = torch.autograd.grad(method.kl_regulariser(), method.net.arch_parameters())
    for got, c, k in zip(step_grads, ce, kl):
        torch.testing.assert_close(got, c + k)


def test_l2_is_adam_weight_decay_reg_scale():
    method = tiny_method("drnas", "nb201", reg_scale=2e-3)
    assert method.a_optimizer.param_groups[0]["weight_decay"] == 2e-3


def test_defaults_per_space_family():
    from nasbench_harness.config import SuiteConfig
    from nasbench_harness.suite_expansion import expand_suite

    suite = SuiteConfig.model_validate(
        {"name": "x", "methods": ["drnas"], "spaces": ["nb201", "darts"], "datasets": ["cifar10"], "seeds": [0]}
    )
    nb201, darts = expand_suite(suite)
    assert (nb201.train.epochs, nb201.train.batch_size, nb201.train.lr, nb201.train.arch_lr) == (100, 64, 0.025, 3e-4)
    assert (nb201.data.split, nb201.network["track_running_stats"], nb201.train.clip_scope) == ("half", True, "all")
    progressive = {"progressive": None, "ks": [6, 4], "num_keep": 4}  # None: on for the DARTS family only
    assert nb201.method_args == {"reg_type": "l2", "reg_scale": 1e-3, "k": 1, "warmup_epochs": 0, **progressive}
    assert (darts.train.epochs, darts.train.lr, darts.train.lr_min, darts.train.arch_lr) == (50, 0.1, 0.0, 6e-4)
    assert (darts.network["channels"], darts.network["layers"]) == (36, 20)
    assert darts.method_args == {"reg_type": "l2", "reg_scale": 1e-3, "k": 4, "warmup_epochs": 10, **progressive}


def test_partial_channels_on_the_darts_family():
    method = tiny_method("drnas", "s3", k=4, progressive=False)
    assert method.net.mixer.channel_divisor == 4
    assert [tiny_method("drnas", "s3", stage=i).net.mixer.channel_divisor for i in (0, 1)] == [6, 4]
    assert tiny_method("drnas", "nb201").net.mixer.dense


# Progressive learning on the DARTS family (DARTS-space/train_search.py lines 118-159).


def run_config(space: str, **update: Any) -> RunConfig:
    from nasbench_harness.config import SuiteConfig
    from nasbench_harness.suite_expansion import expand_suite

    suite = {"name": "x", "methods": ["drnas"], "spaces": [space], "datasets": ["cifar10"], "seeds": [0], **update}
    return expand_suite(SuiteConfig.model_validate(suite))[0]


def test_the_stage_plan_is_the_codes():
    plan = Drnas.stages(run_config("darts"))
    assert [s.epochs for s in plan] == [25, 25]  # train_epochs = [25, 25] of 50
    assert [s.method_args["k"] for s in plan] == [6, 4]  # ks = [6, 4]
    assert [s.lr_schedule for s in plan] == ["run", "run"]  # one cosine, carried by configure_scheduler
    assert plan[0].edge_ops is None and DrnasArgs().num_keep == 4  # num_keeps = [all, 4]
    assert Drnas.stages(run_config("nb201")) is None  # 201-space/train_search.py: one stage
    assert Drnas.stages(run_config("darts", method_args={"progressive": False})) is None
    with pytest.raises(HarnessError, match="single-stage"):
        Drnas.stages(run_config("nb201", method_args={"progressive": True}))
    assert run_config("darts", profile="tiny").network["channels"] == 12  # the profile's 4, fit to k = 6 and 4
    assert run_config("darts", profile="smoke").network["channels"] == 12  # the profile's 8
    with pytest.raises(ConfigError, match="drnas on darts cannot run: network.channels 8 is not divisible by the "):
        run_config("darts", network={"channels": 8})  # a suite's own channels are not changed: refused


def test_pruning_keeps_each_edges_four_ops_of_largest_alpha_in_op_order():
    method = tiny_method("drnas", "darts")
    names = method.net.space.edge_ops["normal"][0]
    row = torch.tensor([0.5, -1.0, 2.0, 0.1, 3.0, -2.0, 1.0, 0.0])  # top 4: columns 4, 2, 6, 0
    with torch.no_grad():
        method.net.alphas["normal"].copy_(row.expand_as(method.net.alphas["normal"]))
    kept = method.next_stage(Drnas.stages(run_config("darts"))[1]).edge_ops["normal"]
    assert kept[0] == (names[0], names[2], names[4], names[6])
    assert tiny_method("drnas", "s1").next_stage(None).edge_ops["normal"] == get_space("s1").edge_ops["normal"]


def two_stages(space: str) -> tuple[Drnas, Drnas]:
    """A stage-1 method after one step with random α, and the stage-2 method carried over from it."""
    first = tiny_method("drnas", space)
    with torch.no_grad():
        for a in first.net.alphas.values():
            a.normal_()
    first.step(random_batch(0), random_batch(1))
    second = tiny_method("drnas", space, stage=1, edge_ops=first.next_stage(None).edge_ops)
    second.carry_over(first)
    return first, second


def test_alpha_and_its_adam_state_are_carried_for_the_kept_ops():
    first, second = two_stages("darts")
    assert (first.args.k, second.args.k) == (6, 4)
    for t, alpha in second.net.alphas.items():
        old, new = first.net.space.edge_ops[t], second.net.space.edge_ops[t]
        columns = torch.tensor([[names.index(op) for op in kept] for names, kept in zip(old, new)])
        torch.testing.assert_close(alpha.detach(), first.net.alphas[t].detach().gather(1, columns), rtol=0, atol=0)
        before, after = first.a_optimizer.state[first.net.alphas[t]], second.a_optimizer.state[alpha]
        assert float(after["step"]) == float(before["step"]) == 1.0
        torch.testing.assert_close(after["exp_avg_sq"], before["exp_avg_sq"].gather(1, columns), rtol=0, atol=0)


def extra_sources(new: torch.Tensor, dim: int, old_size: int) -> list[int]:
    """For each slice of `new` past `old_size` along `dim`, the index of the existing slice it copies."""
    sources = []
    for r in range(old_size, new.shape[dim]):
        extra = new.select(dim, r)
        matches = [i for i in range(old_size) if torch.equal(new.select(dim, i), extra)]
        assert matches, f"extra channel {r} copies no existing channel"
        sources.append(matches[0])
    return sources


@pytest.mark.parametrize("space", ["darts", "s3"])
def test_net2wider_copies_the_trained_weights_and_momentum(space):
    first, second = two_stages(space)
    old, new = first.net.state_dict(), second.net.state_dict()
    momenta = first.w_optimizer.state
    old_momentum = {n: momenta[p]["momentum_buffer"] for n, p in first.net.named_parameters() if p in momenta}
    assert old_momentum
    new_params = dict(second.net.named_parameters())
    seps = 0
    for name, edge in ((n, m) for n, m in second.net.named_modules() if isinstance(m, MixedEdge)):
        old_edge = first.net.get_submodule(name)
        for j, op_name in enumerate(edge.op_names):
            i = old_edge.op_names.index(op_name)
            for key, value in edge.ops[j].state_dict().items():
                before = old[f"{name}.ops.{i}.{key}"]
                if value.dim() == 0:
                    continue
                assert value.shape[0] > before.shape[0], f"{name} {op_name} {key} not widened"
                head = value[tuple(slice(0, n) for n in before.shape)]
                torch.testing.assert_close(head, before, rtol=0, atol=0)  # the trained channels, as they were
                extra_sources(value, 0, before.shape[0])
                momentum = old_momentum.get(f"{name}.ops.{i}.{key}")
                if momentum is not None:
                    buffer = second.w_optimizer.state[new_params[f"{name}.ops.{j}.{key}"]]["momentum_buffer"]
                    torch.testing.assert_close(buffer[tuple(slice(0, n) for n in before.shape)], momentum)
            if op_name.startswith("sep_conv"):  # depthwise → pointwise: the same channels copied
                seps += 1
                op, old_op = edge.ops[j], old_edge.ops[i]
                depthwise = extra_sources(op[1].weight.detach(), 0, old_op[1].weight.shape[0])
                pointwise_in = extra_sources(op[2].weight.detach(), 1, old_op[2].weight.shape[1])
                assert depthwise == pointwise_in
    assert seps > 0
    for key, value in new.items():
        if ".edges." not in key and not key.startswith("alphas."):
            torch.testing.assert_close(value, old[key], rtol=0, atol=0)  # stem, preprocessing, classifier


def test_a_run_killed_at_the_start_of_stage_2_resumes_to_the_uninterrupted_result(tmp_path, reference_data_dir):
    """The checkpoint after the transition holds the carried-over stage 2; resuming it carries nothing
    again. The learning rate is one cosine over both stages."""
    config = run_config(
        "s3",
        profile="tiny",
        train={"epochs": 2},
        network={"channels": 12},
        method_args={"warmup_epochs": 0},
        metrics={"ground_truth": False},
    )
    config_file = tmp_path / "config.json"
    config_file.write_text(config.model_dump_json())
    assert run_killed_at_step(config_file, tmp_path / "straight", reference_data_dir, 0) == 0
    straight = tmp_path / "straight" / config.relative_dir()
    steps = read_rows(straight)[0]["steps"]
    assert run_killed_at_step(config_file, tmp_path / "resumed", reference_data_dir, steps + 1) == -9
    resumed = tmp_path / "resumed" / config.relative_dir()
    assert [r["epoch"] for r in read_rows(resumed)] == [0]
    transition = torch.load(resumed / "checkpoint.pt", weights_only=True)  # stage 2, as the carry-over left it
    assert transition["stage"] == 1
    assert run_killed_at_step(config_file, tmp_path / "resumed", reference_data_dir, 0) == 0

    rows = read_rows(straight)
    assert rows == read_rows(resumed)
    assert [(r["stage"], r["stage_epoch"]) for r in rows] == [(0, 0), (1, 0)]
    assert [r["lr"] for r in rows] == [cosine_lr(e, 2, config.train.lr, config.train.lr_min) for e in range(2)]
    final = [torch.load(d / "checkpoint.pt", weights_only=True)["net"] for d in (straight, resumed)]
    assert final[0].keys() == final[1].keys()
    assert all(_bits(final[0][k]) == _bits(final[1][k]) for k in final[0])
    result = json.loads((straight / "result.json").read_text())
    assert [len(ops) for ops in result["stages"][1]["edge_ops"]["normal"]] == [3] * 14  # s3: 3 ops, all kept
    for t, alpha in result["stages"][0]["alphas"].items():  # stage 1's final α, carried into stage 2
        assert transition["net"][f"alphas.{t}"].tolist() == alpha
