"""k supernets stacked into one launch (``harness.engine.replicas``), timed beside k steps of ours.

Replica i is the plan's supernet and SPOS at seed ``plan.seed + i`` (own weights, own paths, own
synthetic batches), trained with zeroed off-path gradients as the stacked update supports both
semantics alike. A space without a masked forward, or a strategy/optimizer the stacked update
refuses, is skipped with the one-line reason.
"""

from __future__ import annotations

import dataclasses

import torch

from harness.engine.replicas import replica_step, replicas_for
from harness.run.bench.setup import Plan, build_setup, forever, timed


def replicas_training(plan: Plan, k: int, steps: int, warmup: int) -> float:
    """Seconds for ``steps`` timed stacked steps of ``k`` replicas (after ``warmup`` untimed ones)."""
    device = torch.device(plan.device)
    setups = [build_setup(dataclasses.replace(plan, seed=plan.seed + i), device, warmup + steps) for i in range(k)]
    first = setups[0].trainer
    r = replicas_for(
        plan.protocol, [s.trainer.model for s in setups], [s.trainer.strategy for s in setups], first.task, warmup + steps, 1
    )
    streams = [forever(s.data.train) for s in setups]

    def step(i: int) -> None:
        batches = [next(b) for b in streams]
        replica_step(r, i, torch.stack([b[0] for b in batches]), torch.stack([b[1] for b in batches]))

    return timed(step, warmup, steps, device)
