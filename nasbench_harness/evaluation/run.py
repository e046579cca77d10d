"""One evaluation run: retrain a genotype from scratch, epoch by epoch, as a resumable run directory.

The same record as a search (engine/record.py): a lock, metadata.json, append-only metrics.jsonl, an
atomic checkpoint after every epoch (network, optimizer, RNG), result.json or failed.json. Data order and
augmentation are a pure function of (seed, epoch) (data/pipeline.py) and drop-path draws from the global
RNG saved in the checkpoint, so a killed run resumes to exactly the result of an uninterrupted one.
"""

from __future__ import annotations

import math
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import nasbench_harness
from nasbench_harness.data import PairedBatches, SearchSplit, eval_batches, load_dataset, search_split
from nasbench_harness.engine.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from nasbench_harness.engine.record import RunRecord
from nasbench_harness.engine.runner import (
    Reporter,
    RunFailure,
    RunOutcome,
    claim,
    record_failure,
    seed_everything,
    settle_finished,
)
from nasbench_harness.engine.versions import current_code, git_commit, resumed_versions
from nasbench_harness.evaluation.network import build_eval_network, count_flops, count_parameters_mb
from nasbench_harness.evaluation.protocols import EvalConfig


def lr_at(config: EvalConfig, epoch: int, step: int, steps: int) -> float:
    """Cosine from lr to lr_min over the epochs, per epoch (DARTS) or per step (xautodl)."""
    t = config.train
    progress = epoch + (step / steps if t.lr_update == "step" else 0.0)
    return t.lr_min + 0.5 * (t.lr - t.lr_min) * (1 + math.cos(math.pi * progress / t.epochs))


