"""One search run, top to bottom: data → supernet → method → epoch loop → record.

Each epoch ends with its metrics row appended to `metrics.jsonl` and an atomic checkpoint, so a
killed run resumes from the last finished epoch and ends with exactly the result of an
uninterrupted one (data order and augmentation are a pure function of seed and epoch; the global
RNG state travels in the checkpoint).
"""

from __future__ import annotations

import dataclasses
import errno
import math
import platform
import random
import sys
import time
import traceback
from collections import defaultdict
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

import nasbench_harness
from nasbench_harness.config import RunConfig, TrainConfig
from nasbench_harness.data import Dataset, PairedBatches, dataset_split, eval_batches, load_dataset
from nasbench_harness.engine import stages
from nasbench_harness.engine.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from nasbench_harness.engine.fast_path import Stepper
from nasbench_harness.engine.fast_path import plan as fast_path_plan
from nasbench_harness.engine.record import FAILED, RunLock, RunLocked, RunRecord
from nasbench_harness.engine.versions import current_code, git_commit, resumed_versions, stale_reason
from nasbench_harness.errors import ConfigError, HarnessError
from nasbench_harness.methods import EpochDecision, Method, get_method_class
from nasbench_harness.methods.base import Batch, StepFigures, accuracy_on
from nasbench_harness.metrics import EpochState, compute_epoch_metrics
from nasbench_harness.spaces import get_space

Reporter = Callable[[str], None]
T = TypeVar("T")
#: A run (or an epoch of it) as a generator: yields each step's (train, valid) batches, is sent the figures.
Session = Generator[tuple[Batch, Batch], StepFigures, T]


def drive(session: Session[T], step: Callable[[Batch, Batch], StepFigures]) -> T:
    """Run a session to its end, doing each step it asks for with `step`; its return value."""
    try:
        train, valid = next(session)
    except StopIteration as done:
        return done.value
    while True:
        figures = run_step(step, train, valid)
        try:
            train, valid = session.send(figures)
        except StopIteration as done:
            return done.value


def run_step(step: Callable[[Batch, Batch], StepFigures], train: Batch, valid: Batch) -> StepFigures:
    """`step(train, valid)`, a StopIteration it raises turned into a RuntimeError (as PEP 479 does in a
    generator): whoever drives a session must not take a bug in the step for the end of the session."""
    try:
        return step(train, valid)
    except StopIteration as err:
        raise RuntimeError(f"the step raised StopIteration ({err!r})") from err


class RunFailure(Exception):
    """A run that cannot finish (NaN loss, out of memory, missing data); recorded, the suite goes on."""


class EpochFigures:
    """Per-step figures of an epoch, kept on their device and read once at its end.

    Averaged over images, as the originals' AverageMeter(n) does: α-side figures (`valid_*`) over the α
    batch, the others over the weight batch. A step never synchronises with the GPU; a non-finite figure
    is found (with its step) when the epoch is read."""

    def __init__(self) -> None:
        self.values: dict[str, list[torch.Tensor | float]] = defaultdict(list)
        self.counts: dict[str, list[int]] = defaultdict(list)

    def add(self, stats: dict[str, torch.Tensor | float], train_n: int, valid_n: int) -> None:
        for key, value in stats.items():
            self.values[key].append(value.detach() if isinstance(value, torch.Tensor) else float(value))
            self.counts[key].append(valid_n if key.startswith("valid_") else train_n)

    def means(self, epoch: int) -> dict[str, float]:
        means = {}
        for key, values in self.values.items():
            device = next((v.device for v in values if isinstance(v, torch.Tensor)), torch.device("cpu"))
            per_step = torch.stack([torch.as_tensor(v, dtype=torch.float64, device=device) for v in values]).cpu()
            finite = torch.isfinite(per_step)
            if not bool(finite.all()):
                step = int((~finite).nonzero()[0])
                raise RunFailure(f"{key} is {float(per_step[step])} at epoch {epoch}, step {step}")
            counts = torch.tensor(self.counts[key], dtype=torch.float64)
            means[key] = float((per_step * counts).sum() / counts.sum())
        return means


