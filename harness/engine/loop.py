"""One matrix cell end to end: train a supernet with a strategy, snapshot, score, compare.

The harness owns the loop; the strategy only chooses paths and the task supplies data, loss and
scores; one step is ``harness.engine.step.train_step``. A cell checkpoints after every epoch
(weights, optimizer, schedule and every random stream) so it resumes exactly where it stopped,
e.g. across 10-minute GPU calls. Its outputs are written through ``harness.engine.run_folder``
(the folder's layout, sealing and reading live there).
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from harness.api.errors import WsbenchError
from harness.api.ground_truth import GroundTruthTable
from harness.api.protocol import Protocol
from harness.api.strategy import Strategy
from harness.api.task import CellData, Task
from harness.catalog import task_of
from harness.engine.archsets import build_archset
from harness.engine.cell import CellSpec, provenance, require_device
from harness.engine.determinism import for_the_cell
from harness.engine.evaluator import score_architectures, scoring_autocast
from harness.engine.integrity import ABSENT, DAMAGED, FINISHED
from harness.engine.reuse import IDENTITY_KEY, check_reuse
from harness.engine.run_folder import CHECKPOINT, SUPERNET, RunFolder
from harness.engine.schedule import averaged_weights, effective_schedule, switched_to_asgd
from harness.engine.scoring import available_ground_truths, selected_summary, snapshot_metrics
from harness.engine.step import Tally, Trainer, train_step, trainer_for
from harness.engine.validation import Validation, after_validation, due, restore_best, validate, validation_archs
from harness.seeding import numpy_stream, stream_seed
from harness.settings import results_dir, writable_folder

__all__ = ["CellSpec", "TrainingDiverged", "effective_schedule", "run_cell"]


class TrainingDiverged(WsbenchError):
    """The training loss became NaN or infinite."""


@dataclass
class Cell:
    """A prepared cell: everything the epochs need, built once from its spec."""

    spec: CellSpec
    out: Path
    device: torch.device
    space: Any
    task: Task
    strategy: Strategy
    tables: list[GroundTruthTable]
    data: CellData
    archs: list[Any]
    arch_ids: list[str]
    trainer: Trainer
    epochs: int
    snapshot_epochs: tuple[int, ...]
    config: dict[str, Any]
    validation_archs: list[Any] = field(default_factory=list)

    @property
    def folder(self) -> RunFolder:
        """The cell's folder (``harness.engine.run_folder``)."""
        return RunFolder(self.out)

    @property
    def model(self) -> nn.Module:
        """The trained (and scored) module."""
        return self.trainer.model

    @property
    def opt(self) -> torch.optim.Optimizer:
        """The weight optimizer."""
        return self.trainer.opt

    @property
    def sched(self) -> Any:
        """The learning-rate schedule."""
        return self.trainer.sched


@dataclass
class Progress:
    """What changes from epoch to epoch (and is checkpointed)."""

    epoch: int = 0
    step: int = 0
    log_rows: list[dict[str, Any]] = field(default_factory=list)
    metric_rows: list[dict[str, Any]] = field(default_factory=list)
    validation: Validation = field(default_factory=Validation)


@for_the_cell  # deterministic kernels for the whole cell when its protocol asks (Protocol.deterministic)
def run_cell(
    spec: CellSpec, root: Path | None = None, progress: bool = False, log=print, redo_stale_data: bool = False
) -> dict[str, Any]:
    """Train, snapshot, score and write one cell; resumes from its checkpoint; skips if finished.

    A finished or interrupted cell is reused only for the data it was trained on
    (``harness.engine.reuse``): other data is a one-line error, or with ``redo_stale_data`` its
    outputs are moved aside and it trains again.
    """
    writable_folder(root if root is not None else results_dir(), "results folder")
    out = spec.run_dir(root)
    folder = RunFolder(out)
    outputs, reason = folder.state()
    if outputs == FINISHED or (outputs == ABSENT and (out / CHECKPOINT).exists()):
        reusable = check_reuse(spec, out, outputs == FINISHED, redo_stale_data, log)
        if outputs == FINISHED and reusable:
            return folder.result()
    cell = prepare(spec, out)
    if outputs == DAMAGED:  # a finished cell whose files no longer validate: keep them aside, run again
        log(f"{out.name}: damaged ({reason}); its files moved to {folder.set_aside(reason).name}, running it again")
    folder.write_config(cell.config)
    state = resume(cell, log)
    for epoch in range(state.epoch, cell.epochs):
        row = train_epoch(cell, state, epoch)
        row.update(_validation_pass(cell, state, epoch + 1))
        if epoch + 1 in cell.snapshot_epochs:
            row["score_seconds"] = snapshot(cell, state, epoch + 1, progress)
        state.log_rows.append(row)
        log(_epoch_line(cell, row))
        state.epoch = epoch + 1
        cell.folder.save(CHECKPOINT, checkpoint_state(cell, state))
    return finish(cell, state)


