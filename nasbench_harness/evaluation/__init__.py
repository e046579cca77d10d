"""Final evaluation: retrain a derived genotype from scratch with the published protocol (docs/evaluation.md)."""

from nasbench_harness.evaluation.network import build_eval_network, count_flops, count_parameters_mb
from nasbench_harness.evaluation.protocols import EvalConfig, default_eval_config

__all__ = ["EvalConfig", "build_eval_network", "count_flops", "count_parameters_mb", "default_eval_config"]