@dataclass(frozen=True)
class RunOutcome:
    config: RunConfig
    directory: Path
    #: "finished", "skipped" (finished earlier), "stale" (finished by another harness version or commit,
    #: kept), "locked" (another process holds it), "failed".
    status: str
    reason: str = ""
    seconds: float = 0.0
    genotype: str = ""
    #: How many times an executor started this run (a crashed or killed worker is retried).
    attempts: int = 1


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise HarnessError("--device cuda was asked for, but torch sees no CUDA device; use --device auto or cpu")
    return torch.device(device)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def cosine_lr(epoch: int, epochs: int, lr: float, lr_min: float) -> float:
    """CosineAnnealingLR(T_max=epochs, eta_min=lr_min) at `epoch`, computed in closed form for resume."""
    return lr_min + 0.5 * (lr - lr_min) * (1 + math.cos(math.pi * epoch / epochs))


def epoch_lr(train: TrainConfig, epoch: int, epochs: int) -> float:
    """The rate epoch `epoch` (0-based, of `epochs`) trains at: the cosine at `epoch`, or at `epoch + 1` with
    `train.lr_epoch: next` (PyTorch >= 1.1 `scheduler.step()` called before the epoch's training)."""
    shift = 1 if train.lr_epoch == "next" else 0
    return cosine_lr(epoch + shift, epochs, train.lr, train.lr_min)


_DATASETS: dict[tuple[str, str, int | None, int | None], Dataset] = {}


def _dataset(config: RunConfig, data_dir: Path) -> Dataset:
    """Datasets are cached per process: a suite loads each one once."""
    key = (config.dataset, str(data_dir), config.data.limit_train, config.data.limit_test)
    if key not in _DATASETS:
        _DATASETS[key] = load_dataset(
            config.dataset, data_dir, limit_train=config.data.limit_train, limit_test=config.data.limit_test
        )
    return _DATASETS[key]


