"""Parameters and FLOPs of Channel-Bench-Macro networks, in closed form.

Counting rules (they reproduce the benchmark's ``params`` and ``flops`` on all 16,384 keys of both
backbones): convolutions without bias, BN 2 parameters per channel, the classifier with bias;
FLOPs are multiply-accumulates of the convolutions and the classifier (no BN, no bias), with
16x16 feature maps after the stride-2 stem and 8x8 after the stride-2 block (32x32 inputs).
"""

from __future__ import annotations

from harness.api.space import NetworkCost
from spaces.cbm.encoding import Arch, widths


def _inverted_residual(c_in: int, hidden: int, c_out: int, area_in: int, area_out: int) -> tuple[int, int]:
    """1x1 expand-BN, 3x3 depthwise-BN (stride from the areas), 1x1 project-BN."""
    params = c_in * hidden + 2 * hidden + 9 * hidden + 2 * hidden + hidden * c_out + 2 * c_out
    return params, c_in * hidden * area_in + 9 * hidden * area_out + hidden * c_out * area_out


def _basic(c_in: int, hidden: int, c_out: int, area_out: int) -> tuple[int, int]:
    """3x3 conv-BN to ``hidden`` (stride from the areas), 3x3 conv-BN to ``c_out``."""
    return 9 * c_in * hidden + 2 * hidden + 9 * hidden * c_out + 2 * c_out, 9 * (c_in * hidden + hidden * c_out) * area_out


def mobilenet_cost(w: tuple[int, ...], num_classes: int = 10) -> NetworkCost:
    """The MobileNet-like backbone of widths ``w`` (7 searchable layers)."""
    w0, w1, w2, w3, w4, w5, w6 = w
    parts = [
        (27 * w0 + 2 * w0, 27 * w0 * 256),  # stem 3x3 stride 2
        _inverted_residual(w0, w1, w0, 256, 256),
        _inverted_residual(w0, w2, w0, 256, 256),
        _inverted_residual(w0, w3, w4, 256, 64),
        _inverted_residual(w4, w5, w4, 64, 64),
        (w4 * w6 + 2 * w6, w4 * w6 * 64),  # final 1x1 conv-BN
        (w6 * num_classes + num_classes, w6 * num_classes),
    ]
    return NetworkCost(sum(p for p, _ in parts), sum(f for _, f in parts))


def resnet_cost(w: tuple[int, ...], num_classes: int = 10) -> NetworkCost:
    """The ResNet-like backbone of widths ``w`` (7 searchable layers)."""
    w0, w1, w2, w3, w4, w5, w6 = w
    parts = [
        (27 * w0 + 2 * w0, 27 * w0 * 256),
        _basic(w0, w1, w0, 256),
        _basic(w0, w2, w0, 256),
        _basic(w0, w3, w4, 64),  # stride 2, no shortcut
        _basic(w4, w5, w4, 64),
        _basic(w4, w6, w4, 64),
        (w4 * num_classes + num_classes, w4 * num_classes),
    ]
    return NetworkCost(sum(p for p, _ in parts), sum(f for _, f in parts))


COSTS = {"mobilenet": mobilenet_cost, "resnet": resnet_cost}


def arch_cost(arch: Arch, backbone: str, multiplier: float = 1.0, num_classes: int = 10) -> NetworkCost:
    """Cost of the stand-alone network of one configuration."""
    return COSTS[backbone](widths(arch, backbone, multiplier), num_classes)
