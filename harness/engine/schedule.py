"""Training schedules: the weight optimizer, equal-compute epochs per strategy and the per-step cosine learning rate."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

from harness.api.protocol import Protocol


def effective_schedule(p: Protocol, paths_per_step: float, epoch_fraction: float = 1.0) -> tuple[int, tuple[int, ...]]:
    """Epochs and snapshot epochs a strategy runs under equal compute (path passes of SPOS's schedule).

    ``paths_per_step``: forward/backward passes per step relative to SPOS. ``epoch_fraction``: the
    strategy's steps per epoch relative to SPOS's (bi-level strategies train the weights on half the
    images, so their epoch is half as long and they run twice the epochs for the same compute).
    """
    scale = float(paths_per_step) * float(epoch_fraction)
    if not p.equal_compute or scale == 1:
        return p.epochs, tuple(p.snapshot_epochs)
    epochs = max(1, round(p.epochs / scale))
    snaps = tuple(sorted({min(epochs, max(1, round(e / scale))) for e in p.snapshot_epochs}))
    return epochs, snaps


def cosine_lr(protocol: Protocol, total_steps: int) -> Callable[[int], float]:
    """The LambdaLR factor of a per-step cosine from ``lr`` to ``lr_min`` over ``total_steps``.

    With ``warmup_epochs``, the first ``warmup_epochs / epochs`` of the steps ramp linearly up to
    ``lr`` (step k at (k + 1) / warm-up steps), and the cosine runs over the remaining steps. With
    ``lr_restarts``, those steps are ``lr_restarts + 1`` equal cycles, each restarting at ``lr``.
    """
    warmup = round(total_steps * protocol.warmup_epochs / protocol.epochs)
    span = max(1, total_steps - warmup)
    cycles = protocol.lr_restarts + 1

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        # Position in the run's cosine part, in cycles; the fraction is the position in the current
        # cycle (exactly the single cosine's t when cycles == 1, so old cells keep their numbers).
        u = min(step - warmup, span) / span * cycles
        t = 1.0 if u >= cycles else u - math.floor(u)
        return (protocol.lr_min + 0.5 * (protocol.lr - protocol.lr_min) * (1 + math.cos(math.pi * t))) / protocol.lr

    return factor


def build_optimizer(p: Protocol, params: Sequence[torch.nn.Parameter], steps_per_epoch: int = 1) -> torch.optim.Optimizer:
    """The weight optimizer a protocol names (``Protocol.optimizer``, checked against ``OPTIMIZERS``).

    ``asgd``: torch's ASGD with ``lambd = 0`` (a constant step size: the LR schedule still applies),
    averaging the iterates after step ``t0 + 1`` with ``t0 = asgd_start_epoch * steps_per_epoch``
    (torch's convention) -- AWD-LSTM's averaged SGD at a fixed switch point (AWD-LSTM and the seed
    paper switch when validation stalls, which needs validation during training).
    """
    if p.optimizer in ("sgd", "nt-asgd"):  # nt-asgd starts as SGD (``switched_to_asgd``)
        return torch.optim.SGD(params, lr=p.lr, momentum=p.momentum, nesterov=p.nesterov, weight_decay=p.weight_decay)
    if p.optimizer == "asgd":
        t0 = p.asgd_start_epoch * steps_per_epoch
        return torch.optim.ASGD(params, lr=p.lr, lambd=0.0, alpha=0.75, t0=t0, weight_decay=p.weight_decay)
    raise AssertionError(f"optimizer {p.optimizer!r} passed the protocol check but has no builder")


def switched_to_asgd(p: Protocol, params: Sequence[torch.nn.Parameter], sched: Any, step: int) -> tuple[Any, Any]:
    """nt-asgd's switch at ``step``: a fresh averaged SGD (averaging from its first step, constant step
    size, as AWD-LSTM's ``ASGD(t0=0, lambd=0)``) and the same learning-rate schedule, continued."""
    opt = torch.optim.ASGD(params, lr=p.lr, lambd=0.0, alpha=0.75, t0=0.0, weight_decay=p.weight_decay)
    factor = sched.lr_lambdas[0]
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda s: factor(s + step))


@contextlib.contextmanager
def averaged_weights(opt: torch.optim.Optimizer) -> Iterator[None]:
    """Inside: the parameters hold ASGD's running average (what an averaged-SGD model is scored with);
    restored on exit. A no-op for other optimizers and before the first step."""
    saved = []
    if isinstance(opt, torch.optim.ASGD):
        with torch.no_grad():
            for group in opt.param_groups:
                for q in group["params"]:
                    ax = opt.state.get(q, {}).get("ax")
                    if ax is not None:
                        saved.append((q, q.detach().clone()))
                        q.copy_(ax)
    try:
        yield
    finally:
        with torch.no_grad():
            for q, value in saved:
                q.copy_(value)
