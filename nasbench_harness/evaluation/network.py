"""Discrete evaluation networks: DARTS' `NetworkCIFAR` (+ auxiliary head) and NAS-Bench-201's `TinyNetwork`.

DARTS family, layer for layer as quark0/darts cnn/model.py (`Cell` lines 8-60, `AuxiliaryHeadCIFAR`
63-84, `NetworkCIFAR` 111-157), identical to RobustDARTS src/evaluation/model.py (`Network`, lines
86-131): affine ops from the shared op library, reductions at layers//3 and 2·layers//3, the auxiliary
head on the output of cell 2·layers//3 (training only), drop-path on every op but the identity.
NAS-Bench-201: `NB201Network.discrete`, xautodl's `infer.tiny` TinyNetwork for a cell string.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from nasbench_harness.spaces import get_space
from nasbench_harness.spaces.darts_network import drop_path
from nasbench_harness.spaces.genotype import DartsGenotype, Genotype, NB201Genotype
from nasbench_harness.spaces.nb201_network import NB201Network
from nasbench_harness.spaces.ops import DARTS_OPS, FactorizedReduce, Identity, ReLUConvBN


class EvalCell(nn.Module):
    """Two ops per intermediate node, summed; the cell outputs the concat of `concat` states."""

    def __init__(self, genotype: DartsGenotype, c_pp: int, c_p: int, c: int, reduction: bool, reduction_prev: bool):
        super().__init__()
        self.reduction = reduction
        self.preprocess0 = FactorizedReduce(c_pp, c) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, 0)
        self.preprocess1 = ReLUConvBN(c_p, c, 1, 1, 0)
        gene = genotype.reduce if reduction else genotype.normal
        self.concat = genotype.reduce_concat if reduction else genotype.normal_concat
        self.multiplier = len(self.concat)
        self.indices = [j for _, j in gene]
        self.ops = nn.ModuleList(DARTS_OPS[op](c, 2 if reduction and j < 2 else 1, True) for op, j in gene)

    def forward(self, s0: Tensor, s1: Tensor, drop_prob: float) -> Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for i in range(len(self.ops) // 2):
            node = None
            for k in (2 * i, 2 * i + 1):
                op = self.ops[k]
                h = op(states[self.indices[k]])
                if self.training and drop_prob > 0.0 and not isinstance(op, Identity):
                    h = drop_path(h, drop_prob)
                node = h if node is None else node + h
            states.append(node)
        return torch.cat([states[i] for i in self.concat], dim=1)


class AuxiliaryHeadCIFAR(nn.Module):
    """The 8x8 auxiliary classifier of DARTS (cnn/model.py lines 63-84)."""

    def __init__(self, c: int, num_classes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=True),
            nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),
            nn.Conv2d(c, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x).flatten(1))


class NetworkCIFAR(nn.Module):
    """forward → (logits, auxiliary logits or None); `drop_path_prob` is set by the trainer each epoch."""

    def __init__(
        self,
        genotype: DartsGenotype,
        channels: int,
        num_classes: int,
        layers: int,
        auxiliary: bool,
        stem_multiplier: int = 3,
    ):
        super().__init__()
        self.layers, self.auxiliary = layers, auxiliary
        self.drop_path_prob = 0.0
        c_curr = stem_multiplier * channels
        self.stem = nn.Sequential(nn.Conv2d(3, c_curr, 3, padding=1, bias=False), nn.BatchNorm2d(c_curr))
        c_pp, c_p, c_curr = c_curr, c_curr, channels
        self.cells = nn.ModuleList()
        reduction_prev = False
        c_aux = c_p
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c_curr *= 2
            cell = EvalCell(genotype, c_pp, c_p, c_curr, reduction, reduction_prev)
            self.cells.append(cell)
            reduction_prev = reduction
            c_pp, c_p = c_p, cell.multiplier * c_curr
            if i == 2 * layers // 3:
                c_aux = c_p
        if auxiliary:
            self.auxiliary_head = AuxiliaryHeadCIFAR(c_aux, num_classes)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, num_classes)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        logits_aux = None
        s0 = s1 = self.stem(x)
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == 2 * self.layers // 3 and self.auxiliary and self.training:
                logits_aux = self.auxiliary_head(s1)
        return self.classifier(self.global_pooling(s1).flatten(1)), logits_aux


class NB201EvalNetwork(nn.Module):
    """TinyNetwork for one cell, with the (logits, None) interface of NetworkCIFAR."""

    def __init__(self, genotype: NB201Genotype, channels: int, cells_per_stage: int, num_classes: int):
        super().__init__()
        self.drop_path_prob = 0.0  # the NB201 recipe has none; kept so one trainer drives both
        self.net = NB201Network.discrete(get_space("nb201"), genotype, channels, cells_per_stage, num_classes)  # type: ignore[arg-type]

    def forward(self, x: Tensor) -> tuple[Tensor, None]:
        return self.net(x), None


def build_eval_network(
    space: str, genotype: Genotype | str, num_classes: int, network: dict[str, int | float | bool]
) -> nn.Module:
    """The evaluation network of `genotype` (a parsed genotype or its printed form) in `space`."""
    if isinstance(genotype, str):
        genotype = get_space(space).parse_genotype(genotype)
    if isinstance(genotype, NB201Genotype):
        return NB201EvalNetwork(genotype, int(network["channels"]), int(network["cells_per_stage"]), num_classes)
    return NetworkCIFAR(
        genotype, int(network["channels"]), num_classes, int(network["layers"]), bool(network["auxiliary"])
    )


def count_parameters_mb(model: nn.Module) -> float:
    """Millions of parameters as DARTS counts them: names containing "auxiliary" excluded (utils.py line 83)."""
    return sum(p.numel() for name, p in model.named_parameters() if "auxiliary" not in name) / 1e6


@torch.no_grad()
def count_flops(model: nn.Module, image_size: int = 32) -> float:
    """Millions of multiply-adds of one inference forward pass (convolutions and linear layers, their
    biases included, as xautodl's get_model_infos counts them; BN, pools and additions not counted)."""
    total = 0

    def conv_hook(module: nn.Conv2d, _: tuple[Tensor, ...], out: Tensor) -> None:
        nonlocal total
        kernel = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
        total += out.numel() * (kernel + (1 if module.bias is not None else 0))

    def linear_hook(module: nn.Linear, _: tuple[Tensor, ...], out: Tensor) -> None:
        nonlocal total
        total += out.numel() * (module.in_features + (1 if module.bias is not None else 0))

    handles = []
    for name, module in model.named_modules():
        if "auxiliary" in name:
            continue
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    try:
        model(torch.zeros(1, 3, image_size, image_size))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return total / 1e6