def prepare(spec: CellSpec, out: Path) -> Cell:
    """Build the cell's space, task, strategy, ground truths, data, archset, model and optimizer.

    The order is fixed (it decides which random stream is drawn when); nothing is written yet.
    """
    from harness.catalog import SPACES, STRATEGIES

    device, p = torch.device(spec.device), spec.protocol
    require_device(device)
    space = SPACES.get(spec.space)
    task = task_of(space, p.task)
    task.check_protocol(p)
    task = task.configure(p)
    # Validate the strategy (name, options, what it needs of the space) before anything is written.
    strategy = STRATEGIES.get(spec.strategy)(space, numpy_stream(spec.seed, "arch"), **spec.strategy_options)
    # Without a ground truth (none on this data set, or its files absent) a cell still measures
    # what it can: ranking stability across snapshots and seeds; the report says what is missing.
    tables, skipped = available_ground_truths(spec.space, spec.resolved_ground_truths())
    for gt in spec.missing_ground_truths():
        why = f"{spec.space}/{gt[0]}: measured on {gt[1]}, while this cell trains on {task.dataset}"
        skipped += [why] if why not in skipped else []
    config = {**spec.config(), "cell_hash": spec.cell_hash(), "provenance": provenance(device)}
    config["ground_truth_fingerprints"] = {t.query.label(): t.fingerprint for t in tables}
    config["ground_truths_skipped"] = skipped
    data = task.make_data(p, spec.seed, device, arch_half=strategy.needs_arch_data)
    config["data"] = {**data.info, "n_train": data.n_train, "n_eval": data.n_eval, "n_arch_train": data.n_arch_train}
    # Checked when the cell is reused (harness.engine.reuse); not part of the cell hash.
    config[IDENTITY_KEY] = task.data_identity(p).to_dict()
    archs = build_archset(space, p.archset, p.archset_n, p.archset_seed, p.archset_source)
    model = space.build_supernet(p.network_for(space), task.spec(), seed=stream_seed(spec.seed, "init")).to(device)
    if p.channels_last:
        model = model.to(memory_format=torch.channels_last)
    training = _training(p, strategy, task, model, data)
    config["schedule"] = training.pop("schedule")
    return Cell(
        spec,
        out,
        device,
        space,
        task,
        strategy,
        tables,
        data,
        archs,
        [space.arch_id(a) for a in archs],
        **training,
        config=config,
        validation_archs=validation_archs(space, p) if p.validate_every else [],
    )


