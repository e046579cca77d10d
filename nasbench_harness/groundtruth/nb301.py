"""Approximate accuracy oracle for DARTS-space genotypes: the NAS-Bench-301 surrogate (ONNX).

There is no tabular ground truth for the DARTS space; a surrogate trained on NAS-Bench-301 data
predicts CIFAR-10 validation accuracy instead. Its figures are approximate and every output says so
(`SURROGATE_LABEL`, the `_approx` key suffix). It covers genotypes of the DARTS space and of S1–S3
(DARTS ops); genotypes with ops outside its space (S4's `noise`, `none`) have no oracle.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nasbench_harness.datadir import resolve_data_dir
from nasbench_harness.errors import DataError, SpaceError
from nasbench_harness.fileio import file_digest
from nasbench_harness.spaces.genotype import DartsGenotype, Gene

if TYPE_CHECKING:
    import onnxruntime

SURROGATE_LABEL = "approximate (surrogate)"
#: The one key `cross_check` returns: CIFAR-10 validation accuracy in %, None where not available.
CROSS_CHECK_KEY = "nb301_valid_acc_approx"
DEFAULT_EPOCH = 98

_PREFIX = "NetworkSelectorDatasetInfo_COLON_darts_COLON_"
_CELLS = ("normal", "reduce")
#: First edge number of intermediate node k: node 2 owns edges 0-1, node 3 2-4, node 4 5-8, node 5 9-13.
_EDGE_OFFSET = {2: 0, 3: 2, 4: 5, 5: 9}
#: x_cat column order the model was exported with.
INPUT_NAMES = [f"edge_{c}_{e}" for c in _CELLS for e in range(14)] + [
    f"inputs_node_{c}_{k}" for c in _CELLS for k in (3, 4, 5)
]
_COLUMN = {name: i for i, name in enumerate(INPUT_NAMES)}
_FILES = ("model.onnx", "encoding.json", "config_space.json")


class NB301Surrogate:
    """Predicts a genotype's CIFAR-10 validation accuracy after `epoch` training epochs (approximate)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        missing = [name for name in _FILES if not (directory / name).is_file()]
        if missing:
            raise DataError(f"the NAS-Bench-301 surrogate in {directory} lacks {missing}")
        try:
            encoding = json.loads((directory / "encoding.json").read_text())
            space = json.loads((directory / "config_space.json").read_text())
            self._codes = [encoding[_PREFIX + name] for name in INPUT_NAMES]
            params = {p["name"].removeprefix(_PREFIX): p for p in space["hyperparameters"]}
            self.ops = tuple(params["edge_normal_0"]["choices"])
            self.epochs = (int(params["epoch"]["lower"]), int(params["epoch"]["upper"]))
        except (ValueError, KeyError, TypeError) as err:
            raise DataError(f"unexpected surrogate encoding in {directory}: missing or bad {err}") from None
        self._session = self._load_model(directory / "model.onnx")

    @staticmethod
    def _load_model(path: Path) -> onnxruntime.InferenceSession:
        try:
            import onnxruntime as ort
        except ImportError:
            raise DataError("the NAS-Bench-301 surrogate needs onnxruntime: pip install onnxruntime") from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # a few genotypes per call: threads cost more than they save
        try:
            return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own untyped errors for corrupt models
            raise DataError(f"cannot load the surrogate model {path}: {err}") from None

    @cached_property
    def sha256(self) -> str:
        return file_digest(self.directory / "model.onnx")

    def provenance(self) -> dict[str, str]:
        return {
            "oracle": "nb301-surrogate",
            "label": SURROGATE_LABEL,
            "path": str(self.directory),
            "model_sha256": self.sha256,
        }

    def unsupported_reason(self, genotype: DartsGenotype) -> str | None:
        """Why the surrogate cannot score this genotype (ops outside its space), or None if it can."""
        foreign = sorted({op for gene in (genotype.normal, genotype.reduce) for op, _ in gene} - set(self.ops))
        if foreign:
            return (
                f"the NAS-Bench-301 surrogate covers only {', '.join(self.ops)}; no oracle for "
                f"genotypes with {', '.join(foreign)}"
            )
        return None

    def encode(self, genotypes: Sequence[DartsGenotype]) -> np.ndarray:
        """The model's x_cat input, int32 [B, 34]; inactive edges get the `#na#` code 0."""
        rows = np.zeros((len(genotypes), len(INPUT_NAMES)), dtype=np.int32)
        for b, genotype in enumerate(genotypes):
            reason = self.unsupported_reason(genotype)
            if reason:
                raise SpaceError(reason)
            for cell, gene, concat in (
                ("normal", genotype.normal, genotype.normal_concat),
                ("reduce", genotype.reduce, genotype.reduce_concat),
            ):
                for name, choice in _cell_choices(cell, gene, concat):
                    rows[b, _COLUMN[name]] = self._codes[_COLUMN[name]][choice]
        return rows

    def predict(
        self, genotypes: DartsGenotype | str | Sequence[DartsGenotype | str], epoch: int = DEFAULT_EPOCH
    ) -> np.ndarray:
        """Approximate (surrogate) CIFAR-10 validation accuracy in %, one per genotype."""
        if not self.epochs[0] <= epoch <= self.epochs[1]:
            raise SpaceError(f"the surrogate predicts epochs {self.epochs[0]}..{self.epochs[1]}, not {epoch}")
        batch = [_as_genotype(g) for g in ([genotypes] if isinstance(genotypes, (str, DartsGenotype)) else genotypes)]
        if not batch:
            return np.zeros(0)
        x_cat = self.encode(batch)
        x_cont = np.full((len(batch), 1), epoch, dtype=np.float32)
        output = self._session.run(None, {"x_cat": x_cat, "x_cont": x_cont})[0]
        return output[:, 0].astype(np.float64) * 100.0

    def cross_check(self, genotype: DartsGenotype | str) -> dict[str, float | None]:
        """`{"nb301_valid_acc_approx": %}` at epoch 98; None (not available) for ops outside its space."""
        genotype = _as_genotype(genotype)
        if self.unsupported_reason(genotype):
            return {CROSS_CHECK_KEY: None}
        return {CROSS_CHECK_KEY: float(self.predict([genotype])[0])}


