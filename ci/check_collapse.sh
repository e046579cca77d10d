#!/usr/bin/env bash
# Runs the CI collapse suite and compares it with the committed baseline (exit 1 on regression).
# After a deliberate change: nasbench check DIR --baseline ci/collapse_baseline.yaml --update --reason "..."
set -euo pipefail
# One thread: deterministic reduction order, and no oversubscription on the 2-core CI machine.
export OMP_NUM_THREADS=1
cd "$(dirname "$0")/.."
results="${CI_COLLAPSE_RESULTS:-$(mktemp -d)}"
nasbench run ci/collapse_suite.yaml --results-dir "$results"
nasbench check "$results" --baseline ci/collapse_baseline.yaml
