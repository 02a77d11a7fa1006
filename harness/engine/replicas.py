"""Several supernets per launch: k replicas of one supernet advanced together by one stacked step.

Each replica has its own initial weights (its seed), its own strategy (its path stream) and its own
batches. Their parameters, BN buffers and momenta are stacked on a leading replica dimension, and
one ``torch.func.vmap`` of ``functional_call`` runs every replica's forward: a small supernet leaves
an accelerator idle between kernels, and k replicas make every kernel k times wider (a convolution
over stacked weights becomes one grouped convolution).

Each replica trains its own path, and vmap cannot branch on a replica's values, so the supernet runs
its masked forward: every candidate op is computed and scaled by the replica's 0/1 ``path_mask``, so
an op off the path adds exact zeros and gets an exact zero gradient. Two things the ordinary step
(``harness.engine.step``) leaves alone are then put back by hand, so a replica trains exactly as it
would alone:

* the BN running statistics of ops off the path (the masked forward updated them);
* the SGD update of a parameter that has no gradient in the ordinary step: with ``zero_grad="none"``
  every parameter off this step's paths; with ``"zeros"`` every parameter never on a path yet
  (``zero_grad(set_to_none=False)`` zeroes only gradients that exist).

SGD with momentum, Nesterov and weight decay is elementwise, so it runs on the stacked tensors;
gradient clipping takes each replica's own norm. What the supernet must offer, asked of the model:
the masked forward (``harness.api.space.MASKED_FORWARD``: ``path_mask``, ``forward_masked``,
``masked_members``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from harness.api.errors import WsbenchError
from harness.api.protocol import Protocol
from harness.api.space import MASKED_METHODS
from harness.api.strategy import Strategy
from harness.api.task import Task
from harness.engine.evaluator import precision
from harness.engine.schedule import cosine_lr

#: Strategy hooks that act on one module or optimizer: a stacked step has neither to give them.
_MODULE_HOOKS = ("before_step", "arch_step")
#: torch's clip_grad_norm_ guard against a zero norm.
_CLIP_EPS = 1e-6


class _Masked(nn.Module):
    """The supernet's masked forward as a module's ``forward`` (what ``functional_call`` calls)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net: Any = net  # a supernet with the masked forward (checked by ``_check``)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> Any:
        return self.net.forward_masked(x, mask)


@dataclass
class Replicas:
    """k stacked replicas of one supernet: weights, BN buffers, momenta and what SGD has moved."""

    module: _Masked
    params: dict[str, torch.Tensor]
    buffers: dict[str, torch.Tensor]
    momenta: dict[str, torch.Tensor]
    #: Flat mask index that puts each parameter / buffer on a path; -1: on every path.
    param_slot: torch.Tensor
    buffer_slot: torch.Tensor
    #: [k, params]: whether each parameter of each replica has had a gradient (``zero_grad="zeros"``).
    touched: torch.Tensor
    strategies: list[Strategy]
    task: Task
    protocol: Protocol
    lr_factor: Callable[[int], float]

    @property
    def k(self) -> int:
        """Number of replicas."""
        return len(self.strategies)


def replicas_for(
    p: Protocol, models: Sequence[nn.Module], strategies: Sequence[Strategy], task: Task, steps_per_epoch: int, epochs: int
) -> Replicas:
    """Stack ``models`` (same structure, own weights) with one strategy each, trained as protocol ``p`` says."""
    _check(p, models, strategies)
    for m, s in zip(models, strategies):
        if s.bind(m, steps_per_epoch, epochs) is not m:  # few-shot and grouping wrap it in copies
            raise WsbenchError(f"replicas: strategy {s.name!r} trains its own copies of the supernet, not the supernet")
    wrapped = [_Masked(m) for m in models]
    params, buffers = stack_module_state(wrapped)
    members = {f"net.{name}": slot for name, slot in wrapped[0].net.masked_members().items()}
    device = next(iter(params.values())).device
    slots = lambda names: torch.tensor([members.get(n, -1) for n in names], device=device)  # noqa: E731
    return Replicas(
        module=wrapped[0],
        params=params,
        buffers=buffers,
        momenta={n: torch.zeros_like(v) for n, v in params.items()},
        param_slot=slots(params),
        buffer_slot=slots(buffers),
        touched=torch.zeros(len(models), len(params), dtype=torch.bool, device=device),
        strategies=list(strategies),
        task=task,
        protocol=p,
        lr_factor=cosine_lr(p, epochs * steps_per_epoch),
    )


def _check(p: Protocol, models: Sequence[nn.Module], strategies: Sequence[Strategy]) -> None:
    """One-line refusals of what the stacked step cannot train exactly as the ordinary step does."""
    if not models or len(models) != len(strategies):
        raise WsbenchError(f"replicas need one strategy per supernet (at least one), got {len(models)} and {len(strategies)}")
    missing = [name for name in MASKED_METHODS if not callable(getattr(models[0], name, None))]
    if missing:
        raise WsbenchError(
            f"replicas: the supernet has no masked forward ({', '.join(missing)}), so replicas cannot follow their own paths"
        )
    if getattr(models[0], "training_views", None) is not None:
        raise WsbenchError(
            "replicas: the supernet trains several views of a path (training_views), which the stacked step does not make"
        )
    if p.optimizer != "sgd":
        raise WsbenchError(f"replicas: optimizer {p.optimizer!r} is not supported (sgd only: its update is elementwise)")
    shapes = {tuple((n, tuple(v.shape)) for n, v in m.state_dict().items()) for m in models}
    if len(shapes) > 1:
        raise WsbenchError("replicas: the supernets differ in structure; replicas are one supernet with different seeds")
    for s in strategies:
        hooks = [h for h in _MODULE_HOOKS if getattr(type(s), h, None) not in (None, getattr(Strategy, h))]
        if hooks or getattr(s, "needs_arch_data", False):
            raise WsbenchError(
                f"replicas: strategy {getattr(s, 'name', type(s).__name__)!r} acts on one module ({', '.join(hooks) or 'arch_step'})"
            )


