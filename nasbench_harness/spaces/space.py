"""Search spaces: per-edge op lists, α shapes, genotype rules and the supernet they build."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from nasbench_harness.errors import SpaceError
from nasbench_harness.mixing import Mixer
from nasbench_harness.registry import Registry
from nasbench_harness.spaces.genotype import DartsGenotype, Genotype, NB201Genotype
from nasbench_harness.spaces.supernet import Supernet

EdgeOps = tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class CollapseMeasure:
    """How a space tells a collapsed search from a healthy one (docs/collapse.md, "The collapse verdict").

    The verdict reads the logged curves of the watched cell's derived gene: its parameter-free op count and,
    where the space has an oracle that resolves collapse, the true accuracy of the derived cell."""

    #: Cell type whose derived gene is watched (the DARTS family's normal cell; NB201's only cell).
    cell: str
    #: Edges in that derived gene.
    edges: int
    #: Parameter-free ops (skip, pooling, `none`, `noise`) from which the cell counts as filled with them.
    min_param_free: int
    #: Search dataset → the metrics key of the derived cell's true accuracy that decides collapse; a dataset
    #: not listed (or an empty mapping) decides by the cell alone.
    accuracy: Mapping[str, str] = field(default_factory=dict)
    #: Points below the run's best accuracy so far from which the accuracy counts as fallen.
    min_drop: float = 0.0
    #: What the accuracy is, as the verdict names it.
    accuracy_label: str = "ground truth"

    def accuracy_key(self, dataset: str) -> str | None:
        return self.accuracy.get(dataset)

    def describe(self) -> str:
        """The rule in words, as tables and the report state it."""
        text = f"{self.min_param_free} of the {self.edges} edges of the {self.cell!r} cell parameter-free"
        if self.accuracy:
            text += f" and its {self.accuracy_label} {self.min_drop:g} points below the best the search reached"
        return text


@dataclass(frozen=True)
class SearchSpace(ABC):
    #: The network family ("darts": the DARTS cell network of S1–S4 and the DARTS space; "nb201": NAS-Bench-201's),
    #: which decides the retraining protocol and the ground-truth oracle; methods key the original code's settings
    #: for a family on it (`Method.family_defaults`), so a new space of a family gets them.
    family: ClassVar[str]
    name: str
    description: str
    #: cell type → one op list per edge, in α row and column order.
    edge_ops: Mapping[str, EdgeOps]
    #: Defaults of the published search network.
    default_network: Mapping[str, Any] = field(default_factory=dict)
    #: Config layers the space's original code sets (`{"train": {...}, "data": {...}}`), applied by suite
    #: expansion above the papers' defaults and below the method's.
    config_defaults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: What a collapsed search looks like in this space (set by each space family).
    collapse: CollapseMeasure | None = None
    #: The registered space this one is a variant of (`darts_nonone` of `darts`: the same benchmark, an op
    #: list some papers' code searched instead); None: a benchmark space of its own. See `benchmark`.
    variant_of: str | None = None

    @property
    def benchmark(self) -> str:
        """The benchmark space this space stands for: the one a method's `paper_spaces` is keyed by, and
        whose method `space_defaults` a variant inherits."""
        return self.variant_of or self.name

    @property
    def cell_types(self) -> tuple[str, ...]:
        return tuple(self.edge_ops)

    @property
    def ops(self) -> tuple[str, ...]:
        """Every op name the space uses, in first-seen order."""
        seen: dict[str, None] = {}
        for edges in self.edge_ops.values():
            for names in edges:
                seen.update(dict.fromkeys(names))
        return tuple(seen)

    def alpha_shapes(self) -> dict[str, tuple[int, int]]:
        """Edges × ops per cell type; with op lists of different lengths (staged searches), edges × the
        longest list, the missing entries padded (see `alpha_masks`)."""
        return {t: (len(edges), max(len(names) for names in edges)) for t, edges in self.edge_ops.items()}

    def alpha_masks(self) -> dict[str, np.ndarray]:
        """Per cell type, True where α's entry is an op of its edge and False where it only pads the row.

        Padded entries are never computed, get mixing weight exactly 0 (`softmax` with this mask) and no
        gradient; every genotype rule reads the op lists, so it never picks one."""
        masks = {}
        for cell_type, (rows, cols) in self.alpha_shapes().items():
            mask = np.zeros((rows, cols), dtype=bool)
            for e, names in enumerate(self.edge_ops[cell_type]):
                mask[e, : len(names)] = True
            masks[cell_type] = mask
        return masks

    def check_alphas(self, alphas: Mapping[str, np.ndarray], source: str = "α") -> dict[str, np.ndarray]:
        """Arrays keyed by cell type with the space's shapes, or a SpaceError saying what was expected."""
        expected = self.alpha_shapes()
        wanted = ", ".join(f"{t!r} {shape}" for t, shape in expected.items())
        if set(alphas) != set(expected):
            raise SpaceError(f"{source}: space {self.name!r} needs arrays {wanted}; got keys {sorted(alphas)}")
        checked = {}
        for cell_type, shape in expected.items():
            try:
                array = np.asarray(alphas[cell_type], dtype=np.float64)
            except (TypeError, ValueError):
                raise SpaceError(f"{source}: {cell_type!r} is not a numeric matrix") from None
            if array.shape != shape:
                raise SpaceError(
                    f"{source}: array {cell_type!r} has shape {array.shape}; space {self.name!r} expects "
                    f"{shape} (edges × ops; ops per edge: {list(self.edge_ops[cell_type][0])})"
                )
            if not np.isfinite(array).all():
                raise SpaceError(f"{source}: array {cell_type!r} contains NaN or infinite values")
            checked[cell_type] = array
        return checked

    def derive(self, alphas: Mapping[str, np.ndarray], source: str = "α") -> Genotype:
        """The discrete architecture from α logits (softmax is applied as the original code does);
        `source` names where α came from in error messages."""
        checked = self.check_alphas(alphas, source)
        masks = self.alpha_masks()
        return self.derive_from_weights({t: softmax(a, masks[t]) for t, a in checked.items()})

    @abstractmethod
    def derive_from_weights(self, weights: Mapping[str, np.ndarray]) -> Genotype:
        """The discrete architecture from mixing weights (methods with their own weighting call this)."""

    @abstractmethod
    def parse_genotype(self, text: str) -> Genotype: ...

    @abstractmethod
    def build_supernet(self, *, num_classes: int = 10, mixer: Mixer | None = None, **network: Any) -> Supernet:
        """The search network; `network` overrides `default_network` (channels, layers, ...)."""