def _training(p: Protocol, strategy: Strategy, task: Task, model: nn.Module, data: CellData) -> dict[str, Any]:
    """The cell's trainer (module, parameters, optimizer, schedule) and its (equal-compute) epochs."""
    steps_per_epoch = len(data.train)
    if steps_per_epoch < 1:  # e.g. a bi-level strategy's half of a small subset
        raise WsbenchError(
            f"protocol {p.name!r}: batch_size {p.batch_size} exceeds the {data.n_train} images this cell trains its "
            "weights on: no training step would run; lower batch_size or raise subset"
        )
    # SPOS's steps per epoch run over the whole training part; bi-level strategies see only half.
    full_steps = data.full_epoch_steps or (data.n_train + data.n_arch_train) // p.batch_size
    epochs, snapshot_epochs = effective_schedule(p, strategy.paths_per_step, steps_per_epoch / max(1, full_steps))
    model = strategy.bind(model, steps_per_epoch, epochs)  # e.g. few-shot: one copy per sub-supernet
    schedule = {
        "epochs": epochs,
        "snapshot_epochs": list(snapshot_epochs),
        "paths_per_step": strategy.paths_per_step,
        "path_passes": epochs * steps_per_epoch * strategy.paths_per_step,  # forward/backward passes of one path
    }
    trainer = trainer_for(p, model, strategy, task, steps_per_epoch, epochs)
    return {"trainer": trainer, "epochs": epochs, "snapshot_epochs": snapshot_epochs, "schedule": schedule}


def checkpoint_state(cell: Cell, state: Progress) -> dict[str, Any]:
    """The contents of ``checkpoint.pt``: weights, optimizer, schedule, strategy, data streams, progress."""
    return {
        "model": cell.model.state_dict(),
        "optimizer": cell.opt.state_dict(),
        "scheduler": cell.sched.state_dict(),
        "strategy": cell.strategy.state_dict(),
        **cell.data.state_dict(),
        "epoch": state.epoch,
        "step": state.step,
        "log": state.log_rows,
        "metrics": state.metric_rows,
        "validation": state.validation.state_dict(),
        # With zero_grad = "zeros", which parameters hold a (zeroed) gradient decides whether weight decay
        # and momentum move them: a resumed cell must hold the same ones.
        "grads_held": cell.trainer.grads_held(),
    }


def resume(cell: Cell, log) -> Progress:
    """The progress of an interrupted run restored from its checkpoint, or a fresh start."""
    if not (cell.out / CHECKPOINT).exists():
        return Progress()
    try:
        ck = cell.folder.load(CHECKPOINT, cell.device)
    except Exception as e:  # noqa: BLE001 - torch raises many types for a truncated or garbage file
        where = cell.folder.set_aside(f"checkpoint.pt unreadable: {type(e).__name__}", names=(CHECKPOINT,))
        log(f"{cell.out.name}: checkpoint.pt is unreadable ({type(e).__name__}); moved to {where.name}, starting over")
        return Progress()
    validation = Validation.from_state(ck.get("validation"))
    if validation.switched_at is not None:  # nt-asgd had switched: the optimizer to restore is averaged SGD
        t = cell.trainer
        t.opt, t.sched = switched_to_asgd(cell.spec.protocol, t.params, t.sched, validation.switched_at)
    cell.model.load_state_dict(ck["model"])
    cell.opt.load_state_dict(ck["optimizer"])
    cell.sched.load_state_dict(ck["scheduler"])
    cell.strategy.load_state_dict(ck["strategy"])
    cell.data.load_state_dict(ck)
    cell.trainer.hold_grads(ck.get("grads_held", []))
    log(f"resuming {cell.out.name} at epoch {ck['epoch']}")
    return Progress(ck["epoch"], ck["step"], ck["log"], ck["metrics"], validation)


def train_epoch(cell: Cell, state: Progress, epoch: int) -> dict[str, Any]:
    """One epoch of supernet training (``harness.engine.step.train_step`` per batch); returns its log row."""
    t0 = time.perf_counter()
    cell.model.train()
    tally = Tally.zeros(cell.device)
    arch_batches = iter(cell.data.arch_train) if cell.data.arch_train is not None else None
    for batch in cell.data.train:
        # Both halves have the same number of batches.
        arch_batch = next(arch_batches) if arch_batches is not None else None
        train_step(cell.trainer, state.step, batch, arch_batch, tally)
        state.step += 1
    train_loss = float(tally.loss_sum) / max(1, tally.seen)
    if not math.isfinite(train_loss):
        raise TrainingDiverged(f"training loss became {train_loss} in epoch {epoch + 1} of {cell.out.name}")
    row = {
        "epoch": epoch + 1,
        "step": state.step,
        "train_loss": train_loss,
        "train_acc": 100.0 * float(tally.correct) / max(1, tally.path_samples),
        "lr": cell.sched.get_last_lr()[0],
        "seconds": time.perf_counter() - t0,
    }
    chosen = cell.strategy.selected()
    if chosen is not None:
        row["selected_arch"] = cell.space.arch_id(chosen)
    return row