def replica_step(r: Replicas, step: int, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """One optimizer update of every replica at ``step``; ``xs[i], ys[i]`` is replica i's batch.

    Returns each replica's loss (its paths' losses averaged, as the ordinary step back-propagates).
    """
    paths = [s.paths(step) for s in r.strategies]
    if len({len(a) for a in paths}) != 1:
        raise WsbenchError(f"replicas: every replica must train the same number of paths per step, got {[len(a) for a in paths]}")
    for v in r.params.values():
        v.grad = None
    on = torch.zeros_like(r.touched)
    losses = torch.zeros(r.k, device=ys.device)
    for j in range(len(paths[0])):
        archs = [a[j] for a in paths]
        masks = torch.stack([r.module.net.path_mask(a) for a in archs])
        losses += _path_pass(r, step, archs, masks, xs, ys, len(paths[0]))
        on |= _on_path(masks.flatten(1), r.param_slot)
    r.touched |= on
    _clip(r)
    # float64 as torch's python-float learning rate; cast to each parameter's dtype where it is used.
    rates = [r.protocol.lr * r.lr_factor(step) * r.task.lr_factor((x, y)) for x, y in zip(xs, ys)]
    lr = torch.tensor(rates, dtype=torch.float64, device=ys.device)
    _sgd(r, lr, r.touched if r.protocol.zero_grad == "zeros" else on)
    return losses


def _on_path(masks: torch.Tensor, slots: torch.Tensor) -> torch.Tensor:
    """[k, members]: whether each member is on each replica's path (slot -1: on every path)."""
    return (masks[:, slots.clamp(min=0)] > 0) | (slots < 0)


def _path_pass(
    r: Replicas, step: int, archs: list[Any], masks: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor, paths: int
) -> torch.Tensor:
    """Forward and backward of one path per replica (losses / ``paths``); BN statistics off the path kept."""
    saved = {n: b.clone() for n, b in r.buffers.items()}
    call = lambda p, b, x, m: functional_call(r.module, (p, b), (x, m))  # noqa: E731
    with precision(ys.device, r.protocol.autocast):
        out = vmap(call)(r.params, r.buffers, xs, masks)
        losses = torch.stack([s.path_loss(a, o, y, r.task) for s, a, o, y in zip(r.strategies, archs, out, ys)]) / paths
    losses.sum().backward()
    on = _on_path(masks.flatten(1), r.buffer_slot)
    with torch.no_grad():
        for i, (n, b) in enumerate(r.buffers.items()):
            keep = on[:, i].view(-1, *([1] * (b.dim() - 1)))
            b.copy_(torch.where(keep, b, saved[n]))
    _observe(r, step, archs, out, ys, losses.detach() * paths)
    return losses.detach()


def _observe(r: Replicas, step: int, archs: list[Any], out: torch.Tensor, ys: torch.Tensor, losses: torch.Tensor) -> None:
    """Per-path feedback to the strategies that ask for it (a host sync each)."""
    for s, a, o, y, loss in zip(r.strategies, archs, out, ys, losses):
        if getattr(s, "wants_feedback", False):
            s.observe(step, a, float(loss), 100.0 * float(r.task.correct(o.detach(), y)) / len(y))


@torch.no_grad()
def _clip(r: Replicas) -> None:
    """``clip_grad_norm_`` per replica: each replica's gradients scaled by its own total norm."""
    if not r.protocol.grad_clip:
        return
    grads = [v.grad for v in r.params.values() if v.grad is not None]
    norms = torch.stack([g.flatten(1).norm(dim=1) for g in grads], dim=1).norm(dim=1)
    coef = (r.protocol.grad_clip / (norms + _CLIP_EPS)).clamp(max=1.0)
    for g in grads:
        g.mul_(coef.view(-1, *([1] * (g.dim() - 1))))


@torch.no_grad()
def _sgd(r: Replicas, lr: torch.Tensor, moved: torch.Tensor) -> None:
    """torch's SGD (momentum, Nesterov, weight decay; dampening 0) on the stacked tensors; a replica's
    parameter moves only where ``moved`` (it has a gradient in the ordinary step)."""
    p = r.protocol
    for i, (n, w) in enumerate(r.params.items()):
        grad = w.grad if w.grad is not None else torch.zeros_like(w)
        d = grad.add(w, alpha=p.weight_decay) if p.weight_decay else grad
        # A zero buffer gives torch's first step exactly: 0 * momentum + d == d.
        buf = r.momenta[n].mul(p.momentum).add_(d)
        d = d.add(buf, alpha=p.momentum) if p.nesterov else buf
        keep = moved[:, i].view(-1, *([1] * (w.dim() - 1)))
        delta = d * lr.view(-1, *([1] * (w.dim() - 1))).to(d.dtype)
        w.copy_(torch.where(keep, w - delta, w))
        r.momenta[n].copy_(torch.where(keep, buf, r.momenta[n]))


def replica_state_dict(r: Replicas, i: int) -> dict[str, torch.Tensor]:
    """Replica ``i``'s weights and buffers under the supernet's own ``state_dict`` names."""
    stacked = {**r.params, **r.buffers}
    return {n: stacked[f"net.{n}"][i].detach().clone() for n in r.module.net.state_dict()}
