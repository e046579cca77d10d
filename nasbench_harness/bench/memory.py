"""Subprocess entry of `measure.peak_memory`: `python -m nasbench_harness.bench.memory SPEC_JSON` prints
{"peak_bytes": N} for a few steps of one variant in a fresh process."""

from __future__ import annotations

import json
import sys

import torch

from nasbench_harness.bench.measure import Variant, measure_memory


def main(spec_json: str) -> None:
    spec = json.loads(spec_json)
    torch.set_num_threads(spec["threads"])
    variant = Variant(spec["method"], spec["space"], spec["reference"], spec["pack"], spec["pack_mode"])
    peak = measure_memory(variant, torch.device(spec["device"]), spec["profile"])
    print(json.dumps({"peak_bytes": peak}))


if __name__ == "__main__":
    main(sys.argv[1])
