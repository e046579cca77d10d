"""Op lists of different lengths per edge (a staged search's later stages): α is edges × the longest list;
padded entries are never computed, get mixing weight exactly 0 and no gradient, stay 0 under the α
optimiser, and no genotype rule picks them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nasbench_harness.engine.stages import stage_space
from nasbench_harness.spaces import get_space
from nasbench_harness.testing import TINY_NETWORK

NB201_RAGGED = {
    "cell": (
        ("avg_pool_3x3", "none"),
        ("skip_connect", "skip_connect", "none"),
        ("nor_conv_1x1", "nor_conv_3x3", "none"),
        ("none", "nor_conv_3x3"),
        ("skip_connect",),
        ("nor_conv_1x1", "none"),
    )
}
DARTS_RAGGED = {
    t: tuple(("sep_conv_3x3", "none") if e % 3 else ("avg_pool_3x3", "max_pool_3x3", "none") for e in range(14))
    for t in ("normal", "reduce")
}
RAGGED = {"nb201": NB201_RAGGED, "s3": DARTS_RAGGED}


def ragged_net(space_name: str, **network):
    torch.manual_seed(0)
    space = stage_space(get_space(space_name), RAGGED[space_name])
    return space, space.build_supernet(num_classes=10, **{**TINY_NETWORK[space_name], **network})


def test_alpha_is_edges_by_the_longest_list_with_a_mask():
    space, net = ragged_net("nb201")
    assert space.alpha_shapes() == {"cell": (6, 3)}
    assert net.alphas["cell"].shape == (6, 3)
    mask = space.alpha_masks()["cell"]
    assert mask.sum(axis=1).tolist() == [2, 3, 3, 2, 1, 2]
    assert get_space("nb201").alpha_masks()["cell"].all()  # uniform spaces: nothing padded


@pytest.mark.parametrize("space_name", sorted(RAGGED))
def test_padded_entries_weigh_exactly_zero_get_no_gradient_and_stay_zero(space_name):
    space, net = ragged_net(space_name)
    masks = space.alpha_masks()
    for cell_type, alpha in net.alphas.items():
        assert (alpha.detach().numpy()[~masks[cell_type]] == 0.0).all()
    weights = net.softmax_weights()
    for cell_type, w in weights.items():
        pad = torch.from_numpy(~masks[cell_type])
        assert (w[pad] == 0.0).all()
        assert torch.allclose(w.sum(dim=-1), torch.ones(w.shape[0]))
    optimizer = torch.optim.Adam(net.arch_parameters(), 0.1, betas=(0.5, 0.999), weight_decay=1e-3)
    x, y = torch.randn(2, 3, 8, 8), torch.tensor([1, 2])
    for _ in range(2):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        for cell_type, alpha in net.alphas.items():
            pad = torch.from_numpy(~masks[cell_type])
            assert (alpha.grad[pad] == 0.0).all() and alpha.grad[~pad].abs().sum() > 0
        optimizer.step()
    for cell_type, alpha in net.alphas.items():
        assert (alpha.detach()[torch.from_numpy(~masks[cell_type])] == 0.0).all()


@pytest.mark.parametrize("space_name", sorted(RAGGED))
def test_the_fused_forward_matches_op_by_op_on_ragged_lists(space_name):
    _, fused = ragged_net(space_name, fused=True)
    _, plain = ragged_net(space_name, fused=False)
    plain.load_state_dict(fused.state_dict())
    x = torch.randn(2, 3, 8, 8)
    torch.manual_seed(1)
    a = fused(x)
    torch.manual_seed(1)
    b = plain(x)
    assert torch.allclose(a, b, atol=1e-5)


def test_no_genotype_rule_picks_a_padded_entry():
    space, net = ragged_net("nb201")
    with torch.no_grad():
        net.alphas["cell"].fill_(-1.0)
        net.alphas["cell"][4, 0] = -2.0  # edge 4's only op: weaker than its (absent) padding
    genotype = net.genotype()
    assert genotype.edge_ops()[4] == "skip_connect"
    alphas = {"cell": np.where(space.alpha_masks()["cell"], 0.0, 50.0)}  # huge values in the padding only
    assert space.derive(alphas).edge_ops() == tuple(names[0] for names in NB201_RAGGED["cell"])
