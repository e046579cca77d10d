#!/usr/bin/env bash
# GPU check, run on a lent GPU machine from the repository root (see docs/benchmarks.md):
#   NASBENCH_DATA=<data dir> OUT=<folder for logs> bash benchmarks/device/check.sh
# 1. CUDA parity tests, 2. search-step benchmarks on the GPU, 3. a full-scale two-epoch suite.
set -uo pipefail
export PYTHONUNBUFFERED=1 NASBENCH_OFFLINE=1 MPLBACKEND=Agg PYTHONPATH="$PWD:${PYTHONPATH:-}"
OUT="${OUT:-/tmp/device_check}"
mkdir -p "$OUT"
nvidia-smi -L | tee "$OUT/env.log"
python3 -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__)" | tee -a "$OUT/env.log"

python3 -m pytest -q -p no:cacheprovider tests/gpu tests/spaces/test_spaces_parity.py 2>&1 | tee "$OUT/gpu_tests.log"

NASBENCH_BENCH_DEVICE=cuda NASBENCH_BENCH_ROUNDS="${ROUNDS:-20}" python3 -m pytest -q -p no:cacheprovider \
  benchmarks/bench_spaces.py --benchmark-enable --benchmark-only 2>&1 | tee "$OUT/bench_spaces.log"

rm -rf /tmp/fullscale
/usr/bin/time -v python3 -m nasbench_harness run benchmarks/device/fullscale_suite.yaml --results-dir /tmp/fullscale \
  2>&1 | tee "$OUT/fullscale.log"
for metrics in /tmp/fullscale/runs/*/*/*/*/metrics.jsonl; do
  run=$(echo "$metrics" | cut -d/ -f5-8 | tr / _)
  cp "$metrics" "$OUT/${run}.jsonl"
done
python3 -m nasbench_harness aggregate /tmp/fullscale 2>&1 | tail -20 | tee -a "$OUT/fullscale.log"
