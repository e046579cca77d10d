"""MSG-DAS: K exclusive sub-graphs, gradient to every α entry, only sampled ops run, Dropblock-Identity at
its rate, memory-efficient distillation, determinism."""

from __future__ import annotations

import pytest
import torch

from nasbench_harness.config import RunConfig, TrainConfig
from nasbench_harness.methods.gdas import draw_subgraphs
from nasbench_harness.methods.msg_das import MsgDas
from nasbench_harness.mixing import MixedEdge
from nasbench_harness.spaces import get_space
from nasbench_harness.testing import TINY_NETWORK, random_batch, seed_all, step_figures


def msg_das(space: str, seed: int = 0, **args) -> MsgDas:
    config = RunConfig(
        method="msg_das", space=space, dataset="cifar10", seed=seed, train=TrainConfig(batch_size=4), method_args=args
    )
    seed_all(seed)
    net = get_space(space).build_supernet(num_classes=10, mixer=MsgDas.mixer(None), **TINY_NETWORK[space])
    return MsgDas(net, config, torch.device("cpu"))


@pytest.mark.parametrize(("space", "k"), [("nb201", 5), ("darts", 8), ("s3", 3)])
def test_subgraphs_are_mutually_exclusive(space, k):
    alphas = {t: torch.randn(s) for t, s in get_space(space).alpha_shapes().items()}
    for draw in draw_subgraphs(alphas, 0.5, k, 20):
        for t, rows in draw.chosen.items():
            for row in rows:
                assert sorted(row) == list(range(k)) if k == alphas[t].shape[1] else len(set(row)) == k
        for t, mats in draw.hard.items():  # each sub-graph's weights are the one-hot of its op
            for j, mat in enumerate(mats):
                assert mat.detach().argmax(1).tolist() == [row[j] for row in draw.chosen[t]]


def test_every_alpha_entry_gets_gradient():
    method = msg_das("nb201", k=3, drop_identity=0.0)
    method.tau = 1.0
    draw = draw_subgraphs(dict(method.net.alphas.items()), method.tau, 3, 1)[0]
    x, y = random_batch(0)
    loss = sum(method.criterion(method.net(x, w), y) for w in method.subgraphs(draw))
    (grad,) = torch.autograd.grad(loss, method.net.arch_parameters())
    assert (grad != 0).all()


def test_only_the_sampled_ops_run(monkeypatch):
    method = msg_das("nb201", k=2, distill_weight=0.0, drop_identity=0.0)
    edges = [m for m in method.net.modules() if isinstance(m, MixedEdge)]
    calls = [[0] * len(e.ops) for e in edges]
    for e, edge in enumerate(edges):
        for i, op in enumerate(edge.ops):
            op.register_forward_hook(lambda *_, e=e, i=i: calls[e].__setitem__(i, calls[e][i] + 1))
    draw = draw_subgraphs(dict(method.net.alphas.items()), method.tau, 2, 1)[0]
    method.weight_step_k(random_batch(0), method.subgraphs(draw))
    rows = [row for t in method.net.searched_cell_types for row in draw.chosen["cell"]]
    for edge, row, counts in zip(edges, rows, calls):
        expected = [int(i in row and i not in edge.zero_ops) for i in range(len(edge.ops))]
        assert counts == expected


def test_distillation_keeps_no_supernet_graph():
    method = msg_das("nb201")
    target = method.teacher(random_batch(0)[0])
    assert target is not None and target.grad_fn is None and not target.requires_grad
    assert msg_das("nb201", distill_weight=0.0).teacher(random_batch(0)[0]) is None


def test_distillation_changes_the_weight_step():
    with_kd, without = msg_das("nb201"), msg_das("nb201", distill_weight=0.0)
    figures = []
    for method in (with_kd, without):
        torch.manual_seed(3)
        draw = draw_subgraphs(dict(method.net.alphas.items()), method.tau, 2, 1)[0]
        figures.append(step_figures(method.weight_step_k(random_batch(0), method.subgraphs(draw))))
    assert figures[0]["distill_loss"] > 0 and figures[1]["distill_loss"] == 0
    assert figures[0]["train_loss"] == figures[1]["train_loss"]  # same draw, same CE; only the gradient differs
    moved = [not torch.equal(a, b) for a, b in zip(with_kd.net.weight_parameters(), without.net.weight_parameters())]
    assert any(moved)