class EvaluationRun:
    def __init__(self, config: EvalConfig, results_dir: Path, data_dir: Path, device: torch.device, report: Reporter):
        self.config, self.data_dir, self.device, self.report = config, data_dir, device, report
        self.record = RunRecord(results_dir / config.relative_dir())
        self.code_versions = [current_code()]  # extended on resume by another version or commit, as a search's

    def build(self) -> None:
        config = self.config
        seed_everything(config.seed)
        self.dataset = load_dataset(
            config.dataset, self.data_dir, limit_train=config.data.limit_train, limit_test=config.data.limit_test
        )
        n = self.dataset.num_train
        if config.data.train_on == "half":
            self.split = search_split(n, "half", config.seed)
        else:  # the whole training set; the pipeline's one-image side stream is unused
            self.split = SearchSplit(np.arange(n), np.arange(1), "eval_full_train", config.seed)
        self.batches = PairedBatches(
            self.dataset,
            self.split,
            batch_size=config.train.batch_size,
            device=self.device,
            seed=config.seed,
            augment=True,
            cutout_length=config.data.cutout_length,
            cutout_prob=1.0 if config.data.cutout_length else 0.0,
        )
        self.net = build_eval_network(config.space, config.genotype, self.dataset.num_classes, config.network).to(
            self.device
        )
        t = config.train
        self.optimizer = torch.optim.SGD(
            self.net.parameters(), t.lr, momentum=t.momentum, weight_decay=t.weight_decay, nesterov=t.nesterov
        )
        self.criterion = nn.CrossEntropyLoss()

    def metadata(self) -> dict[str, Any]:
        return {
            "kind": "evaluate",
            "config": self.config.model_dump(mode="json"),
            "config_hash": self.config.config_hash(),
            "run_id": self.config.run_id(),
            "harness_version": nasbench_harness.__version__,
            "git_commit": git_commit(),
            "code_versions": self.code_versions,
            "torch_version": torch.__version__,
            "python_version": platform.python_version(),
            "host": platform.node(),
            "device": str(self.device),
            "data_dir": str(self.data_dir),
            "dataset": self.dataset.to_dict(),
            "train_images": len(self.split.train_idx),
            "steps_per_epoch": len(self.batches),
            "network": {
                "params_mb": count_parameters_mb(self.net),
                "params_mb_note": "DARTS utils.count_parameters_in_MB: auxiliary head excluded",
                "flops_m": count_flops(self.net, self.dataset.image_size),
                **self.config.network,
            },
            "augmentation": f"random crop (pad {self.dataset.crop_padding}), horizontal flip"
            + (f", cutout {self.config.data.cutout_length} (prob 1)" if self.config.data.cutout_length else ""),
            "drop_path": "linear ramp drop_path_prob·epoch/epochs, every op but the identity (DARTS model.py)",
            "lr_schedule": f"cosine to lr_min, updated per {self.config.train.lr_update}",
        }

    def run(self) -> RunOutcome:
        self.build()
        epochs = self.config.train.epochs
        next_epoch = 0
        if self.record.checkpoint_path.exists():
            payload = load_checkpoint(self.record.checkpoint_path, self.device)
            if payload.get("config_hash") != self.config.config_hash():
                raise RunFailure(
                    f"{self.record.checkpoint_path} belongs to another configuration "
                    f"(hash {payload.get('config_hash')}); "
                    f"move {self.record.dir} aside to start over"
                )
            self.net.load_state_dict(payload["net"])
            self.optimizer.load_state_dict(payload["optimizer"])
            set_rng_state(payload["rng"])
            next_epoch = payload["next_epoch"]
            self.report(f"resuming {self.record.dir} at epoch {next_epoch}")
            self.code_versions = resumed_versions(self.record.read_json("metadata.json"), self.report, "evaluation")
        self.record.truncate_metrics_after(0, next_epoch)
        self.record.write_metadata(self.metadata())
        for epoch in range(next_epoch, epochs):
            row = self.train_epoch(epoch)
            if (epoch + 1) % self.config.data.eval_every == 0 or epoch == epochs - 1:
                row.update(self.test())
            self.record.append_metrics(row)
            self.report(
                f"epoch {epoch} ({epoch + 1}/{epochs}) train_acc {row['train_acc']:.2f}"
                + (f" test_error {row['test_error']:.2f}" if "test_error" in row else "")
                + f" {row['epoch_seconds']:.1f}s"
            )
            save_checkpoint(
                self.record.checkpoint_path,
                {
                    "next_epoch": epoch + 1,
                    "net": self.net.state_dict(),
                    "optimizer": self.optimizer.state_dict(),
                    "rng": rng_state(),
                    "config_hash": self.config.config_hash(),
                },
            )
        rows = list(self.record.metrics())
        last = rows[-1]
        meta = self.metadata()["network"]
        result = {
            "status": "finished",
            "kind": "evaluate",
            "genotype": self.config.genotype,
            "test_error": last["test_error"],
            "test_acc": 100.0 - last["test_error"],
            "valid_error": last.get("valid_error"),
            "epochs_run": len(rows),
            "params_mb": meta["params_mb"],
            "flops_m": meta["flops_m"],
            "train_seconds": sum(r["epoch_seconds"] for r in rows),
        }
        self.record.write_result(result)
        return RunOutcome(
            self.config, self.record.dir, "finished", seconds=result["train_seconds"], genotype=self.config.genotype
        )  # type: ignore[arg-type]

    def train_epoch(self, epoch: int) -> dict[str, Any]:
        t = self.config.train
        self.net.train()
        self.net.drop_path_prob = t.drop_path_prob * epoch / t.epochs
        steps = len(self.batches)
        start = time.perf_counter()
        loss_sum = torch.zeros((), device=self.device, dtype=torch.float64)
        correct = torch.zeros((), device=self.device, dtype=torch.float64)
        seen = 0
        lr = lr_at(self.config, epoch, 0, steps)
        for step, ((x, y), _) in enumerate(self.batches.epoch(epoch)):
            lr = lr_at(self.config, epoch, step, steps)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            self.optimizer.zero_grad(set_to_none=True)
            logits, logits_aux = self.net(x)
            loss = self.criterion(logits, y)
            if logits_aux is not None and t.auxiliary_weight > 0:
                loss = loss + t.auxiliary_weight * self.criterion(logits_aux, y)
            loss.backward()
            if t.grad_clip is not None:
                nn.utils.clip_grad_norm_(self.net.parameters(), t.grad_clip)
            self.optimizer.step()
            loss_sum += loss.detach().double() * len(y)
            correct += (logits.detach().argmax(1) == y).sum()
            seen += len(y)
        train_loss = float(loss_sum) / seen
        if not math.isfinite(train_loss):
            raise RunFailure(f"training loss is {train_loss} at epoch {epoch}")
        return {
            "epoch": epoch,
            "lr": lr,
            "drop_path_prob": self.net.drop_path_prob,
            "train_loss": train_loss,
            "train_acc": 100.0 * float(correct) / seen,
            "epoch_seconds": time.perf_counter() - start,
        }

    @torch.no_grad()
    def test(self) -> dict[str, float]:
        """Error (%) on the test set, and on the held-out half of the training set when training on half."""
        figures = {"test_error": self._error(self.dataset.test_images, self.dataset.test_labels)}
        if self.config.data.train_on == "half":
            idx = torch.from_numpy(self.split.valid_idx).long()
            figures["valid_error"] = self._error(self.dataset.train_images[idx], self.dataset.train_labels[idx])
        return figures

    def _error(self, images: torch.Tensor, labels: torch.Tensor) -> float:
        self.net.eval()
        correct, total = 0, 0
        for x, y in eval_batches(
            images,
            labels,
            self.config.data.eval_batch_size,
            device=self.device,
            mean=self.dataset.mean,
            std=self.dataset.std,
        ):
            logits, _ = self.net(x)
            correct += int((logits.argmax(1) == y).sum())
            total += len(y)
        self.net.train()
        return 100.0 - 100.0 * correct / total


