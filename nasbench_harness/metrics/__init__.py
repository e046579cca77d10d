"""Per-epoch metrics; every module here registers its metrics on import."""

import importlib
import pkgutil

from nasbench_harness.metrics.base import EpochState, compute_epoch_metrics, register_epoch_metric

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["EpochState", "compute_epoch_metrics", "register_epoch_metric"]
