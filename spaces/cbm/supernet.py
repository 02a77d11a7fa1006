"""Width supernet of a Channel-Bench-Macro backbone: one set of maximum-width weights, a width vector per path.

``forward(x, arch)`` runs the sub-network of one width configuration (7 option indices). Which
channels of the shared weight a width of ``c`` uses is the **channel-sharing rule**
(``spaces.cbm.sharing``): ``left`` (slimmable networks, AutoSlim, once-for-all), ``bcnet`` (BCNet's
bilateral coupling: a width is both its leftmost and its rightmost ``c`` channels) and ``cafenet``
(CafeNet's locally free sharing: base channels plus free channels in a local zone, min-min trained).
A rule can give one configuration several concrete channel choices (``WidthPath`` views); the
training loop asks ``training_views`` which of them a step trains, and a plain configuration is
scored as its rule defines (bcnet: the mean of both sides' logits; cafenet: its learned placement).

BatchNorm (``bn``): ``shared`` keeps one maximum-width BN per layer and indexes it like the weights
(its running statistics are meaningless across widths, so scoring recalibrates them per
configuration, as the harness does for every space with BN); ``switchable`` keeps one BN per width
option of the layer it normalises (Yu et al.'s switchable BN), so each width has its own statistics
and affine parameters. Under ``bcnet`` the two sides keep separate running statistics (their inputs
differ; they share the affine parameters as they share the weights).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from harness.api.errors import WsbenchError
from spaces.cbm import encoding, sharing
from spaces.cbm.sharing import Index, WidthPath

RULES = sharing.RULES
BN_MODES = ("shared", "switchable")


class SlicedConv(nn.Module):
    """A maximum-width convolution whose forward uses the selected output (x input) channels."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int = 1, depthwise: bool = False) -> None:
        super().__init__()
        self.stride, self.padding, self.depthwise = stride, k // 2, depthwise
        self.weight = nn.Parameter(torch.empty(c_out, 1 if depthwise else c_in, k, k))
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)

    def forward(self, x: torch.Tensor, out_idx: Index, in_idx: Index) -> torch.Tensor:
        w = self.weight[out_idx]
        if self.depthwise:
            return F.conv2d(x, w, None, self.stride, self.padding, groups=x.shape[1])
        return F.conv2d(x, w[:, in_idx], None, self.stride, self.padding)


class WidthBN(nn.Module):
    """BN of one layer: one shared maximum-width BN indexed like the weights, or one BN per width option.

    ``sides`` > 1 (bcnet) keeps one set of running statistics per side; side 0's BNs hold the affine
    parameters of every side.
    """

    def __init__(self, widths: tuple[int, ...], mode: str, sides: int = 1) -> None:
        super().__init__()
        self.mode = mode
        sizes = widths if mode == "switchable" else widths[-1:]
        self.per_side = len(sizes)
        self.bns = nn.ModuleList(nn.BatchNorm2d(c, affine=side == 0) for side in range(sides) for c in sizes)

    def forward(self, x: torch.Tensor, option: int, idx: Index, side: int = 0) -> torch.Tensor:
        slot = option if self.mode == "switchable" else 0
        stats, affine = self._bn(side * self.per_side + slot), self._bn(slot)
        running_mean, running_var, tracked = stats.running_mean, stats.running_var, stats.num_batches_tracked
        assert running_mean is not None and running_var is not None and tracked is not None  # every BN here tracks them
        # A width's own BN covers exactly its selected channels, in order.
        sel: Index = slice(None) if self.mode == "switchable" else idx
        factor = 0.0
        if self.training and stats.track_running_stats:
            # As nn.BatchNorm2d does: momentum None is the cumulative average the evaluator's
            # BN recalibration relies on (each calibration batch weighs 1 / batches seen).
            tracked.add_(1)
            factor = 1.0 / float(tracked) if stats.momentum is None else stats.momentum
        # Slices of the buffers are views that batch_norm updates in place; index tensors give
        # copies, written back below.
        mean, var = running_mean[sel], running_var[sel]
        out = F.batch_norm(x, mean, var, affine.weight[sel], affine.bias[sel], self.training, factor, stats.eps)
        if self.training and isinstance(sel, torch.Tensor):
            running_mean[sel] = mean
            running_var[sel] = var
        return out

    def _bn(self, i: int) -> nn.BatchNorm2d:
        return cast(nn.BatchNorm2d, self.bns[i])


