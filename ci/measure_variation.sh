#!/usr/bin/env bash
# Measures run-to-run variation of the CI collapse suite, to choose the tolerances in
# ci/collapse_baseline.yaml (see ci/README.md). Runs the suite once as CI does (one thread, the
# machine's best vector kernels), then under perturbations that change floating-point rounding the
# way another machine would: two threads, AVX2 and plain (non-vectorised) ATen kernels.
# Prints every metric's difference from the first run. Takes 4x the suite's time.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-$(mktemp -d)}"
run() {  # name, then environment assignments
  local name=$1; shift
  env OMP_NUM_THREADS=1 "$@" nasbench run ci/collapse_suite.yaml --results-dir "$out/$name" > "$out/$name.log"
}
run reference
run threads2 OMP_NUM_THREADS=2
run avx2 ATEN_CPU_CAPABILITY=avx2
run plain ATEN_CPU_CAPABILITY=default
nasbench check "$out/reference" --baseline "$out/reference.yaml" --update --reason "variation reference"
for name in threads2 avx2 plain; do
  echo "== $name vs reference"
  nasbench check "$out/$name" --baseline "$out/reference.yaml" --all || true
done
