"""NAS-Bench-201 vocabulary shared by the service, its backends and the converter.

Datasets, splits and epoch budgets are spelled exactly as the official APIs spell them, so a name can
never silently mean another protocol (`cifar10` trains on train+valid; `cifar10-valid` on train only).
"""

from __future__ import annotations

from nasbench_harness.errors import ConfigError
from nasbench_harness.registry import unknown_name_message

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NUM_ARCHS = len(NB201_OPS) ** 6

DATASETS = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")
SPLITS = ("valid", "test")
EPOCHS = (12, 200)

#: The 200-epoch figures reported for every derived cell (what `cross_check` returns).
CROSS_CHECK_EPOCHS = 200

NO_VALID_SPLIT = (
    "cifar10 has no validation split: its networks train on train+valid; select on cifar10-valid "
    "(same cell, trained on train only) instead"
)

#: Compact-table column for each (dataset, split, epochs). `cifar10` valid does not exist anywhere.
TABLE_COLUMNS: dict[tuple[str, str, int], str] = {
    ("cifar10-valid", "valid", 200): "cifar10valid_val_200_mean",
    ("cifar10-valid", "test", 200): "cifar10valid_test_200",
    ("cifar10", "test", 200): "cifar10_test_200",
    ("cifar100", "valid", 200): "cifar100_val_200_mean",
    ("cifar100", "test", 200): "cifar100_test_200",
    ("ImageNet16-120", "valid", 200): "imagenet16_val_200_mean",
    ("ImageNet16-120", "test", 200): "imagenet16_test_200",
    ("cifar10-valid", "valid", 12): "cifar10valid_val_12",
    ("cifar10-valid", "test", 12): "cifar10valid_test_12",
    ("cifar10", "test", 12): "cifar10_test_12",
    ("cifar100", "valid", 12): "cifar100_val_12",
    ("cifar100", "test", 12): "cifar100_test_12",
    ("ImageNet16-120", "valid", 12): "imagenet16_val_12",
    ("ImageNet16-120", "test", 12): "imagenet16_test_12",
}

#: A table without these cannot answer `cross_check`; the others may be absent (read as missing).
REQUIRED_COLUMNS = tuple(col for (_, _, ep), col in TABLE_COLUMNS.items() if ep == CROSS_CHECK_EPOCHS)


def check_dataset(dataset: str) -> str:
    """The official spelling of `dataset` (case-insensitive), or a ConfigError naming the choices."""
    for name in DATASETS:
        if dataset.lower() == name.lower():
            return name
    raise ConfigError(unknown_name_message("NAS-Bench-201 dataset", dataset, list(DATASETS)))


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}: use 'valid' (selection metric) or 'test' (report metric)")
    return split


def check_epochs(epochs: int | str) -> int:
    """12 or 200: the official APIs default to 12, so the budget is always named explicitly."""
    try:
        value = int(epochs)
    except (TypeError, ValueError):
        value = -1
    if value not in EPOCHS:
        raise ConfigError(f"NAS-Bench-201 has results for 12 or 200 training epochs, not {epochs!r}")
    return value
