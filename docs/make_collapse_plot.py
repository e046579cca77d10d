"""The collapse demo figure and summary (docs/collapse.md), from the results of suites/collapse_demo.yaml.

    NASBENCH_DATA=../shared/data nasbench run suites/collapse_demo.yaml --results-dir results/collapse_demo
    python docs/make_collapse_plot.py results/collapse_demo

Draws with the results layer's `collapse_curves` (true accuracy, eigenvalue, skip count per epoch; mean
± 1 std over seeds; after a DARTS-ADA rollback, the epochs it redid replace the abandoned ones) into
docs/img/collapse_demo.png, and prints one line per run with its rollbacks.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from nasbench_harness.results import load_results
from nasbench_harness.results.plots import collapse_curves

OUT = Path(__file__).resolve().parent / "img" / "collapse_demo"


def main(root: str) -> None:
    results = load_results(root)
    epochs = results.current_epochs()
    epochs = epochs[epochs["status"] == "finished"]
    for path in collapse_curves(epochs, "nb201", "cifar10", OUT, pdf=False):
        print(f"wrote {path}")
    for run in results.runs.sort_values(["method", "seed"]).itertuples():
        rows = epochs[epochs["run_dir"] == run.run_dir].sort_values("epoch")
        if rows.empty:
            continue
        metadata = json.loads((Path(root) / run.run_dir / "metadata.json").read_text())
        rollbacks = [
            f"epoch {r['decided_at']} -> {r['rollback_to']}, wd {r['weight_decay']:g}"
            for r in metadata["method"].get("rollbacks", [])
        ]
        eigen = rows["eigenvalue"].dropna()
        print(
            f"{run.method:10} seed {run.seed}: eigenvalue {eigen.iloc[0]:.3f} -> {eigen.max():.3f} (max) -> "
            f"{eigen.iloc[-1]:.3f}; skip {rows['skip_cell'].iloc[-1]}; "
            f"C10 test of final cell {rows['gt_cifar10_test'].iloc[-1]:.2f}; rollbacks: {rollbacks or 'none'}"
        )


if __name__ == "__main__":
    main(sys.argv[1])