class SearchRun:
    """Builds everything a run needs; `run()` executes it (resuming when a checkpoint exists)."""

    def __init__(
        self,
        config: RunConfig,
        results_dir: Path,
        data_dir: Path,
        device: torch.device,
        report: Reporter | None = None,
        progress: bool = True,
        position: str = "",
    ):
        self.config, self.data_dir, self.device = config, data_dir, device
        self.record = RunRecord(results_dir / config.relative_dir())
        self.report = report or (lambda message: None)
        self.progress = progress
        self.position = position  # "[i/n]" in the suite, for the progress lines
        self.code_versions = [current_code()]  # extended on resume by another version or commit
        self.space = get_space(config.space)
        self.method_cls = get_method_class(config.method)
        #: None for a single-stage method; else its stages, the one in training and the finished ones.
        self.stages: list[stages.Stage] | None = None
        self.stage_index, self.stage_ops = 0, None
        self.finished_stages: list[dict[str, Any]] = []
        #: How many times a checkpoint was loaded into the net and method (resume, rollback): a batched seed
        #: pack checks again whether its runs can be batched when it changes.
        self.restores = 0
        #: Set by a seed pack (engine/packed.py), for the metadata: its size, seeds and mode, and how its steps
        #: ran (`batched`: the batched step's description; `batched_refused`: why not).
        self.packing: dict[str, Any] | None = None
        #: How the earlier sessions of a resumed run were packed (metadata `packings`, oldest first): a batched
        #: pack rounds differently from a run alone, so a run trained partly batched says so.
        self.earlier_packings: list[dict[str, Any]] = []
        #: Why this run's steps never take the GPU fast path (set by a batched seed pack), or None.
        self.fast_path_off: str | None = None

    def build(self) -> None:
        config = self.config
        problems = self.method_cls.config_problems(config)
        if problems:  # a suite checks this before any run starts; a config made elsewhere is checked here
            raise ConfigError(f"{config.method} on {config.space} cannot run: {'; '.join(problems)}")
        seed_everything(config.seed)
        self.dataset = _dataset(config, self.data_dir)
        # None (not set, or reset with `split: null`): the method's protocol, else the space's, else DARTS'.
        space_split = self.space.config_defaults.get("data", {}).get("split")
        protocol = config.data.split or self.method_cls.split or space_split or "half"
        self.split = dataset_split(self.dataset, protocol, config.seed, self.data_dir)
        self.batches = PairedBatches(
            self.dataset,
            self.split,
            batch_size=config.train.batch_size,
            device=self.device,
            seed=config.seed,
            augment=config.data.augment,
            cutout_length=config.data.cutout_length,
            drop_last=config.data.drop_last,
            valid_sampling=config.data.valid_sampling,
        )
        if len(self.batches) == 0:
            raise RunFailure(
                f"the {protocol!r} split leaves {len(self.split.train_idx)} training images, fewer than one batch "
                f"of {config.train.batch_size}; lower train.batch_size or raise data.limit_train"
            )
        self.stages = stages.plan(self.method_cls, config)
        self.stage_ops = None if self.stages is None else self.stages[0].edge_ops
        self._build_stage()

    def _build_stage(self) -> None:
        """The supernet and method of the current stage (the whole run for a single-stage method)."""
        config, space = self.config, self.space
        if self.stages is not None:
            config = stages.stage_config(self.config, self.stages[self.stage_index])
            space = stages.stage_space(self.space, self.stage_ops)
        args = self.method_cls.Args.model_validate(config.method_args)
        self.net = space.build_supernet(
            num_classes=self.dataset.num_classes, mixer=self.method_cls.mixer(args), **config.network
        ).to(self.device)
        self.method: Method = self.method_cls(self.net, config, self.device)
        self.method.batches = self.batches
        plan = fast_path_plan(self.method, self.device, config.train.precision, off=self.fast_path_off)
        self.stepper = Stepper(self.method, self.device, plan)

    def _enter_stage(self, index: int, edge_ops: stages.StageOps | None) -> None:
        """Start stage `index` as a fresh search script does: seeded global RNG, new supernet and method."""
        seed_everything(self.config.seed)
        self.stage_index, self.stage_ops = index, edge_ops
        self._build_stage()

    def _stage_start(self) -> int:
        return 0 if self.stages is None else stages.boundaries(self.stages)[self.stage_index]

    def _total_epochs(self) -> int:
        return self.config.train.epochs if self.stages is None else stages.boundaries(self.stages)[-1]

    def _stage_record(self) -> dict[str, Any]:
        """The current stage's result, for the checkpoint and result.json."""
        assert self.stages is not None
        stage = self.stages[self.stage_index]
        return {
            "index": self.stage_index,
            "name": stage.name,
            "epochs": stage.epochs,
            "edge_ops": stages.ops_to_json(self.net.space.edge_ops),
            "genotype": str(self.method.genotype()),
            "alphas": {t: a.detach().cpu().tolist() for t, a in self.net.alphas.items()},
        }

    def _next_stage(self, index: int) -> stages.NextStage | None:
        """What the current stage hands to stage `index` (None when that stage declares its own op lists)."""
        assert self.stages is not None
        if self.stages[index].edge_ops is not None:
            return None
        return self.method.next_stage(self.stages[index])

    def _advance_stage(self, epoch: int) -> None:
        """At the first epoch of the next stage: record the finished stage and build the next one."""
        assert self.stages is not None
        index = self.stage_index + 1
        if index >= len(self.stages) or epoch != stages.boundaries(self.stages)[index]:
            return
        handed = self._next_stage(index)
        self.finished_stages.append(self._stage_record())
        previous = self.method
        self._enter_stage(index, self.stages[index].edge_ops if handed is None else handed.edge_ops)
        # Only here, at the transition: on resume the checkpoint already holds the carried-over state.
        self.method.carry_over(previous)
        self.report(f"stage {self.stages[index].name!r} ({index + 1}/{len(self.stages)}) starts at epoch {epoch}")

    def _stage_metadata(self) -> dict[str, Any]:
        if self.stages is None:
            return {}
        return {"stages": [s.describe() for s in self.stages], "stage": self.stage_index}

    def _stage_columns(self, epoch: int) -> dict[str, Any]:
        """The row's stage columns (none for a single-stage method); a stage that hands op lists on logs its
        choice per edge (`stage_choice`) every epoch."""
        if self.stages is None:
            return {}
        columns: dict[str, Any] = {
            "stage": self.stage_index,
            "stage_name": self.stages[self.stage_index].name,
            "stage_epoch": epoch - self._stage_start(),
        }
        if self.stage_index + 1 < len(self.stages):
            handed = self._next_stage(self.stage_index + 1)
            if handed is not None:
                columns["stage_choice"] = dict(handed.choice)
        return columns

    def metadata(self, provenance: dict[str, Any]) -> dict[str, Any]:
        """Everything needed to interpret the run; `provenance` holds what services report (ground truth files)."""
        return {
            "config": self.config.model_dump(mode="json"),
            "config_hash": self.config.config_hash(),
            "run_id": self.config.run_id(),
            "harness_version": nasbench_harness.__version__,
            "git_commit": git_commit(),
            #: Every harness version and commit that trained epochs of this run, oldest first.
            "code_versions": self.code_versions,
            "torch_version": torch.__version__,
            "python_version": platform.python_version(),
            "host": platform.node(),
            "device": str(self.device),
            "device_name": torch.cuda.get_device_name(self.device)
            if self.device.type == "cuda"
            else platform.processor(),
            "data_dir": str(self.data_dir),
            "dataset": self.dataset.to_dict(),
            "split": self.split.to_dict(),
            "search_loop": self.batches.describe(),
            "network": self.net.describe(),
            "method": self.method.describe(),
            **self._stage_metadata(),
            "fast_path": self.stepper.describe(),
            #: This session's packing; interleaved changes how the steps execute, not the results; batched
            #: changes their rounding (tests/engine/test_packed.py).
            "packing": self.packing or {"size": 1},
            "packings": self._packings(),
            "metrics": self.config.metrics.model_dump(mode="json"),
            "lr_schedule": "cosine per epoch (CosineAnnealingLR, T_max=epochs; = xautodl's per-step update, warmup 0); "
            + (
                "epoch e at lr(e + 1), PyTorch >= 1.1 scheduler.step() before the epoch (train.lr_epoch: next)"
                if self.config.train.lr_epoch == "next"
                else "epoch e at lr(e) (train.lr_epoch: current)"
            ),
            "provenance": provenance,
        }

    def _packings(self) -> list[dict[str, Any]]:
        """Every session's packing, oldest first; a session packed as the one before it is not repeated."""
        current = self.packing or {"size": 1}
        earlier = self.earlier_packings
        return earlier if earlier and earlier[-1] == current else [*earlier, current]

    def _checkpoint_payload(self, next_epoch: int, segment: int, stop: EpochDecision | None = None) -> dict[str, Any]:
        """`stop`: the method's stop decision, so a run killed before `result.json` finishes without training on."""
        payload = {
            "next_epoch": next_epoch,
            "segment": segment,
            "net": self.net.state_dict(),
            "method": self.method.state_dict(),
            "rng": rng_state(),
            "config_hash": self.config.config_hash(),
        }
        if self.stages is not None:
            ops = None if self.stage_ops is None else stages.ops_to_json(self.stage_ops)
            payload.update(stage=self.stage_index, stage_ops=ops, finished_stages=self.finished_stages)
        if stop is not None:
            payload["stop"] = {"genotype": None if stop.genotype is None else str(stop.genotype), "reason": stop.reason}
        return payload

    def _stored_stop(self, payload: dict[str, Any]) -> EpochDecision:
        stop = payload.get("stop")
        if stop is None:
            return EpochDecision()
        genotype = None if stop["genotype"] is None else self.net.space.parse_genotype(stop["genotype"])
        return EpochDecision("stop", genotype=genotype, reason=stop["reason"])

    def _restore(self, payload: dict[str, Any]) -> None:
        if self.stages is not None and payload["stage"] != self.stage_index:
            ops = payload["stage_ops"]
            self._enter_stage(payload["stage"], None if ops is None else stages.ops_from_json(ops))
        if self.stages is not None:
            self.finished_stages = list(payload["finished_stages"])
        self.net.load_state_dict(payload["net"])
        self.method.load_state_dict(payload["method"])
        self.stepper.restored()
        set_rng_state(payload["rng"])
        self.restores += 1

    def _snapshot_path(self, epoch: int) -> Path:
        return self.record.dir / "snapshots" / f"epoch-{epoch:04d}.pt"

    def _build_or_fail(self) -> None:
        """`build`, with a setting torch cannot build with (`network: {channels: -4}`) named as such."""
        try:
            self.build()
        except (HarnessError, OSError, MemoryError):
            raise
        except Exception as err:
            if _is_out_of_memory(err):
                raise
            config = self.config
            raise RunFailure(
                f"cannot build {config.method} on {config.space} with network {config.network} and method_args "
                f"{config.method_args}: {type(err).__name__}: {err}. Fix the suite's network / method_args "
                "settings (nasbench list spaces and nasbench list methods show the accepted ones)"
            ) from err

    def _check_checkpoint(self, payload: dict[str, Any]) -> None:
        """A checkpoint resumes only the configuration that wrote it."""
        saved, current = payload.get("config_hash"), self.config.config_hash()
        if saved != current:
            raise RunFailure(
                f"{self.record.checkpoint_path} was written by a run with config hash {saved}, but this run's "
                f"config hash is {current}: it cannot be resumed. Move {self.record.dir} aside (or delete it) "
                "to start this run over"
            )

    def run(self) -> RunOutcome:
        """The whole run in this process, alone: its session driven by its own stepper."""
        return drive(self.session(), self.step)

    def step(self, train: Batch, valid: Batch) -> StepFigures:
        """One step of the current stage's method, eager or from the fast path's capture."""
        return self.stepper(train, valid)

    def session(self) -> Session[RunOutcome]:
        """The run as a generator that yields each step's batches and is sent that step's figures.

        Whoever drives it does the step: `run()` with this run's stepper, a seed pack (engine/packed.py)
        interleaved with other runs or batched with them. Everything else (epochs, metrics, checkpoints,
        stages, rollbacks, the result) happens inside, so a run is the same however it is driven."""
        started = time.time()
        self._build_or_fail()
        epochs = self._total_epochs()
        next_epoch, segment = 0, 0
        provenance: dict[str, Any] = {}
        decision = EpochDecision()
        if self.record.checkpoint_path.exists():
            payload = load_checkpoint(self.record.checkpoint_path, self.device)
            self._check_checkpoint(payload)
            self._restore(payload)
            next_epoch, segment = payload["next_epoch"], payload["segment"]
            decision = self._stored_stop(payload)
            self.record.truncate_metrics_after(segment, next_epoch)
            previous = self.record.read_json("metadata.json")
            provenance = previous.get("provenance", {})
            self.report(f"resuming {self.record.dir} at epoch {next_epoch}")
            self.code_versions = resumed_versions(previous, self.report, "run")
            self.earlier_packings = previous.get("packings") or [previous.get("packing", {"size": 1})]
        else:
            self.record.truncate_metrics_after(0, 0)
        from nasbench_harness.metrics.groundtruth import ground_truth_notice

        missing = ground_truth_notice(self.config, self.method.genotype(), self.data_dir, provenance)
        if missing:
            self.report(f"no ground truth for this run (its results will have no true accuracy): {missing}")
        self.report(self.stepper.plan.notice())
        self.record.write_metadata(self.metadata(provenance))

        epoch = next_epoch
        loop_started, trained = time.time(), 0
        while epoch < epochs and decision.action != "stop":
            row, last_valid = yield from self._epoch_session(epoch, segment)
            genotype = self.method.genotype()
            state = EpochState(
                self.method.config,
                self.method,
                epoch,
                epoch == epochs - 1,
                genotype,
                last_valid,
                self.data_dir,
                provenance,
            )
            row.update(compute_epoch_metrics(state))
            row["genotype"] = str(genotype)
            self.record.append_metrics(row)
            trained += 1
            elapsed = time.time() - loop_started
            eta = elapsed / trained * (epochs - epoch - 1)
            progress = f"run {_duration(elapsed)} elapsed, ETA {_duration(eta)}"
            self.report(
                f"{self.position} epoch {epoch} ({epoch + 1}/{epochs})  {_epoch_line(row)}  {progress}".lstrip()
            )
            decision = self.method.on_epoch_end(epoch - self._stage_start(), row)
            if self.method.keeps_snapshots:
                save_checkpoint(self._snapshot_path(epoch), self._checkpoint_payload(epoch + 1, segment))
            if decision.action == "rollback":
                assert decision.rollback_to is not None
                decision = dataclasses.replace(decision, rollback_to=decision.rollback_to + self._stage_start())
                payload = load_checkpoint(self._snapshot_path(decision.rollback_to), self.device)
                method_state = self.method.state_dict()
                self._restore(payload)
                self.method.after_rollback(method_state, decision.rollback_to)
                segment += 1
                epoch = decision.rollback_to + 1
                self.report(f"rollback to epoch {decision.rollback_to}: {decision.reason}")
            else:
                epoch += 1
                if self.stages is not None and decision.action != "stop":
                    self._advance_stage(epoch)
            stop = decision if decision.action == "stop" else None
            save_checkpoint(self.record.checkpoint_path, self._checkpoint_payload(epoch, segment, stop))
            self.record.write_metadata(self.metadata(provenance))
            if stop is not None:
                self.report(f"early stop after epoch {row['epoch']}: {decision.reason}")

        final_genotype = (
            decision.genotype if decision.action == "stop" and decision.genotype else self.method.genotype()
        )
        rows = list(self.record.metrics())
        result = {
            "status": "finished",
            "genotype": str(final_genotype),
            "stopped_early": decision.action == "stop",
            "stop_reason": decision.reason if decision.action == "stop" else "",
            "epochs_run": len(rows),
            "final": {k: v for k, v in rows[-1].items() if k not in (*ARCH_KEYS, "genotype")} if rows else {},
            "search_seconds": sum(r.get("epoch_seconds", 0.0) for r in rows),
            "wall_seconds_this_session": time.time() - started,
            "final_genotype_metrics": self.final_genotype_metrics(final_genotype, provenance),
        }
        if self.stages is not None:
            result["stages"] = [*self.finished_stages, {**self._stage_record(), "genotype": str(final_genotype)}]
        self.record.write_result(result)
        return RunOutcome(
            self.config,
            self.record.dir,
            "finished",
            seconds=result["search_seconds"],
            genotype=result["genotype"],
        )

    def final_genotype_metrics(self, genotype: Any, provenance: dict[str, Any]) -> dict[str, Any]:
        """Ground truth and op counts of the reported genotype (which ES may take from an earlier epoch)."""
        from nasbench_harness.metrics.groundtruth import genotype_ground_truth
        from nasbench_harness.spaces import op_counts

        return {
            **op_counts(genotype),
            **genotype_ground_truth(self.config, genotype, self.data_dir, provenance),
        }

    def _epoch_session(self, epoch: int, segment: int) -> Session[tuple[dict[str, Any], Any]]:
        config = self.method.config  # the run's, or the current stage's (its epochs and overrides)
        stage_epoch = epoch - self._stage_start()
        if self.stages is not None and self.stages[self.stage_index].lr_schedule == "run":
            lr = epoch_lr(config.train, epoch, self._total_epochs())
        else:
            lr = epoch_lr(config.train, stage_epoch, config.train.epochs)
        self.method.set_epoch(stage_epoch, lr)
        self.net.train()
        start = time.perf_counter()
        steps = len(self.batches)
        last_valid = None
        bar = _progress(steps, f"{config.method}/{config.space} seed {config.seed} epoch {epoch}", self.progress)
        figures = EpochFigures()
        for train, valid in self.batches.epoch(epoch):
            step_figures = yield train, valid
            figures.add(step_figures, train_n=len(train[1]), valid_n=len(valid[1]))
            last_valid = valid
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        means = figures.means(epoch)
        self.method.after_train_steps()
        train_seconds = time.perf_counter() - start
        row: dict[str, Any] = {"epoch": epoch, "segment": segment, "lr": lr, "steps": steps}
        row.update(self._stage_columns(epoch))
        row.update(means)
        row["eval_valid_acc"] = self.evaluate_valid()
        row.update(arch_state_row(self.method))
        row["train_seconds"] = train_seconds
        row["epoch_seconds"] = time.perf_counter() - start
        return row, last_valid

    @torch.no_grad()
    def evaluate_valid(self) -> float:
        """Supernet accuracy (%) on the split's architecture side (NB201 CIFAR-100/ImageNet16-120: the test
        set's `xvalid`, as xautodl's `valid_loader`), no augmentation, with the method's mixing."""
        self.net.eval()
        images, labels = self.split.valid_images(self.dataset)
        batches = eval_batches(
            images,
            labels,
            batch_size=self.config.data.eval_batch_size,
            device=self.device,
            mean=self.dataset.mean,
            std=self.dataset.std,
        )
        acc = accuracy_on(self.net, batches, self.method.mixing_weights())
        self.net.train()
        return acc


