"""What the DARTS supernet counts and draws while it trains, saved with its weights.

A supernet with drop-path or random slot orders (``spaces.darts.options``) owns a ``TrainingState``:

- **its optimizer steps.** A ramped drop-path probability needs the epoch, and the supernet never
  sees the loop. Every optimizer update changes the stem convolution's weight in place (it is on
  every path), which bumps that tensor's version counter; the first training forward that finds the
  version changed begins a new step. Versions are host-side, so counting costs no device sync.
  Under a strategy that keeps several copies of the supernet (few-shot, grouping), a copy counts the
  steps that updated it.
- **its random streams**: drop-path masks on the device the activations live on (no host round
  trip), slot orders on the host (they choose modules). Both are seeded from the supernet's seed,
  never from the global torch RNG, and saved in the state dict (``get_extra_state``), so a cell
  resumed from its checkpoint draws exactly what an uninterrupted one draws.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn


class Dropper:
    """Drop-path at probability ``prob``: zero whole examples of an op's output, scale the rest by 1 / keep."""

    def __init__(self, prob: float, generator: torch.Generator) -> None:
        self.prob, self.generator = prob, generator

    def __call__(self, h: torch.Tensor) -> torch.Tensor:
        keep = 1.0 - self.prob
        mask = torch.empty(h.size(0), 1, 1, 1, device=h.device, dtype=h.dtype).bernoulli_(keep, generator=self.generator)
        return h / keep * mask


class TrainingState(nn.Module):
    """Step count, drop-path schedule and random streams of one supernet (no parameters, no buffers)."""

    def __init__(self, seed: int, drop_path: float, ramp_epochs: int | None, epoch_steps: int | None) -> None:
        super().__init__()
        self.drop_path, self.ramp_epochs, self.epoch_steps = float(drop_path), ramp_epochs, epoch_steps
        #: Optimizer steps begun (the current step's number, 1-based; 0 before the first training forward).
        self.steps = 0
        self._seen: int | None = None  # the stem weight's version at the last training forward
        mask_seed, order_seed = (int(s) for s in np.random.SeedSequence([int(seed), 0xDA475]).generate_state(2))
        self._mask_seed = mask_seed
        self._masks: torch.Generator | None = None  # made on the activations' device at the first drop
        self._pending_masks: dict[str, Any] | None = None  # a loaded mask stream not yet bound to a device
        self._orders = torch.Generator().manual_seed(order_seed)
        #: The slot swaps of the last path forward that drew them (what the training forward ran).
        self.last_swaps: list[bool] = []

    # -- the step count and the drop-path schedule ------------------------------------------------
    def observe(self, anchor: torch.Tensor) -> None:
        """Called at every training forward with the stem weight: a changed version begins a new step."""
        version = anchor._version
        if self._seen is None or version != self._seen:
            self.steps += 1
        self._seen = version

    def epoch(self) -> int:
        """The 1-based epoch of the current step (0 before any), in ``epoch_steps`` steps per epoch."""
        if not self.steps or self.epoch_steps is None:
            return 0
        return (self.steps - 1) // self.epoch_steps + 1

    def probability(self) -> float:
        """The drop-path probability now: constant, or DARTS's ``drop_path * epoch / epochs`` (held after the ramp)."""
        if self.ramp_epochs is None:
            return self.drop_path
        # The reference's expression and order of operations (``drop_path_prob * epoch / epochs``).
        return self.drop_path * min(self.epoch(), self.ramp_epochs) / self.ramp_epochs

    # -- the random streams ------------------------------------------------------------------------
    def dropper(self, device: torch.device) -> Dropper | None:
        """The drop-path of this forward (None at probability 0), drawing from the supernet's own stream."""
        prob = self.probability()
        if prob <= 0:
            return None
        return Dropper(prob, self._mask_generator(torch.device(device)))

    def _mask_generator(self, device: torch.device) -> torch.Generator:
        g = self._masks
        if g is not None and g.device.type == device.type:
            return g
        g = torch.Generator(device=device)
        pending = self._pending_masks
        if pending is not None and pending["device"] == device.type:
            g.set_state(pending["state"].cpu())
        else:  # a first draw (or a stream saved on another kind of device): start from the seed
            g.manual_seed(self._mask_seed)
        self._masks, self._pending_masks = g, None
        return g

    def swaps(self, count: int) -> list[bool]:
        """``count`` fair coin flips on the host (one per node: its two edges take the slots swapped)."""
        self.last_swaps = [bool(b) for b in torch.randint(0, 2, (count,), generator=self._orders).tolist()]
        return self.last_swaps

    # -- checkpointing ---------------------------------------------------------------------------
    def get_extra_state(self) -> dict[str, Any]:
        """The step count and both streams, as tensors and plain values (saved with the weights)."""
        if self._masks is not None:
            masks: dict[str, Any] | None = {"device": self._masks.device.type, "state": self._masks.get_state()}
        else:
            masks = self._pending_masks
        return {"steps": self.steps, "orders": self._orders.get_state(), "masks": masks}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what ``get_extra_state`` returned (the next training forward begins a new step)."""
        self.steps, self._seen = int(state["steps"]), None
        self._orders.set_state(state["orders"].cpu())
        self._masks, self._pending_masks = None, state["masks"]
