"""`python -m nasbench_harness ...`: the `nasbench` command without an installed entry point."""

from nasbench_harness.cli import main

main()
