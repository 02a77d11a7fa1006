"""Channels, parameters and FLOPs of a ProxylessNAS network in closed form.

Channels follow ProxylessNAS's ``make_divisible`` (multiples of 8, never below 90 % of the scaled
width); the feature mix keeps 1280 channels unless the multiplier exceeds 1 (as the ProxylessNAS
and MobileNetV2 code do). At width 1.35 the stem has 40 channels, the first MBConv1 24, the stages
32, 56, 112, 128, 256, 432 and the feature mix 1728: the seed paper's ground-truth networks.

Parameters: convolutions without bias, BN with 2 per channel, the classifier with bias -- equal to
the seed paper's ``params`` column on all 36 rows. FLOPs: multiply-accumulates of the convolutions
and the classifier (no BN, bias or activation) at the input resolution (224: 112 after the stem,
then 56, 28, 14, 14, 7, 7); the seed paper's ``flops`` column is exactly this count rounded to
float32 (``int(numpy.float32(flops))``), which is how its counter stored it.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.api.space import NetworkCost
from spaces.proxyless import encoding


def make_divisible(value: float, divisor: int = 8) -> int:
    """The nearest multiple of ``divisor`` to ``value``, at least ``divisor`` and at least 90 % of ``value``."""
    out = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return out + divisor if out < 0.9 * value else out


@dataclass(frozen=True)
class Widths:
    """Channel counts of every fixed and searchable part at one width multiplier."""

    stem: int
    first: int
    stages: tuple[int, ...]
    feature_mix: int


def widths(width_pct: int) -> Widths:
    """Channels at width multiplier ``width_pct`` / 100."""
    m = width_pct / 100
    mix = make_divisible(encoding.FEATURE_MIX * m) if m > 1.0 else encoding.FEATURE_MIX
    return Widths(
        make_divisible(encoding.STEM * m),
        make_divisible(encoding.FIRST * m),
        tuple(make_divisible(c * m) for _, _, c in encoding.STAGES),
        mix,
    )


@dataclass(frozen=True)
class LayerPlan:
    """One searchable layer: its channels, stride, and whether it has an identity shortcut."""

    c_in: int
    c_out: int
    stride: int
    residual: bool


def layer_plans(width_pct: int) -> list[LayerPlan]:
    """The 21 searchable layers' shapes (the same for every architecture: zero keeps the shape)."""
    w = widths(width_pct)
    plans, c_in = [], w.first
    for stage, cell in encoding.LAYERS:
        stride = encoding.STAGES[stage][1] if cell == 0 else 1
        c_out = w.stages[stage]
        plans.append(LayerPlan(c_in, c_out, stride, residual=cell > 0))
        c_in = c_out
    return plans


def _out(size: int, stride: int) -> int:
    return (size + stride - 1) // stride  # padding k // 2: ceil(size / stride)


def mbconv_cost(c_in: int, c_out: int, kernel: int, expand: int, size_in: int, stride: int) -> tuple[int, int]:
    """(params, MACs) of one MBConv block: 1x1 expand (when expand > 1), k x k depthwise, 1x1 project, each with BN."""
    mid, size_out = c_in * expand, _out(size_in, stride)
    params = (c_in * mid + 2 * mid if expand > 1 else 0) + mid * kernel * kernel + 2 * mid + mid * c_out + 2 * c_out
    macs = (c_in * mid * size_in**2 if expand > 1 else 0) + mid * kernel * kernel * size_out**2 + mid * c_out * size_out**2
    return params, macs


def arch_cost(arch: encoding.Arch, width_pct: int = 135, resolution: int = 224, num_classes: int = 1000) -> NetworkCost:
    """Parameters and FLOPs (MACs) of the stand-alone network of ``arch``."""
    w = widths(width_pct)
    size = _out(resolution, 2)
    params, macs = 3 * 9 * w.stem + 2 * w.stem, 3 * 9 * w.stem * size**2
    p, m = mbconv_cost(w.stem, w.first, 3, 1, size, 1)
    params, macs = params + p, macs + m
    for op, plan in zip(arch, layer_plans(width_pct)):
        if op != encoding.ZERO:
            kernel, expand = encoding.KERNEL_EXPAND[op]
            p, m = mbconv_cost(plan.c_in, plan.c_out, kernel, expand, size, plan.stride)
            params, macs = params + p, macs + m
        size = _out(size, plan.stride)
    c_last = w.stages[-1]
    params += c_last * w.feature_mix + 2 * w.feature_mix + w.feature_mix * num_classes + num_classes
    macs += c_last * w.feature_mix * size**2 + w.feature_mix * num_classes
    return NetworkCost(params=params, flops=macs)