@pytest.mark.parametrize("space", ["nb201", "darts"])
def test_dropblock_identity_drops_identity_paths_at_its_rate(space):
    p = 0.3
    method = msg_das(space, k=2, drop_identity=p)
    with torch.no_grad():  # make skip_connect likely, so there are many identity paths to count
        for t, alpha in method.net.alphas.items():
            alpha[:, list(method.net.space.edge_ops[t][0]).index("skip_connect")] = 3.0
    dropped = kept = 0
    for draw in draw_subgraphs(dict(method.net.alphas.items()), 1.0, 2, 200):
        for j in range(2):
            for t, sampled in draw.subgraph(j, True, method.dropblock_scales(draw, j)).items():
                w = sampled.weights.detach()
                for e, (op,) in enumerate(sampled.chosen):
                    name = method.net.space.edge_ops[t][e][op]
                    if method.identity[t][e, op] == 1:
                        assert name == "skip_connect"
                        if w[e, op] == 0:
                            dropped += 1
                        else:
                            torch.testing.assert_close(w[e, op], torch.tensor(1 / (1 - p)))
                            kept += 1
                    else:  # other ops, and the stride-2 skip of reduction edges, are never dropped
                        torch.testing.assert_close(w[e, op], torch.tensor(1.0))
    n = dropped + kept
    assert n > 500
    assert abs(dropped / n - p) < 4 * (p * (1 - p) / n) ** 0.5


def test_deterministic_under_a_seed():
    runs = []
    for _ in range(2):
        method = msg_das("darts", seed=5)
        torch.manual_seed(5)
        figures = step_figures(method.step(random_batch(0), random_batch(1)))
        runs.append((figures, [a.detach().clone() for a in method.net.arch_parameters()]))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))


def test_k_larger_than_an_edge_is_refused():
    with pytest.raises(ValueError, match="k = 3 exceeds the 2 candidate ops"):
        msg_das("s1", k=3)


def test_unsampled_weights_follow_pytorch_1x_as_gdas(monkeypatch):
    """MSG-DAS has no code; by GDAS' reasoning (xautodl GDAS.py lines 50 and 68 under PyTorch 1.x) its default is
    `train.zero_grad: zeros`: after a step every weight reached by a sub-graph of either draw has a (kept)
    gradient, so SGD moves it from then on; the ops no sub-graph drew have none."""
    from nasbench_harness.config import SuiteConfig
    from nasbench_harness.methods import msg_das as msg_das_module
    from nasbench_harness.suite_expansion import expand_suite

    suite = {"name": "t", "profile": "tiny", "methods": ["msg_das"], "spaces": ["nb201"], "datasets": ["cifar10"]}
    config = expand_suite(SuiteConfig.model_validate({**suite, "seeds": [0]}))[0]
    assert config.train.zero_grad == "zeros"
    seed_all(0)
    net = get_space("nb201").build_supernet(num_classes=10, mixer=MsgDas.mixer(None), **TINY_NETWORK["nb201"])
    method = MsgDas(net, config, torch.device("cpu"))
    drawn = []

    def recording(*args, **kwargs):
        draws = draw_subgraphs(*args, **kwargs)
        drawn.extend(draws)
        return draws

    monkeypatch.setattr(msg_das_module, "draw_subgraphs", recording)
    method.step(random_batch(0), random_batch(1))
    edges = [m for m in net.modules() if isinstance(m, MixedEdge)]
    rows = [row for t in net.searched_cell_types for row in drawn[0].chosen[t]]
    alpha_rows = [row for t in net.searched_cell_types for row in drawn[1].chosen[t]]
    for edge, row, alpha_row in zip(edges, rows, alpha_rows):
        for i, op in enumerate(edge.ops):
            for p in op.parameters():
                assert (p.grad is not None) == (i in row or i in alpha_row)
