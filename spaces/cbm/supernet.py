"""Width supernet of a Channel-Bench-Macro backbone: one set of maximum-width weights, a width vector per path.

``forward(x, arch)`` runs the sub-network of one width configuration (7 option indices). Which
channels of the shared weight a width of ``c`` uses is the **channel-sharing rule**; this module
implements ``left`` -- the fixed leftmost-``c``-channels pattern of slimmable networks (Yu et al.,
"Slimmable Neural Networks", ICLR 2019), AutoSlim (Yu & Huang, 2019) and once-for-all (Cai et al.,
ICLR 2020). CafeNet's locally free sharing and BCNet's bilateral coupling are the next rules (issue
14); they are not here yet.

BatchNorm (``bn``): ``shared`` keeps one maximum-width BN per layer and slices it like the weights
(its running statistics are meaningless across widths, so scoring recalibrates them per
configuration, as the harness does for every space with BN); ``switchable`` keeps one BN per width
option of the layer it normalises (Yu et al.'s switchable BN), so each width has its own statistics
and affine parameters.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from harness.api.errors import WsbenchError
from spaces.cbm import encoding

RULES = ("left",)
BN_MODES = ("shared", "switchable")


class SlicedConv(nn.Module):
    """A maximum-width convolution whose forward uses the leftmost ``c_out`` (x ``c_in``) channels."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int = 1, depthwise: bool = False) -> None:
        super().__init__()
        self.stride, self.padding, self.depthwise = stride, k // 2, depthwise
        self.weight = nn.Parameter(torch.empty(c_out, 1 if depthwise else c_in, k, k))
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)

    def forward(self, x: torch.Tensor, c_out: int) -> torch.Tensor:
        c_in = x.shape[1]
        if self.depthwise:
            return F.conv2d(x, self.weight[:c_in], None, self.stride, self.padding, groups=c_in)
        return F.conv2d(x, self.weight[:c_out, :c_in], None, self.stride, self.padding)


class WidthBN(nn.Module):
    """BN over the leftmost channels: one shared maximum-width BN, or one BN per width option."""

    def __init__(self, widths: tuple[int, ...], mode: str) -> None:
        super().__init__()
        self.mode = mode
        self.bns = nn.ModuleList(nn.BatchNorm2d(c) for c in (widths if mode == "switchable" else widths[-1:]))

    def forward(self, x: torch.Tensor, option: int) -> torch.Tensor:
        if self.mode == "switchable":
            return self.bns[option](x)
        bn, c = self.bns[0], x.shape[1]
        factor = 0.0
        if self.training and bn.track_running_stats:
            # As nn.BatchNorm2d does: momentum None is the cumulative average the evaluator's
            # BN recalibration relies on (each calibration batch weighs 1 / batches seen).
            bn.num_batches_tracked.add_(1)
            factor = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
        # Slices of the buffers are views: batch_norm updates the running statistics in place.
        return F.batch_norm(
            x,
            bn.running_mean[:c],
            bn.running_var[:c],
            bn.weight[:c],
            bn.bias[:c],
            self.training or not bn.track_running_stats,
            factor,
            bn.eps,
        )


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
    ) -> None:
        super().__init__()
        if rule not in RULES:
            raise WsbenchError(f"unknown channel-sharing rule {rule!r}; implemented: {', '.join(RULES)}")
        if bn not in BN_MODES:
            raise WsbenchError(f"unknown width BN mode {bn!r}; use {', '.join(BN_MODES)}")
        self.backbone, self.rule = backbone, rule
        options = [encoding.widths((k,) * encoding.LAYERS, backbone, multiplier) for k in range(len(encoding.DIGITS))]
        self.options = tuple(tuple(o[i] for o in options) for i in range(encoding.LAYERS))  # per layer: its 4 widths
        top = [o[-1] for o in self.options]
        gen = torch.Generator().manual_seed(int(seed))
        self.plan = _plan(backbone)
        self.convs = nn.ModuleList()
        self.bns = nn.ModuleList()
        for c_in, c_out, k, stride, depthwise in self.plan:
            self.convs.append(SlicedConv(3 if c_in is None else top[c_in], top[c_out], k, stride, depthwise))
            self.bns.append(WidthBN(self.options[c_out], bn))
        features = top[6] if backbone == "mobilenet" else top[4]
        self.classifier = nn.Linear(features, num_classes)
        with torch.no_grad():  # our own stream, not the global one
            for p in self.parameters():
                if p.dim() > 1:
                    nn.init.kaiming_uniform_(p, a=5**0.5, generator=gen)
            bound = 1.0 / features**0.5
            self.classifier.bias.uniform_(-bound, bound, generator=gen)

    def _conv_bn(self, i: int, x: torch.Tensor, arch: tuple[int, ...], relu: bool) -> torch.Tensor:
        c_out_layer = self.plan[i][1]
        option = arch[c_out_layer]
        out = self.bns[i](self.convs[i](x, self.options[c_out_layer][option]), option)
        return torch.relu(out) if relu else out

    def forward(self, x: torch.Tensor, arch: Any) -> torch.Tensor:
        a = tuple(int(v) for v in arch)
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
        return F.linear(features, self.classifier.weight[:, : features.shape[1]], self.classifier.bias)


def _plan(backbone: str) -> list[tuple[int | None, int, int, int, bool]]:
    """(input layer, output layer, kernel, stride, depthwise) of every convolution, in order; layers index the 7 widths."""
    stem = [(None, 0, 3, 2, False)]
    if backbone == "mobilenet":
        blocks = [(0, 1, 0, 1), (0, 2, 0, 1), (0, 3, 4, 2), (4, 5, 4, 1)]
        convs = [c for i, h, o, s in blocks for c in ((i, h, 1, 1, False), (h, h, 3, s, True), (h, o, 1, 1, False))]
        return stem + convs + [(4, 6, 1, 1, False)]
    blocks = [(0, 1, 0, 1), (0, 2, 0, 1), (0, 3, 4, 2), (4, 5, 4, 1), (4, 6, 4, 1)]
    return stem + [c for i, h, o, s in blocks for c in ((i, h, 3, s, False), (h, o, 3, 1, False))]