def snapshot(cell: Cell, state: Progress, epoch: int, progress: bool) -> float:
    """Score the architecture set, write its score file and the metrics so far; returns the seconds taken."""
    t1 = time.perf_counter()
    with _scored_weights(cell, state):
        scores = _score(cell, progress)
    scores.insert(0, "epoch", epoch)
    cell.folder.write_scores(epoch, scores)
    state.metric_rows.extend(snapshot_metrics(scores, cell.tables, epoch, cell.task.score_fields))
    # Written at every snapshot, so a cell cut short (e.g. by the end of a GPU lease) can still be
    # reported with ``wsbench report --partial``.
    cell.folder.write_metrics(state.metric_rows)
    return time.perf_counter() - t1


def _validation_pass(cell: Cell, state: Progress, epoch: int) -> dict[str, Any]:
    """The per-epoch hook: a validation pass when the protocol asks for one, its decisions, its log fields."""
    p = cell.spec.protocol
    if not due(p, epoch, cell.epochs):
        return {}
    value = validate(
        cell.trainer, cell.task, p, cell.validation_archs, [cell.space.arch_id(a) for a in cell.validation_archs], cell.data
    )
    row = after_validation(state.validation, cell.trainer, cell.task, p, value, epoch, state.step)
    if p.restore_best and epoch == cell.epochs:
        row["restored_best"] = restore_best(state.validation, cell.trainer)
    return row


def _scored_weights(cell: Cell, state: Progress) -> contextlib.AbstractContextManager:
    """The weights a snapshot scores: averaged SGD's average, unless the best validated weights are loaded."""
    return contextlib.nullcontext() if state.validation.restored else averaged_weights(cell.opt)


def _score(cell: Cell, progress: bool) -> pd.DataFrame:
    p = cell.spec.protocol
    return score_architectures(
        cell.model,
        cell.archs,
        cell.arch_ids,
        cell.data.eval_batches,
        p.bn_mode,
        cell.data.calib_batches,
        progress=progress,
        autocast=scoring_autocast(p),
        task=cell.task,
    )


def finish(cell: Cell, state: Progress) -> dict[str, Any]:
    """Write the final logs, the shared weights and ``result.json`` (last); drop the checkpoint."""
    out, rows = cell.out, state.log_rows
    cell.folder.write_train_log(rows)
    cell.folder.write_metrics(state.metric_rows)
    # Keep the final shared weights for later re-scoring; the resume point (optimizer etc.) goes.
    with _scored_weights(cell, state):  # the weights that were scored
        cell.folder.save(SUPERNET, cell.model.state_dict())
    result = {
        "cell_hash": cell.config["cell_hash"],
        "run_dir": str(out),
        "epochs": cell.epochs,
        "steps": state.step,
        "path_passes": cell.config["schedule"]["path_passes"],
        "seconds_per_epoch": float(np.mean([r["seconds"] for r in rows])) if rows else None,
        "n_archs": len(cell.archs),
        "metrics": state.metric_rows,
    }
    chosen = cell.strategy.selected()
    if chosen is not None:
        result["selected"] = selected_summary(cell.space.arch_id(chosen), cell.tables)
    result = cell.folder.seal(result)  # last: the cell is finished iff result.json validates
    (out / CHECKPOINT).unlink(missing_ok=True)
    return result


def _epoch_line(cell: Cell, row: dict[str, Any]) -> str:
    scored = f" scored {len(cell.archs)} archs in {row['score_seconds']:.1f}s" if "score_seconds" in row else ""
    return (
        f"{cell.out.name} epoch {row['epoch']}/{cell.epochs} loss {row['train_loss']:.3f} "
        f"acc {row['train_acc']:.1f} {row['seconds']:.1f}s" + scored
    )