def _as_genotype(genotype: DartsGenotype | str) -> DartsGenotype:
    if isinstance(genotype, DartsGenotype):
        return genotype
    if isinstance(genotype, str):
        return DartsGenotype.parse(genotype)
    raise SpaceError(f"the NAS-Bench-301 surrogate scores DARTS genotypes, not {type(genotype).__name__}")


def _cell_choices(cell: str, gene: Gene, concat: tuple[int, ...]) -> list[tuple[str, str]]:
    """(input name, choice) pairs for one cell: node k's op on edge offset(k)+input, its two inputs."""
    if len(gene) != 8 or tuple(concat) != (2, 3, 4, 5):
        raise SpaceError(
            f"the {cell} cell must have 8 (op, input) pairs and concat 2..5 to match the surrogate's space"
        )
    choices = []
    for k in range(2, 6):
        (op_a, in_a), (op_b, in_b) = gene[2 * (k - 2) : 2 * (k - 2) + 2]
        if in_a == in_b or not (0 <= in_a < k and 0 <= in_b < k):
            raise SpaceError(f"node {k} of the {cell} cell needs two different inputs in 0..{k - 1}")
        choices += [
            (f"edge_{cell}_{_EDGE_OFFSET[k] + in_a}", op_a),
            (f"edge_{cell}_{_EDGE_OFFSET[k] + in_b}", op_b),
        ]
        if k > 2:
            choices.append((f"inputs_node_{cell}_{k}", f"{min(in_a, in_b)}_{max(in_a, in_b)}"))
    return choices


_lock = threading.Lock()


def open_nb301(data_dir: str | Path | None = None) -> NB301Surrogate:
    """The surrogate in `<data_dir>/nb301-surrogate/` (or `data_dir` itself), loaded once per process."""
    root = resolve_data_dir(data_dir)
    directory = root if (root / "model.onnx").is_file() else root / "nb301-surrogate"
    with _lock:
        return _open_cached(directory)


@lru_cache(maxsize=4)
def _open_cached(directory: Path) -> NB301Surrogate:
    return NB301Surrogate(directory)
