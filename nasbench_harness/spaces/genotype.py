"""Discrete architectures: the DARTS `Genotype(...)` form and the NAS-Bench-201 `|op~j|+...` string.

Both print exactly as the original code prints them, parse back, and count the ops that signal
collapse (skip connections, parameter-free ops).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from nasbench_harness.errors import SpaceError

PARAMETER_FREE_OPS = frozenset({"none", "skip_connect", "max_pool_3x3", "avg_pool_3x3", "noise"})

Gene = tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class DartsGenotype:
    """A DARTS-family cell pair: per cell type, two (op, input) pairs per intermediate node."""

    normal: Gene
    reduce: Gene
    normal_concat: tuple[int, ...] = (2, 3, 4, 5)
    reduce_concat: tuple[int, ...] = (2, 3, 4, 5)

    def cells(self) -> dict[str, Gene]:
        return {"normal": self.normal, "reduce": self.reduce}

    def ops(self, cell_type: str) -> list[str]:
        return [op for op, _ in self.cells()[cell_type]]

    def __str__(self) -> str:
        def concat(c: tuple[int, ...]) -> str:
            if c == tuple(range(c[0], c[-1] + 1)):
                return f"range({c[0]}, {c[-1] + 1})"
            return repr(list(c))

        return (
            f"Genotype(normal={list(self.normal)!r}, normal_concat={concat(self.normal_concat)}, "
            f"reduce={list(self.reduce)!r}, reduce_concat={concat(self.reduce_concat)})"
        )

    @classmethod
    def parse(cls, text: str) -> DartsGenotype:
        """Parse the printed form without eval: only literals and `range(a, b)` are accepted."""
        try:
            call = ast.parse(text.strip(), mode="eval").body
        except SyntaxError as err:
            raise SpaceError(f"cannot parse genotype {text!r}: {err.msg}") from None
        if not (isinstance(call, ast.Call) and getattr(call.func, "id", None) == "Genotype"):
            raise SpaceError(f"expected 'Genotype(normal=[...], ...)', got {text!r}")
        fields: dict[str, object] = {}
        for kw in call.keywords:
            value = kw.value
            if isinstance(value, ast.Call) and getattr(value.func, "id", None) == "range":
                fields[kw.arg or ""] = tuple(range(*(ast.literal_eval(a) for a in value.args)))
            else:
                try:
                    fields[kw.arg or ""] = ast.literal_eval(value)
                except ValueError:
                    raise SpaceError(f"genotype field {kw.arg!r} is not a literal in {text!r}") from None
        missing = {"normal", "reduce"} - fields.keys()
        if missing:
            raise SpaceError(f"genotype {text!r} lacks {sorted(missing)}")

        def gene(name: str) -> Gene:
            raw = fields[name]
            try:
                return tuple((str(op), int(j)) for op, j in raw)  # type: ignore[union-attr]
            except (TypeError, ValueError):
                raise SpaceError(f"genotype field {name!r} must be a list of (op, input) pairs") from None

        return cls(
            normal=gene("normal"),
            reduce=gene("reduce"),
            normal_concat=tuple(fields.get("normal_concat", (2, 3, 4, 5))),  # type: ignore[arg-type]
            reduce_concat=tuple(fields.get("reduce_concat", (2, 3, 4, 5))),  # type: ignore[arg-type]
        )

    def to_json(self) -> dict[str, object]:
        return {
            "normal": [list(g) for g in self.normal],
            "normal_concat": list(self.normal_concat),
            "reduce": [list(g) for g in self.reduce],
            "reduce_concat": list(self.reduce_concat),
        }


@dataclass(frozen=True)
class NB201Genotype:
    """A NAS-Bench-201 cell: `nodes[i-1]` lists (op, input) for node i's incoming edges, inputs 0..i-1."""

    nodes: tuple[Gene, ...]

    @classmethod
    def from_edge_ops(cls, edge_ops: list[str] | tuple[str, ...]) -> NB201Genotype:
        """Edge order 1←0, 2←0, 2←1, 3←0, 3←1, 3←2 (α's row order)."""
        if len(edge_ops) != 6:
            raise SpaceError(f"a NAS-Bench-201 cell has 6 edges, got {len(edge_ops)}")
        it = iter(edge_ops)
        return cls(tuple(tuple((next(it), j) for j in range(i)) for i in range(1, 4)))

    def edge_ops(self) -> tuple[str, ...]:
        """Ops in α row order, inputs sorted within each node (the canonical form)."""
        return tuple(op for node in self.nodes for op, _ in sorted(node, key=lambda g: g[1]))

    def cells(self) -> dict[str, Gene]:
        return {"cell": tuple(g for node in self.nodes for g in node)}

    def ops(self, cell_type: str = "cell") -> list[str]:
        return [op for op, _ in self.cells()[cell_type]]

    def __str__(self) -> str:
        return "+".join("|" + "|".join(f"{op}~{j}" for op, j in node) + "|" for node in self.nodes)

    @classmethod
    def parse(cls, text: str) -> NB201Genotype:
        """Parse `|op~0|+|op~0|op~1|+|...|`; whitespace is ignored and inputs may come in any order."""
        compact = "".join(text.split())
        nodes = []
        for i, part in enumerate(compact.split("+"), start=1):
            if len(part) < 2 or not (part.startswith("|") and part.endswith("|")):
                raise SpaceError(f"malformed NAS-Bench-201 cell {text!r}: node {i} must look like '|op~j|'")
            gene = []
            for token in part[1:-1].split("|"):
                op, sep, src = token.partition("~")
                if not sep or not src.isdigit() or not op:
                    raise SpaceError(f"malformed edge {token!r} in {text!r}: expected 'op~input'")
                gene.append((op, int(src)))
            if sorted(j for _, j in gene) != list(range(i)):
                raise SpaceError(f"node {i} of {text!r} must have exactly one edge from each of inputs 0..{i - 1}")
            nodes.append(tuple(sorted(gene, key=lambda g: g[1])))
        if len(nodes) != 3:
            raise SpaceError(f"a NAS-Bench-201 cell has 3 nodes separated by '+', got {len(nodes)} in {text!r}")
        return cls(tuple(nodes))

    def to_json(self) -> str:
        return str(self)


Genotype = DartsGenotype | NB201Genotype


def op_counts(genotype: Genotype) -> dict[str, int]:
    """Skip connections and parameter-free ops per cell type: the collapse signals of RobustDARTS."""
    counts: dict[str, int] = {}
    for cell_type in genotype.cells():
        ops = genotype.ops(cell_type)
        counts[f"skip_{cell_type}"] = sum(op == "skip_connect" for op in ops)
        counts[f"param_free_{cell_type}"] = sum(op in PARAMETER_FREE_OPS for op in ops)
    return counts
