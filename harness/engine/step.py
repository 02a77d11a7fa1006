"""The training step: one place that says what one optimizer update of a supernet is.

The cell loop (``harness.engine.loop``), ``wsbench bench`` and the contract tests all call
``train_step``; nothing else takes a step. In order: the strategy's ``before_step`` hook, its
architecture update on a held-out batch (bi-level strategies), the paths it trains (each expanded
into the supernet's own training views), every path's loss (``Strategy.path_loss``) divided by the
number of paths and back-propagated, per-path feedback (``observe``), gradient clipping, the
optimizer and the learning-rate schedule. ``build_training`` makes the optimizer and schedule a
protocol names, so the bench and the loop train with the same settings. With ``Protocol.step =
"static"`` the paths run the supernet's masked forward and the update puts back what the ordinary
step would not have moved (``harness.engine.static_step``); everything else is this same step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from harness.api.protocol import Protocol
from harness.api.strategy import Strategy
from harness.api.task import Batch, Task
from harness.engine.evaluator import precision
from harness.engine.schedule import build_optimizer, cosine_lr
from harness.engine.static_step import StaticStep


@dataclass
class Trainer:
    """What a step touches: the trained module and its parameters, strategy, task, optimizer and schedule."""

    model: nn.Module
    params: list[nn.Parameter]
    strategy: Strategy
    task: Task
    opt: torch.optim.Optimizer
    sched: Any
    grad_clip: float | None = None
    autocast: str | None = None
    #: ``zero_grad(set_to_none=...)``: True leaves ops off the path untouched; False zeroes their
    #: gradients, so weight decay and momentum still move them (``Protocol.zero_grad``).
    set_to_none: bool = True
    #: The static step's masks and gates (``Protocol.step = "static"``); None: the ordinary step.
    static: StaticStep | None = None

    def grads_held(self) -> list[bool]:
        """Per parameter, whether it holds a gradient the ordinary step's ``zero_grad`` keeps (the resume point)."""
        held = self.static.held(self.params) if self.static is not None else [None] * len(self.params)
        aside = {id(q) for q in self.strategy.held_aside()}  # e.g. few-shot's idle copies, out of one step
        return [(q.grad is not None or id(q) in aside) if h is None else h for q, h in zip(self.params, held)]

    def hold_grads(self, held: Sequence[bool]) -> None:
        """Restore ``grads_held`` of a resumed cell: with ``zero_grad = "zeros"`` those gradients are zeros
        (weight decay and momentum move them) and, in the static step, those ops count as trained."""
        if self.static is not None:
            self.static.hold(self.params, held)
        for q, h in zip(self.params, held):
            if h and not self.set_to_none:
                q.grad = torch.zeros_like(q)


@dataclass
class Tally:
    """An epoch's running totals, kept on the device (no synchronisation per step)."""

    loss_sum: torch.Tensor
    correct: torch.Tensor
    seen: int = 0
    #: Examples x paths: the denominator of the path-averaged training accuracy.
    path_samples: int = 0
    steps: int = field(default=0)

    @classmethod
    def zeros(cls, device: torch.device) -> Tally:
        """Empty totals on ``device``."""
        return cls(torch.zeros((), device=device), torch.zeros((), device=device))


def trainer_for(p: Protocol, model: nn.Module, strategy: Strategy, task: Task, steps_per_epoch: int, epochs: int) -> Trainer:
    """The trainer a protocol makes: its optimizer, schedule, clipping, autocast and off-path gradients."""
    params, opt, sched = build_training(p, model, steps_per_epoch, epochs)
    static = StaticStep(model, strategy, opt, zeros=p.zero_grad == "zeros") if p.step == "static" else None
    return Trainer(model, params, strategy, task, opt, sched, p.grad_clip, p.autocast, p.zero_grad == "none", static)


def build_training(p: Protocol, model: nn.Module, steps_per_epoch: int, epochs: int) -> tuple[list[nn.Parameter], Any, Any]:
    """The trained parameters, the protocol's optimizer and its per-step cosine schedule over ``epochs``."""
    params = [q for q in model.parameters() if q.requires_grad]
    opt = build_optimizer(p, params, steps_per_epoch)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine_lr(p, epochs * steps_per_epoch))
    return params, opt, sched


def train_step(t: Trainer, step: int, batch: Batch, arch_batch: Batch | None = None, tally: Tally | None = None) -> None:
    """One optimizer update at ``step`` on ``batch`` (and ``arch_batch`` for a bi-level strategy)."""
    x, y = batch
    device = y.device
    t.strategy.before_step(step, t.model, t.opt)
    if arch_batch is not None:
        with precision(device, t.autocast):
            t.strategy.arch_step(step, t.model, arch_batch[0], arch_batch[1], t.task.loss)
    # The static step gives every parameter a gradient (zero off the path): none to keep from the last step.
    t.opt.zero_grad(set_to_none=t.set_to_none or t.static is not None)
    with precision(device, t.autocast):
        trained = training_views(t.model, t.strategy.paths(step), x, y, t.task.loss)
    if t.static is not None:
        t.static.load(trained)
    for i, arch in enumerate(trained):
        _train_path(t, step, i, arch, x, y, len(trained), tally)
    if t.grad_clip:
        nn.utils.clip_grad_norm_(t.params, t.grad_clip)
    lr_factor = t.task.lr_factor(batch)
    if t.static is None:
        optimizer_step(t.opt, lr_factor)
    else:
        t.static.update(lambda: optimizer_step(t.opt, lr_factor))
    t.sched.step()
    if tally is not None:
        tally.seen += len(y)
        tally.steps += 1


def optimizer_step(opt: torch.optim.Optimizer, lr_factor: float) -> None:
    """The optimizer's update, its learning rate scaled by ``lr_factor`` for this step only
    (DARTS-PTB scales it by the window length; 1.0 everywhere else, which touches nothing)."""
    if lr_factor == 1.0:
        opt.step()
        return
    base = [group["lr"] for group in opt.param_groups]
    for group, lr in zip(opt.param_groups, base):
        group["lr"] = lr * lr_factor
    opt.step()
    for group, lr in zip(opt.param_groups, base):
        group["lr"] = lr


def _train_path(t: Trainer, step: int, i: int, arch: Any, x: Any, y: torch.Tensor, paths: int, tally: Tally | None) -> None:
    """Forward and backward of path ``i``, its loss scaled by 1 / paths (the step averages the paths)."""
    with precision(y.device, t.autocast):
        output = t.model(x, arch) if t.static is None else t.static.forward(x, i)
        loss = t.strategy.path_loss(arch, output, y, t.task) / paths
    loss.backward()
    if tally is None and not t.strategy.wants_feedback:
        return
    hits = t.task.correct(output, y)
    if tally is not None:
        tally.loss_sum += loss.detach() * len(y)
        tally.correct += hits
        tally.path_samples += len(y)
    if t.strategy.wants_feedback:
        t.strategy.observe(step, arch, float(loss.detach()) * paths, 100.0 * float(hits) / len(y))


def training_views(model: nn.Module, paths: list[Any], x: Any, y: Any, loss: Any) -> list[Any]:
    """What one step trains: each path, or the views a supernet's own sharing rule makes of it
    (``training_views``: e.g. a width's left and right channels; their losses are averaged)."""
    expand = getattr(model, "training_views", None)
    if expand is None:
        return list(paths)
    return [view for arch in paths for view in expand(arch, x, y, loss)]