#: Metrics-row keys holding the architecture (not figures): α per cell type, and the rest of `arch_state`.
ARCH_KEYS = ("alphas", "arch_state")


def arch_state_row(method: Method) -> dict[str, Any]:
    """The epoch's architecture for its metrics row: `alphas` (cell type → α, what plots read) and, for
    methods with more, `arch_state` (every other `Method.arch_state` entry by name: β, concentrations)."""
    row: dict[str, Any] = {"alphas": {t: a.detach().cpu().tolist() for t, a in method.net.alphas.items()}}
    rest = {k: v.detach().cpu().tolist() for k, v in method.arch_state().items() if not k.startswith("alpha.")}
    if rest:
        row["arch_state"] = rest
    return row


def _progress(total: int, description: str, enabled: bool):
    if not enabled or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=description, leave=False, dynamic_ncols=True)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def _epoch_line(row: dict[str, Any]) -> str:
    parts = []
    for key in (
        "train_loss",
        "train_acc",
        "valid_loss",
        "eval_valid_acc",
        "skip_normal",
        "skip_cell",
        "eigenvalue",
        "gt_cifar10_test",
    ):
        if row.get(key) is not None:
            parts.append(f"{key} {row[key]:.3f}" if isinstance(row[key], float) else f"{key} {row[key]}")
    parts.append(f"{row['epoch_seconds']:.1f}s")
    return "  ".join(parts)


