"""RandomNAS with weight sharing: valid single-path samples, weights-only training, selection by valid accuracy."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch
from collapse_support import run_config, tiny_batch, tiny_net

from nasbench_harness.data.pipeline import epoch_generator
from nasbench_harness.engine.runner import execute
from nasbench_harness.methods.random_ws import RandomWS, arch_genotype, arch_weights, sample_arch
from nasbench_harness.spaces import get_space


@pytest.mark.parametrize("space", ["darts", "s1", "s3"])
def test_darts_family_samples_are_discrete_cells(space):
    space_ = get_space(space)
    gen = torch.Generator().manual_seed(0)
    for _ in range(50):
        arch = sample_arch(space_, gen)
        for cell_type, chosen in arch.items():
            edges = [e for e, _ in chosen]
            assert len(edges) == len(set(edges)) == 8
            offset = 0
            for node in range(4):  # exactly two distinct inputs per node
                assert len([e for e in edges if offset <= e < offset + node + 2]) == 2
                offset += node + 2
            weights = arch_weights(space_, arch, torch.zeros(()))[cell_type]
            assert weights.sum() == 8 and set(weights.sum(1).tolist()) <= {0.0, 1.0}
        genotype = arch_genotype(space_, arch)
        assert space_.parse_genotype(str(genotype)) == genotype  # valid in the space, `none` included
        for cell_type, gene in genotype.cells().items():
            offsets = [0, 2, 5, 9]
            expected = [
                (space_.edge_ops[cell_type][e][k], e - max(o for o in offsets if o <= e)) for e, k in arch[cell_type]
            ]
            assert list(gene) == expected  # the sampled pairs in order, a sampled `none` kept


@pytest.mark.parametrize(("space", "n_ops"), [("darts", 8), ("s3", 3)])
def test_darts_family_ops_are_uniform_over_all_ops_none_included(space, n_ops):
    """RobustDARTS `sample_arch`: np.random.choice(range(num_ops)) per chosen edge, `none` (op 0) included."""
    space_ = get_space(space)
    gen = torch.Generator().manual_seed(0)
    picks = [k for _ in range(400) for chosen in sample_arch(space_, gen).values() for _, k in chosen]
    counts = torch.bincount(torch.tensor(picks), minlength=n_ops).double() / len(picks)
    assert space_.edge_ops["normal"][0][0] == "none" and counts[0] > 0
    assert torch.allclose(counts, torch.full((n_ops,), 1 / n_ops, dtype=counts.dtype), atol=0.02)  # 6,400 draws
    nones = sum("none" in arch_genotype(space_, sample_arch(space_, gen)).ops("normal") for _ in range(50))
    assert nones > 0


def test_nb201_samples_one_op_per_edge_none_included():
    gen = torch.Generator().manual_seed(0)
    archs = [sample_arch(get_space("nb201"), gen) for _ in range(200)]
    assert all([e for e, _ in a["cell"]] == list(range(6)) for a in archs)
    assert {k for a in archs for _, k in a["cell"]} == set(range(5))


def test_a_step_never_changes_alpha():
    config = run_config("random_ws", "s3")
    net = tiny_net("s3", alpha_scale=None, mixer=RandomWS.mixer(RandomWS.Args())).float()
    method = RandomWS(net, config, torch.device("cpu"))
    alphas = [a.detach().clone() for a in net.arch_parameters()]
    x, y = tiny_batch()
    method.step((x.float(), y), (x.float(), y))
    assert all(torch.equal(a, b) for a, b in zip(alphas, net.arch_parameters()))


def score(tag: str, arch) -> float:
    """A made-up accuracy that is (practically) distinct for distinct architectures: no ties to break."""
    return float(int(hashlib.sha256(f"{tag}{arch}".encode()).hexdigest()[:8], 16))


def test_selection_takes_the_top_first_pass_candidates_and_picks_the_best_on_all_valid(
    tmp_path, reference_data_dir, monkeypatch
):
    """With made-up first-pass and full accuracies the pick is computed here, independently of the method."""

    def accuracy(self, arch, batches):
        return score("first", arch) if len(batches) == 2 else score("full", arch)  # first_pass_batches: 2

    monkeypatch.setattr(RandomWS, "accuracy", accuracy)
    args = {"eval_archs": 30, "first_pass_batches": 2, "top_k": 4}
    config = run_config("random_ws", method_args=args)
    outcome = execute(config, tmp_path, reference_data_dir, torch.device("cpu"))
    metadata = json.loads((outcome.directory / "metadata.json").read_text())
    selection = metadata["method"]["selection"]

    # The protocol, re-done: the 30 candidates of the last epoch's generator, the 4 best first-pass
    # scores, the best full score among those.
    space = get_space("nb201")
    generator = epoch_generator(config.seed, 1_000_000 + config.train.epochs - 1)
    candidates = [sample_arch(space, generator) for _ in range(30)]
    top = sorted(candidates, key=lambda a: score("first", a), reverse=True)[:4]
    pick = max(top, key=lambda a: score("full", a))
    assert selection["epoch"] == 1
    assert [t["genotype"] for t in selection["top"]] == [str(arch_genotype(space, a)) for a in top]
    assert selection["genotype"] == str(arch_genotype(space, pick)) == outcome.genotype
    assert selection["valid_acc"] == score("full", pick)
    rows = [json.loads(line) for line in (outcome.directory / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["genotype"] == outcome.genotype  # selected within the last epoch's last step
    assert rows[0]["alphas"] == rows[-1]["alphas"]


def test_the_selection_reads_one_running_walk_over_the_validation_half(tmp_path, reference_data_dir, monkeypatch):
    """RobustDARTS (darts_wrapper_discrete.py): every epoch's end evaluates 10 batches (line 130, `n_batches = 10`,
    line 152) of one running `valid_iter` (lines 158-164); then `get_eval_arch` (random_weight_share.py lines
    106-126) scores each candidate in turn on the next 10 and each of the top 10 on the next len(valid_queue).
    Here: 2 epochs, first_pass_batches 2, so the walk is at batch 4 when the selection starts."""
    seen = []

    def accuracy(self, arch, batches):
        seen.append((self.batches, [y.tolist() for _, y in batches], [x for x, _ in batches]))
        return score("first" if len(seen) <= 6 else "full", arch)

    monkeypatch.setattr(RandomWS, "accuracy", accuracy)
    args = {"eval_archs": 6, "first_pass_batches": 2, "top_k": 3}
    execute(run_config("random_ws", method_args=args), tmp_path, reference_data_dir, torch.device("cpu"))
    batches = seen[0][0]
    per_pass = batches.valid_batches_per_pass()
    walk = batches.valid_walk(0, 4 + 6 * 2 + 3 * per_pass)
    position = 4
    for _, labels, images in seen[:6]:
        expected = walk[position : position + 2]
        assert labels == [y.tolist() for _, y in expected]
        assert all(torch.equal(a, x) for a, (x, _) in zip(images, expected))
        position += 2
    for _, labels, _ in seen[6:]:
        assert labels == [y.tolist() for _, y in walk[position : position + per_pass]]
        position += per_pass
    # The training transform: the first batch is not the normalised images themselves.
    plain = batches.valid_walk(4, 1, augment=False)[0]
    assert labels_equal(plain, walk[4]) and not torch.equal(plain[0], walk[4][0])


def labels_equal(a, b) -> bool:
    return torch.equal(a[1], b[1])


def test_the_shared_unaugmented_selection_is_an_option(tmp_path, reference_data_dir):
    """`selection_batches: shared`, `selection_augment: false` (the former protocol): the top k are re-scored on
    the whole validation split without augmentation, what `eval_valid_acc` measures too."""
    args = {"eval_archs": 5, "first_pass_batches": 1, "top_k": 2, "selection_batches": "shared"}
    args["selection_augment"] = False
    outcome = execute(
        run_config("random_ws", "s3", method_args=args), tmp_path, reference_data_dir, torch.device("cpu")
    )
    result = json.loads((outcome.directory / "result.json").read_text())
    selection = json.loads((outcome.directory / "metadata.json").read_text())["method"]["selection"]
    assert result["genotype"] == selection["genotype"]
    assert result["final"]["eval_valid_acc"] == pytest.approx(selection["valid_acc"])


def test_robustdarts_weight_decay_grid_is_a_sweep():
    """`scripts/start_search_RandomNAS.sh` line 5 runs RandomNAS at weight decays 3e-4 · 3^i up to 2.43e-2;
    `weight_decays` expands into one run per value, each stepping with its weight decay, and the sweep keeps the
    run with the best final validation accuracy."""
    from nasbench_harness.config import SuiteConfig
    from nasbench_harness.methods.random_ws import WEIGHT_DECAY_GRID
    from nasbench_harness.suite_expansion import expand_suite

    assert WEIGHT_DECAY_GRID == (3e-4, 9e-4, 2.7e-3, 8.1e-3, 2.43e-2)
    suite = {"name": "t", "profile": "tiny", "methods": ["random_ws"], "spaces": ["s3"], "datasets": ["cifar10"]}
    plain = expand_suite(SuiteConfig.model_validate({**suite, "seeds": [0]}))
    assert len(plain) == 1 and plain[0].method_args["weight_decay"] is None
    args = {"weight_decays": list(WEIGHT_DECAY_GRID)}
    runs = expand_suite(SuiteConfig.model_validate({**suite, "seeds": [0], "method_args": args}))
    assert [r.method_args["weight_decay"] for r in runs] == list(WEIGHT_DECAY_GRID)
    method = RandomWS(tiny_net("s3", mixer=RandomWS.mixer(RandomWS.Args())), runs[3], torch.device("cpu"))
    assert method.weight_decay == 8.1e-3 and method.describe()["weight_decay"] == 8.1e-3
    results = [{"config": r, "final": {"eval_valid_acc": acc}} for r, acc in zip(runs, [10.0, 30.0, 20.0, 5.0, 1.0])]
    (best,) = RandomWS.select(results)
    assert best["config"].method_args["weight_decay"] == 9e-4
    assert len(RandomWS.select([{"config": plain[0], "final": {"eval_valid_acc": 1.0}}])) == 1
