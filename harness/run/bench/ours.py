"""The harness's own training and scoring, timed exactly as a cell runs them."""

from __future__ import annotations

from typing import Any

import torch

from harness.engine.evaluator import score_architectures, scoring_autocast
from harness.engine.step import Tally, train_step
from harness.run.bench.setup import Plan, build_setup, forever, timed


def ours_training(plan: Plan, steps: int, warmup: int) -> float:
    """Seconds for ``steps`` timed steps of ``harness.engine.step.train_step`` (after ``warmup`` untimed ones)."""
    device = torch.device(plan.device)
    setup = build_setup(plan, device, warmup + steps)
    setup.trainer.model.train()
    batches, tally = forever(setup.data.train), Tally.zeros(device)
    return timed(lambda i: train_step(setup.trainer, i, next(batches), tally=tally), warmup, steps, device)


def ours_scoring(plan: Plan, archs: list[Any], warmup: int) -> float:
    """Seconds to score ``archs`` as a snapshot does (after ``warmup`` of them untimed)."""
    device = torch.device(plan.device)
    setup = build_setup(plan, device, 1)
    p, t = plan.protocol, setup.trainer
    data = setup.data

    def score(batch: list[Any]) -> None:
        ids = [setup.space.arch_id(a) for a in batch]
        score_architectures(
            t.model, batch, ids, data.eval_batches, p.bn_mode, data.calib_batches, autocast=scoring_autocast(p), task=t.task
        )

    if warmup:
        score(archs[:warmup])
    return timed(lambda i: score(archs), 0, 1, device)
