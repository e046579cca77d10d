"""Ground truth for derived architectures, without retraining.

NAS-Bench-201 cells: exact tabular figures (`open_nb201`). DARTS-space and S1–S3 genotypes: the
NAS-Bench-301 surrogate, approximate and labelled so (`open_nb301`). See docs/groundtruth.md.
"""

from nasbench_harness.groundtruth.convert import convert_nb201
from nasbench_harness.groundtruth.nb201 import (
    CROSS_CHECK_KEYS,
    NB201GroundTruth,
    NB201Result,
    NB201Selection,
    edge_ops,
    find_nb201,
    open_nb201,
)
from nasbench_harness.groundtruth.nb201_spec import DATASETS, EPOCHS, NB201_OPS, NO_VALID_SPLIT, SPLITS
from nasbench_harness.groundtruth.nb301 import CROSS_CHECK_KEY, SURROGATE_LABEL, NB301Surrogate, open_nb301

__all__ = [
    "CROSS_CHECK_KEY",
    "CROSS_CHECK_KEYS",
    "DATASETS",
    "EPOCHS",
    "NB201_OPS",
    "NO_VALID_SPLIT",
    "SPLITS",
    "SURROGATE_LABEL",
    "NB201GroundTruth",
    "NB201Result",
    "NB201Selection",
    "NB301Surrogate",
    "convert_nb201",
    "edge_ops",
    "find_nb201",
    "open_nb201",
    "open_nb301",
]