def execute(
    config: RunConfig,
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
    """Run (or skip, or resume) one configuration; failures are recorded and reported, never raised.

    The run directory is locked first, before anything is written: a second process on the same
    results directory gets `locked` and goes on to the next run. Only KeyboardInterrupt ends a suite.
    `attempt`: which start of this run this is (executors retry crashed workers); kept in failed.json.
    """
    report = report or (lambda message: None)
    record = RunRecord(results_dir / config.relative_dir())
    lock = claim(config, record, report)
    if isinstance(lock, RunOutcome):
        return lock
    with lock:
        outcome = _execute_held(
            config, record, results_dir, data_dir, device, report, progress, rerun_stale, position, attempt
        )
    return dataclasses.replace(outcome, attempts=attempt)


def claim(config: RunConfig, record: RunRecord, report: Reporter) -> RunLock | RunOutcome:
    """The run directory's lock, taken before anything is written; or the outcome when it cannot be had
    (`locked`: another process holds it; `failed`: the directory cannot be created)."""
    try:
        return record.lock()
    except RunLocked as held:
        reason = f"held by another process ({held.holder}); skipped here"
        return RunOutcome(config, record.dir, "locked", reason=reason)
    except OSError as err:
        reason = f"cannot create the run directory {record.dir}: {_os_error(err)}"
        report(f"failed: {reason}")
        return RunOutcome(config, record.dir, "failed", reason=reason)


def _execute_held(
    config: RunConfig,
    record: RunRecord,
    results_dir: Path,
    data_dir: Path,
    device: torch.device,
    report: Reporter,
    progress: bool,
    rerun_stale: bool,
    position: str,
    attempt: int,
) -> RunOutcome:
    settled = settle_finished(config, record, report, rerun_stale)
    if settled is not None:
        return settled
    started = time.time()
    try:
        return SearchRun(config, results_dir, data_dir, device, report, progress, position).run()
    except Exception as err:  # anything else a run raises is recorded; the suite goes on
        return record_failure(config, record, err, report, attempt, started)


def settle_finished(config: RunConfig, record: RunRecord, report: Reporter, rerun_stale: bool) -> RunOutcome | None:
    """The outcome of a run that needs no training (finished earlier, or stale and kept), or None to train it
    (a stale run with `rerun_stale` has its old record moved aside first). The run's lock is held."""
    if not record.is_finished():
        return None
    stale = stale_reason(record)
    if stale is None:
        return RunOutcome(config, record.dir, "skipped", reason="finished earlier (same config hash)")
    if not rerun_stale:
        return RunOutcome(config, record.dir, "stale", reason=f"{stale}; kept (--rerun-stale reruns it)")
    try:
        moved = record.move_aside()
    except OSError as err:
        reason = f"--rerun-stale could not move the old record of {record.dir} aside: {_os_error(err)}"
        return RunOutcome(config, record.dir, "failed", reason=reason)
    report(f"stale: {stale}; moved the old record to {moved} and running again")
    return None


def record_failure(
    config: RunConfig, record: RunRecord, err: Exception, report: Reporter, attempt: int, started: float, **extra: str
) -> RunOutcome:
    """failed.json for an exception the run raised (with its traceback, and `extra` keys such as the job's
    `kind`), and the failed outcome."""
    reason = _failure_reason(err)
    failure = {
        "status": "failed",
        **extra,
        "reason": reason,
        "traceback": "".join(traceback.format_exception(err)),
        "config": config.model_dump(mode="json"),
        "config_hash": config.config_hash(),
        "attempt": attempt,
    }
    try:
        record.write_failure(failure)
    except OSError as os_err:
        report(f"failed: {reason}. The failure record could not be written either: {_os_error(os_err)}")
    else:
        report(f"failure recorded, with its traceback, in {record.dir / FAILED}")
    return RunOutcome(config, record.dir, "failed", reason=reason, seconds=time.time() - started)


def _is_out_of_memory(err: BaseException) -> bool:
    return isinstance(err, (MemoryError, torch.cuda.OutOfMemoryError)) or (
        isinstance(err, RuntimeError) and "out of memory" in str(err).lower()
    )


def _os_error(err: OSError) -> str:
    where = f" ({err.filename})" if err.filename else ""
    code = f"{errno.errorcode.get(err.errno, err.errno)}: " if err.errno else ""
    return f"{code}{err.strerror or err}{where}"


def _failure_reason(err: Exception) -> str:
    """What failed, where, and what to do, for the console and failed.json."""
    if isinstance(err, (RunFailure, HarnessError)):
        return f"{type(err).__name__}: {err}"
    if _is_out_of_memory(err):
        return f"out of memory ({type(err).__name__}: {err}); lower train.batch_size or network.channels"
    if isinstance(err, OSError):
        fix = "free disk space" if err.errno == errno.ENOSPC else "check the path and its permissions"
        return (
            f"could not read or write a file: {_os_error(err)}; {fix} and run the suite again "
            "(the run resumes from its last checkpoint)"
        )
    frame = traceback.extract_tb(err.__traceback__)[-1] if err.__traceback__ else None
    at = f" at {frame.filename}:{frame.lineno}" if frame else ""
    return f"unexpected {type(err).__name__}{at}: {err} (a bug? the traceback is in {FAILED}; please report it)"
