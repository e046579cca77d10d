"""The Λ-DARTS vs DARTS figure (docs/methods.md), from the run directories of suites/lambda_demo.yaml.

    OMP_NUM_THREADS=1 nasbench run suites/lambda_demo.yaml --results-dir /tmp/lambda_demo
    python docs/make_lambda_plot.py /tmp/lambda_demo

Per epoch and method: `grad_corr` (mean pairwise cosine of the cells' α-gradients on the epoch's last
training batch), the skip connections of the derived cell, and its NAS-Bench-201 CIFAR-10 test accuracy;
writes docs/img/lambda_vs_darts.png and prints one line per run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib.pyplot as plt

OUT = Path(__file__).resolve().parent / "img" / "lambda_vs_darts.png"
PANELS = [
    ("grad_corr", "grad_corr (mean pairwise cos of cell α-grads)"),
    ("skip_cell", "skip connections in derived cell"),
    ("gt_cifar10_test", "NB201 CIFAR-10 test acc. of derived cell (%)"),
]


def load_runs(root: Path) -> dict[str, list[dict]]:
    """method -> metrics rows of its finished NB201 CIFAR-10 run (the first seed found)."""
    runs: dict[str, list[dict]] = {}
    for metrics in sorted(root.glob("runs/nb201/cifar10/*/*/metrics.jsonl")):
        if not (metrics.parent / "result.json").exists():
            continue
        method = metrics.parent.parent.name
        runs.setdefault(method, [json.loads(line) for line in metrics.read_text().splitlines()])
    if not runs:
        raise SystemExit(f"no finished nb201/cifar10 runs under {root}/runs; run suites/lambda_demo.yaml first")
    return runs


def main(root: str) -> None:
    runs = load_runs(Path(root))
    fig, axes = plt.subplots(1, len(PANELS), figsize=(15, 4))
    for method, rows in sorted(runs.items()):
        epochs = [r["epoch"] for r in rows]
        for ax, (key, title) in zip(axes, PANELS):
            ax.plot(epochs, [r.get(key) for r in rows], marker="o", ms=3, label=method)
            ax.set_title(title, fontsize=10)
            ax.set_xlabel("epoch")
        if "train_grad_corr" in rows[0]:
            axes[0].plot(
                epochs, [r["train_grad_corr"] for r in rows], ls="--", label=f"{method} (epoch mean over steps)"
            )
        last = rows[-1]
        print(
            f"{method:13} grad_corr {rows[0]['grad_corr']:.3f} -> {last['grad_corr']:.3f}; "
            f"skip {rows[0]['skip_cell']} -> {last['skip_cell']}; "
            f"C10 test {rows[0]['gt_cifar10_test']:.2f} -> {last['gt_cifar10_test']:.2f}; "
            f"final cell {last['genotype']}"
        )
    axes[0].legend(fontsize=8)
    fig.suptitle("NAS-Bench-201, CIFAR-10 sample (512 weight images), C=8, 1 cell/stage, 20 epochs, seed 0")
    fig.tight_layout()
    OUT.parent.mkdir(exist_ok=True)
    fig.savefig(OUT, dpi=110)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
