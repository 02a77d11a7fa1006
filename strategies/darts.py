"""DARTS, first order: architecture logits learned by gradient on a held-out half of the training images.

Liu, Simonyan and Yang, "DARTS: Differentiable Architecture Search", ICLR 2019. Every edge carries a
softmax mixture of its candidate ops, weighted by architecture logits alpha (the space's
``mixed_shape``: [6 edges, 5 ops] on NB201, [2 x 14 candidate edges, 8 ops] on DARTS). Each
step alternates (1) one Adam step on alpha with the loss of a batch from the *architecture half* of
the training images, computed with the current weights -- the first-order approximation (the
paper's DARTS 1st order; no unrolled virtual weight step) -- and (2) one SGD step on the weights
with the loss of a batch from the *weight half*, through the mixture softmax(alpha) (detached: the
weight step does not move alpha). The architecture DARTS itself picks is the space's ``derive`` of
softmax(alpha): on NB201 the argmax per edge over all five ops (``none`` included, as in
NAS-Bench-201's DARTS baseline); on the DARTS space DARTS's own rule (per node the two incoming
edges with the strongest non-``none`` op, each with that op).

Settings from the paper and NAS-Bench-201's DARTS-V1 baseline (xautodl): alpha = 1e-3 * N(0, 1)
(drawn from the strategy's own random stream), Adam(lr 3e-4, betas (0.5, 0.999), weight decay
1e-3). The step order (architecture, then weights) is the original DARTS code's; the NB201
re-implementation updates the weights first. Deviations, because the harness owns the weight loop:
the weight optimizer, schedule, gradient clipping and augmentation are the protocol's (NB201's DARTS
uses SGD 0.025 cosine, clip 5); the supernet's BatchNorms are affine (NB201 searches with
``affine=False``); the two halves are a fixed random split of the protocol's training part.

Compute per step relative to SPOS (one op per edge, one forward/backward): the weight step runs the
4 non-``none`` ops on every edge (``none`` is never computed) = 4, and the architecture step runs
the same mixture forward and backward again = 4 (it skips the weight gradients, so a little
cheaper). ``paths_per_step = 8``. Measured on CPU (quick protocol, C=8, N=1, batch 128, one
thread): 0.748 s per DARTS step vs 0.102 s per SPOS step, 7.3x.

Needs a MIXED_FORWARD supernet (NB201 and DARTS have one); other spaces are a one-line error.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from harness.api.errors import WsbenchError
from harness.api.options import Option
from harness.api.space import MIXED_FORWARD
from harness.api.strategy import Strategy


class Bilevel(Strategy):
    """Shared part of DARTS and GDAS: alpha, its Adam optimizer, the arch step, selection, resume.

    Subclasses say how alpha becomes op weights for the architecture step (``arch_weights``, with
    gradient) and for the weight step (``paths``, detached).
    """

    needs_arch_data = True
    requires = frozenset({MIXED_FORWARD})
    option_specs = {
        "arch_lr": Option(3e-4, float, above=0, help="Adam learning rate of alpha"),
        "arch_weight_decay": Option(1e-3, float, min=0, help="Adam weight decay of alpha"),
    }

    def __init__(self, space: Any, rng: np.random.Generator, **options: Any) -> None:
        super().__init__(space, rng, **options)
        self.arch_lr, self.arch_weight_decay = self.options["arch_lr"], self.options["arch_weight_decay"]
        # The relaxation's shape is the space's: [6 edges, 5 ops] on NB201, [2 x 14 candidate edges, 8 ops] on DARTS.
        self.num_edges, self.num_ops = space.mixed_shape()
        # Drawn now, from the strategy's stream, so the stream's position does not depend on bind().
        self._alpha0 = 1e-3 * rng.standard_normal((self.num_edges, self.num_ops))
        self.alpha: torch.Tensor | None = None
        self.arch_optimizer: torch.optim.Optimizer | None = None
        self.steps_per_epoch, self.epochs = 1, 1
        self._pending: dict[str, Any] | None = None

    # -- harness hooks --------------------------------------------------------------------------

    def bind(self, model: nn.Module, steps_per_epoch: int, epochs: int) -> nn.Module:
        """Create alpha and its optimizer on the model's device (the supernet itself is unchanged)."""
        device = next(model.parameters()).device
        self.steps_per_epoch, self.epochs = max(1, int(steps_per_epoch)), max(1, int(epochs))
        self.alpha = torch.tensor(self._alpha0, dtype=torch.float32, device=device).requires_grad_()
        self.arch_optimizer = torch.optim.Adam(
            [self.alpha], lr=self.arch_lr, betas=(0.5, 0.999), weight_decay=self.arch_weight_decay
        )
        if self._pending is not None:  # load_state_dict came first
            state, self._pending = self._pending, None
            self._load_tensors(state)
        return model

    def arch_step(self, step: int, model: nn.Module, x: Any, y: Any, loss_fn: Any = F.cross_entropy) -> None:
        """One Adam step on alpha: the task's loss (``loss_fn``) of the architecture batch under the current weights."""
        alpha, optimizer = self._bound()
        loss = loss_fn(model(x, self.arch_weights(step)), y)
        # autograd.grad: only alpha's gradient is built (the weights' .grad stay untouched).
        (grad,) = torch.autograd.grad(loss, [alpha])
        optimizer.zero_grad(set_to_none=True)
        alpha.grad = grad
        optimizer.step()
        alpha.grad = None

    def arch_weights(self, step: int) -> torch.Tensor:
        """Op weights [edges, ops] for the architecture step, differentiable in alpha."""
        raise NotImplementedError

    def selected(self) -> Any:
        """The space's discretisation of softmax(alpha) (NB201: argmax per edge, ties to the lower op)."""
        logits = np.asarray(self._alpha0 if self.alpha is None else self.alpha.detach().cpu().numpy(), dtype=np.float64)
        # float64 softmax: monotone per row, so a per-row argmax equals the logits' argmax exactly.
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        return self.space.derive(probs / probs.sum(axis=1, keepdims=True))

    def _require_bound(self) -> None:
        self._bound()

    def _bound(self) -> tuple[torch.Tensor, torch.optim.Optimizer]:
        """alpha and its optimizer (both made by ``bind``)."""
        if self.alpha is None or self.arch_optimizer is None:
            raise WsbenchError(f"strategy {self.name!r} used before bind(model, steps_per_epoch, epochs)")
        return self.alpha, self.arch_optimizer

    # -- resume ---------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """RNG, alpha and the Adam state: an exact resume point."""
        opt: dict[str, Any] | None = None
        if self.alpha is None:
            alpha = torch.tensor(self._alpha0, dtype=torch.float32)
        else:
            bound, optimizer = self._bound()
            alpha, opt = bound.detach().cpu().clone(), copy.deepcopy(optimizer.state_dict())
        return {"rng": self.rng.bit_generator.state, "alpha": alpha, "arch_optimizer": opt}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned (before or after ``bind``)."""
        self.rng.bit_generator.state = state["rng"]
        if self.alpha is None:
            self._pending = state
            self._alpha0 = state["alpha"].double().numpy()
            return
        self._load_tensors(state)

    def _load_tensors(self, state: dict[str, Any]) -> None:
        alpha, optimizer = self._bound()
        with torch.no_grad():
            alpha.copy_(state["alpha"].to(alpha.device))
        if state["arch_optimizer"] is not None:
            optimizer.load_state_dict(copy.deepcopy(state["arch_optimizer"]))


class DARTS(Bilevel):
    """First-order DARTS: softmax(alpha) mixture; alpha by Adam on the architecture half."""

    name = "darts"
    version = 1
    paths_per_step = 8.0

    def arch_weights(self, step: int) -> torch.Tensor:
        alpha, _ = self._bound()
        return F.softmax(alpha, dim=-1)

    def paths(self, step: int) -> list[torch.Tensor]:
        alpha, _ = self._bound()
        with torch.no_grad():
            return [F.softmax(alpha, dim=-1)]


#: Registered by ``harness.catalog`` (this module describes itself).
PLUGINS = {"strategy": {"darts": DARTS}}
