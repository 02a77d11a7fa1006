"""The static training step: every candidate op runs, so what a step launches never depends on its path.

Why: the ordinary step runs only the sampled path's ops, so the kernels a step launches change with
the path and a step cannot be captured once as a CUDA graph and replayed. With ``Protocol.step =
"static"`` the supernet's masked forward (space capability ``masked_forward``, ``harness.api.space``)
computes every candidate op and scales it by the path's 0/1 mask, which each step writes in place
into a persistent tensor.

It trains what the ordinary step trains (``tests/test_static_step.py`` compares the weights):

* logits: the chosen op times 1 plus exact zeros, the same values;
* gradients: ops off the path get exact zeros where the ordinary step has none, and gradient
  clipping sees the same norm (a zero adds nothing to it);
* the update: torch's own optimizer steps, then every parameter of a candidate op that would have
  had no gradient in the ordinary step is put back, with its momentum buffer (SGD skips a parameter
  without a gradient): with ``zero_grad = "none"`` those off every path of this step; with
  ``"zeros"`` those never on a path so far (``zero_grad(set_to_none=False)`` zeroes only gradients
  that exist, so weight decay and momentum move the others, as the masked step does by itself);
* BN: after each path's forward, the running statistics of the ops off that path are put back.

Each of these is a tensor operation on persistent tensors, with no host read, so a step can be
captured (``harness.run.bench.graphed``). Momentum buffers are made zeros before the first update
rather than by it: SGD's first step sets a buffer to d_p, and 0 * momentum + d_p is the same number.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from harness.api.errors import WsbenchError
from harness.api.space import MASKED_METHODS, MIXED_FORWARD
from harness.api.strategy import Strategy


class StaticStep:
    """The persistent masks and gates of the static step of one trained module and its optimizer."""

    def __init__(self, model: nn.Module, strategy: Strategy, opt: torch.optim.Optimizer, zeros: bool) -> None:
        check_static(model, strategy, opt)
        self.model, self.opt, self.zeros = model, opt, zeros
        members: dict[str, int] = model.masked_members()  # type: ignore[operator]
        trained = {id(q) for group in opt.param_groups for q in group["params"]}
        params = [(n, q) for n, q in model.named_parameters() if n in members and id(q) in trained]
        buffers = [(n, b) for n, b in model.named_buffers() if n in members]
        device = next(model.parameters()).device
        #: Parameters of candidate ops (the rest are on every path) and the mask entry of each.
        self.gated: list[torch.Tensor] = [q for _, q in params]
        self._param_slots = torch.tensor([members[n] for n, _ in params], dtype=torch.long, device=device)
        #: BN running statistics (and counters) of candidate ops, and the mask entry of each.
        self.guarded = [b for _, b in buffers]
        self._buffer_slots = torch.tensor([members[n] for n, _ in buffers], dtype=torch.long, device=device)
        self._bn_saved = [b.detach().clone() for b in self.guarded]
        #: One persistent mask per path of a step (allocated on first use: the supernet knows their shape).
        self.masks: list[torch.Tensor] = []
        self._bn_on: list[torch.Tensor] = []
        self._paths = 0
        # Per gated parameter: on a path of this step; ever on a path (zeros). 0-d views of the one
        # that decides, so the put-back reads the tensor in place (a captured graph replays it).
        self._on = torch.zeros(len(self.gated), dtype=torch.bool, device=device)
        self._ever = torch.zeros(len(self.gated), dtype=torch.bool, device=device)
        moves = self._ever if zeros else self._on
        self._moves = list(moves.unbind(0))
        self._saved: list[torch.Tensor] = [q.detach().clone() for q in self.gated]
        self._saved_momenta: list[torch.Tensor] | None = None

    # -- a step, in order ---------------------------------------------------------------------------
    def load(self, paths: Sequence[Any]) -> None:
        """This step's paths: their masks written (host side) and the gates computed from them."""
        self.write_masks(paths)
        self.compute_gates()

    def write_masks(self, paths: Sequence[Any]) -> None:
        """Each path's mask copied into its persistent tensor (the only host-to-device traffic)."""
        for i, arch in enumerate(paths):
            if isinstance(arch, torch.Tensor):
                raise WsbenchError(
                    "step = static trains single paths; this strategy trains op-weight mixtures (use step = ordinary)"
                )
            mask = self.model.path_mask(arch)  # type: ignore[operator]
            if i == len(self.masks):
                self.masks.append(torch.zeros_like(mask))
                self._bn_on.append(torch.zeros(len(self.guarded), dtype=torch.bool, device=mask.device))
            self.masks[i].copy_(mask)
        self._paths = len(paths)

    @torch.no_grad()
    def compute_gates(self) -> None:
        """Which gated parameters the update moves (device side: capturable)."""
        on = self.masks[0].flatten() != 0
        for mask in self.masks[1 : self._paths]:
            on |= mask.flatten() != 0
        torch.index_select(on, 0, self._param_slots, out=self._on)
        self._ever |= self._on
        for mask, bn_on in zip(self.masks[: self._paths], self._bn_on):
            torch.index_select(mask.flatten() != 0, 0, self._buffer_slots, out=bn_on)

    def forward(self, x: Any, i: int) -> Any:
        """The masked forward of path ``i``; the BN statistics of ops off that path are put back after it."""
        with torch.no_grad():
            if self.guarded:
                torch._foreach_copy_(self._bn_saved, self.guarded)
        out = self.model.forward_masked(x, self.masks[i])  # type: ignore[operator]
        with torch.no_grad():
            for b, saved, keep in zip(self.guarded, self._bn_saved, self._bn_on[i].unbind(0)):
                # Through .data: batch_norm saves its running statistics for the backward (which in
                # training mode never reads them), and an in-place write would fail its version check.
                b.data.copy_(torch.where(keep, b, saved))
        return out

    def update(self, step: Callable[[], None]) -> None:
        """The optimizer's ``step``, then every gated parameter off the gates put back (with its momentum)."""
        self.save()
        step()
        self.restore()

    @torch.no_grad()
    def save(self) -> None:
        """Copy the gated parameters and their momentum buffers (before the optimizer moves them)."""
        momenta = [m for m, _ in self._momenta()]
        if self._saved_momenta is None:
            self._saved_momenta = [m.clone() for m in momenta]
        if self.gated:
            torch._foreach_copy_(self._saved, self.gated)
        if momenta:
            torch._foreach_copy_(self._saved_momenta, momenta)

    @torch.no_grad()
    def restore(self) -> None:
        """Put back what ``save`` copied wherever the gate is off."""
        for q, saved, keep in zip(self.gated, self._saved, self._moves):
            q.copy_(torch.where(keep, q, saved))
        for (m, keep), saved in zip(self._momenta(), self._saved_momenta or []):
            m.copy_(torch.where(keep, m, saved))

    def _momenta(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(momentum buffer, gate) of each gated parameter, the buffers made zeros where SGD has none yet.
        Looked up every time: loading a checkpoint replaces the optimizer's state tensors."""
        for group in self.opt.param_groups:
            for q in group["params"] if group.get("momentum") else ():
                state = self.opt.state[q]
                if state.get("momentum_buffer") is None:
                    state["momentum_buffer"] = torch.zeros_like(q)
        states = [self.opt.state[q] if q in self.opt.state else {} for q in self.gated]
        return [(st["momentum_buffer"], keep) for st, keep in zip(states, self._moves) if st.get("momentum_buffer") is not None]

    # -- the resume point ---------------------------------------------------------------------------
    def held(self, params: Sequence[torch.Tensor]) -> list[bool | None]:
        """Per parameter: whether it has been on a path (a gradient the ordinary step keeps); None if not gated."""
        ever, index = self._ever.tolist(), {id(q): j for j, q in enumerate(self.gated)}
        return [ever[index[id(q)]] if id(q) in index else None for q in params]

    def hold(self, params: Sequence[torch.Tensor], held: Sequence[bool]) -> None:
        """Record the gated ``params`` marked ``held`` as having been on a path (a resumed cell)."""
        index = {id(q): j for j, q in enumerate(self.gated)}
        for q, h in zip(params, held):
            if h and id(q) in index:
                self._ever[index[id(q)]] = True


def check_static(model: nn.Module, strategy: Strategy, opt: torch.optim.Optimizer) -> None:
    """One-line refusals of what the static step cannot train as the ordinary step does."""
    name = getattr(strategy, "name", type(strategy).__name__)
    requirements: frozenset[str] = getattr(strategy, "requirements", frozenset)()
    if getattr(strategy, "needs_arch_data", False) or MIXED_FORWARD in requirements:
        raise WsbenchError(
            f"step = static trains single paths; strategy {name!r} trains op-weight mixtures (use step = ordinary)"
        )
    missing = [m for m in MASKED_METHODS if not callable(getattr(model, m, None))]
    if missing:
        raise WsbenchError(
            f"step = static needs a masked forward (space capability masked_forward); the trained module "
            f"{type(model).__name__} lacks {', '.join(missing)} (use step = ordinary)"
        )
    if not isinstance(opt, torch.optim.SGD) or any(group.get("dampening", 0) for group in opt.param_groups):
        raise WsbenchError(f"step = static needs SGD without dampening, got {type(opt).__name__}")