class WidthSupernet(nn.Module):
    """Maximum-width weights of one backbone; ``forward(x, arch)`` runs one width configuration."""

    def __init__(
        self,
        backbone: str,
        multiplier: float = 1.0,
        num_classes: int = 10,
        rule: str = "left",
        bn: str = "shared",
        *,
        seed: int = 0,
        offset: float = sharing.DEFAULT_OFFSET,
        candidates: int = sharing.DEFAULT_CANDIDATES,
    ) -> None:
        super().__init__()
        if bn not in BN_MODES:
            raise WsbenchError(f"unknown width BN mode {bn!r}; use {', '.join(BN_MODES)}")
        self.backbone = backbone
        options = [encoding.widths((k,) * encoding.LAYERS, backbone, multiplier) for k in range(len(encoding.DIGITS))]
        self.options = tuple(tuple(o[i] for o in options) for i in range(encoding.LAYERS))  # per layer: its 4 widths
        self.sharing = sharing.make_rule(rule, self.options, seed=seed, offset=offset, candidates=candidates)
        self.rule = rule
        top = [o[-1] for o in self.options]
        gen = torch.Generator().manual_seed(int(seed))
        self.plan = _plan(backbone)
        self.convs = nn.ModuleList()
        self.bns = nn.ModuleList()
        for c_in, c_out, k, stride, depthwise in self.plan:
            self.convs.append(SlicedConv(3 if c_in is None else top[c_in], top[c_out], k, stride, depthwise))
            self.bns.append(WidthBN(self.options[c_out], bn, self.sharing.sides))
        self.last_layer = 6 if backbone == "mobilenet" else 4
        features = top[self.last_layer]
        self.classifier = nn.Linear(features, num_classes)
        with torch.no_grad():  # our own stream, not the global one
            for p in self.parameters():
                if p.dim() > 1:
                    nn.init.kaiming_uniform_(p, a=5**0.5, generator=gen)
            bound = 1.0 / features**0.5
            self.classifier.bias.uniform_(-bound, bound, generator=gen)

    def training_views(
        self, arch: Any, x: torch.Tensor, y: torch.Tensor, loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    ) -> list[WidthPath]:
        """The channel choices of ``arch`` a training step trains (their losses are averaged)."""
        return self.sharing.training_views(self, self._arch(arch), x, y, loss)

    def forward(self, x: torch.Tensor, arch: Any) -> torch.Tensor:
        if isinstance(arch, WidthPath):
            return self._run(x, arch)
        views = self.sharing.scoring_views(self._arch(arch), x.device)
        outputs = [self._run(x, v) for v in views]
        return outputs[0] if len(outputs) == 1 else torch.stack(outputs).mean(dim=0)

    @staticmethod
    def _arch(arch: Any) -> tuple[int, ...]:
        return tuple(int(v) for v in arch)

    def _conv_bn(self, i: int, x: torch.Tensor, path: WidthPath, relu: bool) -> torch.Tensor:
        c_in_layer, c_out_layer = self.plan[i][0], self.plan[i][1]
        in_idx = slice(None) if c_in_layer is None else path.channels[c_in_layer]
        out_idx = path.channels[c_out_layer]
        out = self.bns[i](self.convs[i](x, out_idx, in_idx), path[c_out_layer], out_idx, path.side)
        return torch.relu(out) if relu else out

    def _run(self, x: torch.Tensor, a: WidthPath) -> torch.Tensor:
        h = self._conv_bn(0, x, a, True)
        if self.backbone == "mobilenet":
            for first, residual in ((1, True), (4, True), (7, False), (10, True)):
                out = self._conv_bn(first, h, a, True)
                out = self._conv_bn(first + 1, out, a, True)
                out = self._conv_bn(first + 2, out, a, False)
                h = h + out if residual else out
            h = self._conv_bn(13, h, a, True)
        else:
            for first, residual in ((1, True), (3, True), (5, False), (7, True), (9, True)):
                out = self._conv_bn(first + 1, self._conv_bn(first, h, a, True), a, False)
                h = torch.relu(h + out if residual else out)
        features = h.mean(dim=(2, 3))
        return F.linear(features, self.classifier.weight[:, a.channels[self.last_layer]], self.classifier.bias)


def _plan(backbone: str) -> list[tuple[int | None, int, int, int, bool]]:
    """(input layer, output layer, kernel, stride, depthwise) of every convolution, in order; layers index the 7 widths."""
    stem: list[tuple[int | None, int, int, int, bool]] = [(None, 0, 3, 2, False)]
    if backbone == "mobilenet":
        blocks = [(0, 1, 0, 1), (0, 2, 0, 1), (0, 3, 4, 2), (4, 5, 4, 1)]
        convs = [c for i, h, o, s in blocks for c in ((i, h, 1, 1, False), (h, h, 3, s, True), (h, o, 1, 1, False))]
        return stem + convs + [(4, 6, 1, 1, False)]
    blocks = [(0, 1, 0, 1), (0, 2, 0, 1), (0, 3, 4, 2), (4, 5, 4, 1), (4, 6, 4, 1)]
    return stem + [c for i, h, o, s in blocks for c in ((i, h, 3, s, False), (h, o, 3, 1, False))]
