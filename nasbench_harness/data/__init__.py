"""Datasets (CIFAR-10/100, SVHN, ImageNet16-120) and the batched, reproducible search input pipeline.

Every module in this package is imported, so a new dataset is one module with `@register_dataset`.
"""

from nasbench_harness.data.dataset import Dataset, load_dataset
from nasbench_harness.data.download import download_dataset
from nasbench_harness.data.pipeline import VALID_SAMPLING, PairedBatches, eval_batches
from nasbench_harness.data.registry import DatasetSpec, get_spec, list_datasets, register_dataset
from nasbench_harness.data.splits import OFFICIAL_SPLITS, PROTOCOLS, SearchSplit, dataset_split, search_split
from nasbench_harness.data.status import DatasetStatus, dataset_status
from nasbench_harness.registry import import_submodules

import_submodules(__name__, __path__)

__all__ = [
    "OFFICIAL_SPLITS",
    "PROTOCOLS",
    "VALID_SAMPLING",
    "Dataset",
    "DatasetSpec",
    "DatasetStatus",
    "PairedBatches",
    "SearchSplit",
    "dataset_split",
    "dataset_status",
    "download_dataset",
    "eval_batches",
    "get_spec",
    "list_datasets",
    "load_dataset",
    "register_dataset",
    "search_split",
]
