"""The static step in the bench: eager, and captured as CUDA graphs (``Protocol.step = "static"``).

*static* is ``harness.engine.step.train_step`` on the static plan (every candidate op, masked;
``harness.engine.static_step``), timed as *ours* is. *static + graph* replays the step as two CUDA
graphs, which only the static step allows (what it launches does not depend on the path). A step:

1. host: the batch copied into the captured input tensors, the path's mask written in place;
2. graph A: the gates, the masked forward, the loss, the backward, gradient clipping, and the copy
   of what the update may have to put back;
3. eager: the optimizer's update (its learning rate changes every step and torch's SGD takes it as
   a host number, so it stays outside the graph: a handful of multi-tensor launches);
4. graph B: the put-back of the parameters and momenta off the gates.

Without a GPU, ``GraphedStep(capture=False)`` runs the same four parts eagerly: the tests check on a
CPU that this split trains what ``train_step`` trains.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from harness.api.errors import WsbenchError
from harness.engine.step import optimizer_step, train_step
from harness.run.bench.setup import Plan, Setup, build_setup, forever, timed

#: Eager steps before capture (cuDNN picks its algorithms, lazy state is made), on a side stream.
CAPTURE_WARMUP = 3


def static_plan(plan: Plan) -> Plan:
    """``plan`` with the static step."""
    return Plan(plan.space, plan.protocol.replace(step="static"), plan.device, plan.seed)


def static_training(plan: Plan, steps: int, warmup: int) -> float:
    """Seconds for ``steps`` timed static steps (``train_step``, as a cell takes them)."""
    device = torch.device(plan.device)
    setup = build_setup(static_plan(plan), device, warmup + steps)
    setup.trainer.model.train()
    batches = forever(setup.data.train)
    return timed(lambda i: train_step(setup.trainer, i, next(batches)), warmup, steps, device)


def graph_skip_reason(device: torch.device | str) -> str | None:
    """Why static + graph cannot run here (None: it can)."""
    if torch.device(device).type != "cuda":
        return f"CUDA graphs capture GPU kernels; this run is on {torch.device(device).type}"
    return None


def graphed_training(plan: Plan, steps: int, warmup: int) -> float:
    """Seconds for ``steps`` timed static steps replayed as CUDA graphs (after capture and ``warmup`` replays)."""
    device = torch.device(plan.device)
    setup = build_setup(static_plan(plan), device, CAPTURE_WARMUP + warmup + steps)
    batches = forever(setup.data.train)
    step = GraphedStep(setup, next(batches), capture=True)
    return timed(lambda i: step(step.first + i, next(batches)), warmup, steps, device)


class GraphedStep:
    """The static step as two replayable parts around the eager optimizer update (see the module docstring)."""

    def __init__(self, setup: Setup, batch: Any, capture: bool) -> None:
        t = setup.trainer
        if t.static is None:
            raise WsbenchError("a graphed step needs the static step (Protocol.step = 'static')")
        self.t, self.static = t, t.static
        t.model.train()
        self.x, self.y = batch[0].clone(), batch[1].clone()
        self.first = 0
        if capture:
            self._warm(setup, batch)
            self.forward_backward = _captured(self._compute, self._first_masks)
            self.put_back = _captured(self.static.restore)
        else:
            self.forward_backward = self._eager_compute
            self.put_back = self.static.restore

    def __call__(self, step: int, batch: Any) -> None:
        """One training step on ``batch``: host inputs, graph A, the eager update, graph B, the schedule."""
        t = self.t
        self.x.copy_(batch[0])
        self.y.copy_(batch[1])
        t.strategy.before_step(step, t.model, t.opt)
        paths = t.strategy.paths(step)
        if len(paths) != 1:
            raise WsbenchError(f"a graphed step trains one path per step (it was captured so); the strategy gave {len(paths)}")
        self.static.write_masks(paths)
        self.forward_backward()
        optimizer_step(t.opt, t.task.lr_factor(batch))
        self.put_back()
        t.sched.step()

    def _compute(self) -> None:
        """Graph A: gates, masked forward, loss, backward, clipping, the copy before the update."""
        t = self.t
        self.static.compute_gates()
        with _autocast(self.x.device, t.autocast):
            loss = t.task.loss(self.static.forward(self.x, 0), self.y)
        loss.backward()
        if t.grad_clip:
            nn.utils.clip_grad_norm_(t.params, t.grad_clip)
        self.static.save()

    def _eager_compute(self) -> None:
        # A captured backward writes fresh gradients on every replay; eagerly, clear them first.
        self.t.opt.zero_grad(set_to_none=True)
        self._compute()

    def _warm(self, setup: Setup, batch: Any) -> None:
        """Eager static steps on a side stream (as the CUDA-graphs recipe asks), then gradients unset, so
        the captured backward allocates them from the graph's pool."""
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for i in range(CAPTURE_WARMUP):
                train_step(self.t, i, batch)
        torch.cuda.current_stream().wait_stream(side)
        self.first = CAPTURE_WARMUP
        self.t.opt.zero_grad(set_to_none=True)

    def _first_masks(self) -> None:
        self.static.write_masks(self.t.strategy.paths(self.first))
        self.first += 1


def _captured(fn: Callable[[], None], before: Callable[[], None] | None = None) -> Callable[[], None]:
    """``fn`` captured once as a CUDA graph (after ``before``, eager); returns its replay."""
    if before is not None:
        before()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return graph.replay


def _autocast(device: torch.device, autocast: str | None) -> contextlib.AbstractContextManager:
    """bf16 autocast without its cast cache (a cache filled at capture would not be refilled by a replay)."""
    if autocast is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=False)
