"""nasbench_harness: a benchmark harness for differentiable neural architecture search."""

__version__ = "0.1.0"