def softmax(a: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Softmax over the last axis; entries where `mask` is False get weight exactly 0."""
    if mask is not None and not mask.all():
        a = np.where(mask, a, -np.inf)
    e = np.exp(a - a.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


#: RobustDARTS' collapse: normal cells dominated by parameter-free ops (skip connections above all). Six of the
#: eight edges; no accuracy condition, since the NB301 surrogate barely resolves it (docs/collapse.md).
DARTS_FAMILY_COLLAPSE = CollapseMeasure(cell="normal", edges=8, min_param_free=6)
#: NAS-Bench-201's: four of six edges parameter-free and the cell's ground-truth test accuracy on the search
#: dataset 3 points below the best the search reached.
NB201_COLLAPSE = CollapseMeasure(
    cell="cell",
    edges=6,
    min_param_free=4,
    accuracy={
        "cifar10": "gt_cifar10_test",
        "cifar100": "gt_cifar100_test",
        "imagenet16-120": "gt_ImageNet16-120_test",
    },
    min_drop=3.0,
)


@dataclass(frozen=True)
class DartsFamilySpace(SearchSpace):
    """The DARTS cell: 4 intermediate nodes, 14 edges, cell types `normal` and `reduce`."""

    family: ClassVar[str] = "darts"
    steps: int = 4
    collapse: CollapseMeasure | None = DARTS_FAMILY_COLLAPSE

    def derive_from_weights(self, weights: Mapping[str, np.ndarray]) -> DartsGenotype:
        genes = {t: self._parse_cell(np.asarray(weights[t]), self.edge_ops[t]) for t in ("normal", "reduce")}
        concat = tuple(range(2, 2 + self.steps))
        return DartsGenotype(genes["normal"], genes["reduce"], concat, concat)

    def _parse_cell(self, w: np.ndarray, edge_ops: EdgeOps) -> tuple[tuple[str, int], ...]:
        """Per node: the 2 inputs with the strongest non-`none` op; on each, that op.

        Ties keep the lower index, as Python's stable sort and the original strict `>` do.
        """
        gene = []
        start = 0
        for node in range(self.steps):
            n_inputs = node + 2
            candidates = []
            for j in range(n_inputs):
                names = edge_ops[start + j]
                allowed = [k for k, name in enumerate(names) if name != "none"]
                best = max(allowed, key=lambda k: (w[start + j, k], -k))
                candidates.append((j, best, w[start + j, best]))
            strongest = sorted(candidates, key=lambda c: -c[2])[:2]
            gene.extend((edge_ops[start + j][k], j) for j, k, _ in strongest)
            start += n_inputs
        return tuple(gene)

    def parse_genotype(self, text: str) -> DartsGenotype:
        genotype = DartsGenotype.parse(text)
        for cell_type, gene in genotype.cells().items():
            known = {op for names in self.edge_ops[cell_type] for op in names}
            for op, j in gene:
                if op not in known:
                    raise SpaceError(f"op {op!r} is not in space {self.name!r} ({cell_type} cells: {sorted(known)})")
                if not 0 <= j < 2 + self.steps:
                    raise SpaceError(f"input index {j} out of range in {cell_type} cell of {text!r}")
        return genotype

    def build_supernet(self, *, num_classes: int = 10, mixer: Mixer | None = None, **network: Any) -> Supernet:
        from nasbench_harness.spaces.darts_network import DartsSupernet

        return DartsSupernet(self, num_classes=num_classes, mixer=mixer, **{**self.default_network, **network})


@dataclass(frozen=True)
class NB201Space(SearchSpace):
    """NAS-Bench-201: 6 edges, 5 ops each, one cell type `cell`."""

    family: ClassVar[str] = "nb201"
    collapse: CollapseMeasure | None = NB201_COLLAPSE

    def derive_from_weights(self, weights: Mapping[str, np.ndarray]) -> NB201Genotype:
        w = np.asarray(weights["cell"])
        names = self.edge_ops["cell"]
        return NB201Genotype.from_edge_ops([names[e][int(np.argmax(w[e]))] for e in range(len(names))])

    def parse_genotype(self, text: str) -> NB201Genotype:
        genotype = NB201Genotype.parse(text)
        known = {op for names in self.edge_ops["cell"] for op in names}
        for op in genotype.edge_ops():
            if op not in known:
                raise SpaceError(f"op {op!r} is not a NAS-Bench-201 op; known: {sorted(known)}")
        return genotype

    def build_supernet(self, *, num_classes: int = 10, mixer: Mixer | None = None, **network: Any) -> Supernet:
        from nasbench_harness.spaces.nb201_network import NB201Network

        return NB201Network(self, num_classes=num_classes, mixer=mixer, **{**self.default_network, **network})


SPACES: Registry[Callable[[], SearchSpace]] = Registry("space")


def register_space(name: str) -> Callable[[Callable[[], SearchSpace]], Callable[[], SearchSpace]]:
    """Register a zero-argument factory returning the space; the tests pick every space up."""
    return SPACES.register(name)


def get_space(name: str) -> SearchSpace:
    return SPACES.get(name)()


def list_spaces() -> list[str]:
    return SPACES.names()


def variants(benchmark: str) -> list[str]:
    """The registered spaces that stand for `benchmark` (itself included), in name order."""
    return [name for name in list_spaces() if get_space(name).benchmark == benchmark]