def execute_evaluation(
    config: EvalConfig,
    results_dir: Path,
    data_dir: Path,
    device: torch.device,
    report: Reporter | None = None,
    progress: bool = True,
    *,
    rerun_stale: bool = False,
    position: str = "",
    attempt: int = 1,
) -> RunOutcome:
    """Run, skip (finished) or resume one evaluation; its failure is recorded in failed.json, never raised.

    A finished evaluation by another harness version or commit is `stale` and kept, unless `rerun_stale`
    moves its record aside and runs it again (as a search). The signature is runner.execute's, so every
    executor runs evaluation jobs the same way."""
    report = report or (lambda message: None)
    record = RunRecord(results_dir / config.relative_dir())
    lock = claim(config, record, report)  # type: ignore[arg-type]
    if isinstance(lock, RunOutcome):
        return lock
    with lock:
        settled = settle_finished(config, record, report, rerun_stale)  # type: ignore[arg-type]
        if settled is not None:
            return settled
        started = time.time()
        try:
            return EvaluationRun(config, results_dir, data_dir, device, report).run()
        except Exception as err:  # recorded; the suite goes on
            return record_failure(config, record, err, report, attempt, started, kind="evaluate")  # type: ignore[arg-type]


def execute_job(config: Any, *args: Any, **kwargs: Any) -> list[RunOutcome]:
    """Any kind of job: a search (RunConfig), an evaluation (EvalConfig) or a seed pack of searches
    (engine/packed.py); the outcome of each run it holds."""
    if isinstance(config, EvalConfig):
        return [execute_evaluation(config, *args, **kwargs)]
    from nasbench_harness.engine.packed import SeedPack, execute_pack
    from nasbench_harness.engine.runner import execute

    if isinstance(config, SeedPack):
        return execute_pack(config, *args, **kwargs)
    return [execute(config, *args, **kwargs)]
