"""Speed measurement of search steps: `nasbench bench` (measure.py) and the steps it times (steps.py)."""

from nasbench_harness.bench.measure import Variant, bench, table, variants

__all__ = ["Variant", "bench", "table", "variants"]
