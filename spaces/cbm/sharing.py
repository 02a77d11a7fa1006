"""Channel-sharing rules of a width supernet: which channels of the shared weights a width uses.

A rule turns a width configuration (7 option indices) into concrete channel choices, ``WidthPath``
views (the configuration plus one channel index per layer), for training and for scoring:

- ``left``: a width of ``c`` is the leftmost ``c`` channels, always. The fixed pattern of slimmable
  networks (Yu et al., "Slimmable Neural Networks", ICLR 2019), AutoSlim (Yu & Huang, 2019) and
  once-for-all (Cai et al., ICLR 2020).
- ``bcnet``: bilateral coupling (Su et al., "BCNet: Searching for Network Width with Bilaterally
  Coupled Network", CVPR 2021): a width is both its leftmost and its rightmost ``c`` channels, so
  every channel is trained by as many widths as any other. A training step trains both sides (the
  two losses averaged); scoring averages the two sides' logits (BCNet averages the two sides'
  performance; one output per configuration is what the harness scores). The sides keep separate
  BN statistics.
- ``cafenet``: locally free sharing (Su et al., "Locally Free Weight Sharing for Network Width
  Search", ICLR 2021): a width of ``c`` is ``c - r`` fixed *base* channels (the leftmost) plus ``r``
  *free* channels anywhere in the local zone ``[c - r, c + r)`` (clipped to the layer). ``r`` is
  ``offset`` times the layer's width step (its smallest width; CBM's widths are multiples of it,
  so the width step plays the role of CafeNet's bins). Training is min-min: each step draws
  ``candidates`` placements of the sampled configuration, evaluates their losses on the batch
  without gradients and trains the smallest. Every win is counted per (layer, width, channel), a
  buffer that travels with the checkpoint, and scoring uses each width's most-winning free
  channels (ties: the leftmost; before any training this is the ``left`` rule). The paper scores a
  width by its best candidate; fixing the learned placement instead gives one recalibration and one
  forward per configuration. The candidate forwards cost ``candidates`` extra forward passes
  (no backward) per path, not counted in the training-compute column. Candidates are drawn from
  their own stream (the supernet seed and a draw counter in the checkpoint), so runs resume exactly.

CafeNet's FLOPs-sensitive bins shrink a free-width space to a grid; Channel-Bench-Macro is already
a grid of four widths per layer, so they are not a separate reduced space here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from harness.api.errors import WsbenchError

RULES = ("left", "bcnet", "cafenet")
DEFAULT_OFFSET = 0.25  # cafenet: free channels per width, as a fraction of the layer's width step
DEFAULT_CANDIDATES = 2  # cafenet: placements compared per trained path (min-min)

Index = slice | torch.Tensor
Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class WidthPath(tuple):
    """A width configuration (the tuple of option indices) with the channels each layer uses.

    A tuple, so strategies, routing and ids see the configuration; the supernet reads ``channels``
    (a slice or an index tensor per layer) and ``side`` (which BN statistics: bcnet's 0 or 1).
    """

    channels: tuple[Index, ...]
    side: int
    free: tuple[Any, ...]

    def __new__(cls, arch: Sequence[int], channels: Sequence[Index], side: int = 0, free: Sequence[Any] = ()) -> "WidthPath":
        path = super().__new__(cls, tuple(int(v) for v in arch))
        path.channels, path.side, path.free = tuple(channels), side, tuple(free)
        return path


class LeftRule(nn.Module):
    """Leftmost ``c`` channels for a width of ``c`` (slimmable networks, AutoSlim, once-for-all)."""

    sides = 1

    def __init__(self, options: tuple[tuple[int, ...], ...]) -> None:
        super().__init__()
        self.options = options  # per layer: its widths, smallest first

    def left(self, arch: tuple[int, ...]) -> WidthPath:
        return WidthPath(arch, [slice(0, self.options[i][k]) for i, k in enumerate(arch)])

    def training_views(self, net: nn.Module, arch: tuple[int, ...], x: Any, y: Any, loss: Loss) -> list[WidthPath]:
        return [self.left(arch)]

    def scoring_views(self, arch: tuple[int, ...], device: torch.device) -> list[WidthPath]:
        return [self.left(arch)]


class BCNetRule(LeftRule):
    """Bilateral coupling: a width is its leftmost and its rightmost ``c`` channels (BCNet, CVPR 2021)."""

    sides = 2

    def right(self, arch: tuple[int, ...]) -> WidthPath:
        widths = [(self.options[i][k], self.options[i][-1]) for i, k in enumerate(arch)]
        return WidthPath(arch, [slice(n - c, n) for c, n in widths], side=1)

    def training_views(self, net: nn.Module, arch: tuple[int, ...], x: Any, y: Any, loss: Loss) -> list[WidthPath]:
        return [self.left(arch), self.right(arch)]

    def scoring_views(self, arch: tuple[int, ...], device: torch.device) -> list[WidthPath]:
        return [self.left(arch), self.right(arch)]


class CafeNetRule(LeftRule):
    """Base + free channels in a local zone, min-min trained (CafeNet, ICLR 2021)."""

    draws: torch.Tensor  # a registered buffer (0-d long): placements drawn so far

    def __init__(self, options: tuple[tuple[int, ...], ...], seed: int, offset: float, candidates: int) -> None:
        super().__init__(options)
        if not 0 < offset <= 1:
            raise WsbenchError(f"cafenet offset must be in (0, 1] (a fraction of the width step), got {offset!r}")
        if int(candidates) != candidates or candidates < 1:
            raise WsbenchError(f"cafenet candidates must be a positive integer, got {candidates!r}")
        self.seed, self.candidates = int(seed), int(candidates)
        self.r = tuple(max(1, round(offset * widths[0])) for widths in options)
        for i, widths in enumerate(options):
            self.register_buffer(f"wins{i}", torch.zeros(len(widths), widths[-1]))
        self.register_buffer("draws", torch.zeros((), dtype=torch.long))

    def zone(self, layer: int, option: int) -> tuple[int, int, int]:
        """(first, end, r) of the free zone of a width: ``r`` free channels among ``[first, end)``."""
        c, n = self.options[layer][option], self.options[layer][-1]
        r = min(self.r[layer], c)
        return c - r, min(c + r, n), r

    def _wins(self, layer: int) -> torch.Tensor:
        return getattr(self, f"wins{layer}")

    def _path(self, arch: tuple[int, ...], free: list[np.ndarray | None], device: torch.device) -> WidthPath:
        channels: list[Index] = []
        for i, k in enumerate(arch):
            first = self.zone(i, k)[0]
            chosen = free[i]
            if chosen is None or np.array_equal(chosen, np.arange(first, first + len(chosen))):
                channels.append(slice(0, self.options[i][k]))  # the leftmost c: a view, not a gather
            else:
                channels.append(torch.as_tensor(np.concatenate([np.arange(first), chosen]), device=device))
        return WidthPath(arch, channels, free=free)

    def candidate(self, arch: tuple[int, ...], rng: np.random.Generator, device: torch.device) -> WidthPath:
        """One placement: in every layer, ``r`` free channels drawn uniformly from its zone."""
        free: list[np.ndarray | None] = []
        for i, k in enumerate(arch):
            first, end, r = self.zone(i, k)
            free.append(None if end - first <= r else np.sort(rng.choice(np.arange(first, end), r, replace=False)))
        return self._path(arch, free, device)

    def training_views(self, net: Any, arch: tuple[int, ...], x: Any, y: Any, loss: Loss) -> list[WidthPath]:
        rng = np.random.default_rng([self.seed, int(self.draws)])
        self.draws += 1
        options = [self.candidate(arch, rng, x.device) for _ in range(self.candidates)]
        if len(options) > 1:
            with torch.no_grad():
                losses = [float(loss(net._run(x, p), y)) for p in options]
            options = [options[int(np.argmin(losses))]]
        best = options[0]
        for i, (k, chosen) in enumerate(zip(arch, best.free)):
            if chosen is not None:
                self._wins(i)[k, torch.as_tensor(chosen)] += 1
        return [best]

    def scoring_views(self, arch: tuple[int, ...], device: torch.device) -> list[WidthPath]:
        free: list[np.ndarray | None] = []
        for i, k in enumerate(arch):
            first, end, r = self.zone(i, k)
            if end - first <= r:
                free.append(None)
                continue
            wins = self._wins(i)[k, first:end].cpu().numpy()
            order = np.argsort(-wins, kind="stable")  # most wins first; ties keep the leftmost
            free.append(np.sort(order[:r]) + first)
        return [self._path(arch, free, device)]


def make_rule(rule: str, options: tuple[tuple[int, ...], ...], *, seed: int, offset: float, candidates: int) -> LeftRule:
    """The named sharing rule over a supernet's per-layer widths."""
    if rule == "left":
        return LeftRule(options)
    if rule == "bcnet":
        return BCNetRule(options)
    if rule == "cafenet":
        return CafeNetRule(options, seed, offset, candidates)
    raise WsbenchError(f"unknown channel-sharing rule {rule!r}; use one of {', '.join(RULES)}")
