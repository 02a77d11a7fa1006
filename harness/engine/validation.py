"""Validation during training: a per-epoch hook the loop calls, recorded in the cell's log.

Some recipes decide things while they train from a validation pass (the seed paper's DARTS-PTB
trainer, after AWD-LSTM): every ``validate_every`` epochs (and after the last) the shared weights
score a fixed set of ``validate_archs`` architectures on the cell's evaluation batches, and the
mean primary score is the validation value. With ``optimizer = "nt-asgd"`` the optimizer switches
from SGD to averaged SGD when that value has not improved for ``asgd_patience`` validations (the
non-monotone trigger); with ``restore_best`` the weights of the best validation are kept and are
what the last snapshot scores and ``supernet.pt`` holds. Under averaged SGD a validation scores the
averaged weights, as the reference does. Everything here is checkpointed, so a resumed cell makes
the same decisions.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from harness.api.protocol import Protocol
from harness.api.task import Task, oriented
from harness.engine.evaluator import score_architectures, scoring_autocast
from harness.engine.schedule import averaged_weights, switched_to_asgd
from harness.engine.step import Trainer
from harness.seeding import numpy_stream

#: A validation value at or above this (a diverged architecture's perplexity) is left out of the
#: mean, as the reference trainer's ``_average`` leaves it out.
DIVERGED = 1e6


@dataclass
class Validation:
    """What validation has decided so far (checkpointed with the cell)."""

    best: float = -math.inf  # oriented: higher is better
    patience: int = 0
    switched_at: int | None = None  # the step at which nt-asgd switched to averaged SGD
    best_weights: dict[str, Any] | None = None
    restored: bool = False  # the best weights are loaded: score them as they are, not their average
    history: list[dict[str, Any]] = field(default_factory=list)

    def state_dict(self) -> dict[str, Any]:
        """Everything, for ``checkpoint.pt``."""
        return dict(self.__dict__)

    @classmethod
    def from_state(cls, state: dict[str, Any] | None) -> Validation:
        """A Validation restored from ``state_dict`` (a fresh one for checkpoints without it)."""
        return cls(**state) if state else cls()


def validation_archs(space: Any, p: Protocol) -> list[Any]:
    """The fixed architectures a validation pass scores (the same for every seed and strategy)."""
    rng = numpy_stream(p.archset_seed, "validation")
    return [space.sample(rng) for _ in range(p.validate_archs)]


def due(p: Protocol, epoch: int, last_epoch: int) -> bool:
    """Whether a validation pass follows ``epoch`` (1-based)."""
    return bool(p.validate_every) and (epoch % p.validate_every == 0 or epoch == last_epoch)


def validate(t: Trainer, task: Task, p: Protocol, archs: list[Any], ids: list[str], data: Any) -> float:
    """The mean primary score of ``archs`` with the current (under ASGD: averaged) weights, as published."""
    field_ = task.primary()
    with averaged_weights(t.opt):
        scores = score_architectures(
            t.model, archs, ids, data.eval_batches, p.bn_mode, data.calib_batches, autocast=scoring_autocast(p), task=task
        )
    values = scores[field_.name].to_numpy(dtype=float)
    kept = values[np.isfinite(values) & (np.abs(values) < DIVERGED)]
    return float(kept.mean()) if kept.size else math.nan


def after_validation(v: Validation, t: Trainer, task: Task, p: Protocol, value: float, epoch: int, step: int) -> dict[str, Any]:
    """Update best, patience, the optimizer (nt-asgd) and the kept weights; returns the log fields."""
    score = float(oriented([value], task.primary())[0]) if math.isfinite(value) else -math.inf
    improved = score > v.best
    if improved:
        v.best, v.patience = score, 0
        if p.restore_best:
            with averaged_weights(t.opt):  # the reference keeps the weights it validated
                v.best_weights = _on_cpu(t.model.state_dict())
    else:
        v.patience += 1
    switched = p.optimizer == "nt-asgd" and v.switched_at is None and v.patience >= p.asgd_patience
    if switched:
        v.switched_at = step
        t.opt, t.sched = switched_to_asgd(p, t.params, t.sched, step)
    row = {f"valid_{task.primary().name}": value, "valid_improved": improved, "asgd": v.switched_at is not None}
    v.history.append({"epoch": epoch, **row})
    return row


def _on_cpu(state: Any) -> Any:
    """A deep copy of a state dict with every tensor on the CPU (kept beside training, checkpointed)."""
    if isinstance(state, torch.Tensor):
        return state.detach().cpu().clone()
    if isinstance(state, dict):
        return type(state)((k, _on_cpu(v)) for k, v in state.items())
    if isinstance(state, (list, tuple)):
        return type(state)(_on_cpu(v) for v in state)
    return copy.deepcopy(state)


def restore_best(v: Validation, t: Trainer) -> bool:
    """Load the best validation's weights into the model (once); False when there are none."""
    if v.best_weights is None or v.restored:
        return v.restored
    t.model.load_state_dict(copy.deepcopy(v.best_weights))
    v.restored = True
    return True
