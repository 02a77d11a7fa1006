"""NB101 building blocks shared by the supernet and the stand-alone network, and how their weights start.

``NetworkSettings`` holds the network keys that say how ops are built (BN momentum and epsilon)
and initialised. The defaults are what wsbench has always built (torch's BN defaults, torch's
default init drawn from the cell seed); the seed paper's NB101 supernet (matluster/anonymous-2102,
``configs/nb101.py`` and ``space/nb101/base_ops.py``) uses BN momentum 3e-3 -- TensorFlow's decay
0.997 written in PyTorch's convention -- and its own init (``init="seedpaper"``): every conv weight
from a normal truncated at two standard deviations with std sqrt(1 / fan_in), BN weight 1 and bias
0, the classifier's weight Xavier-uniform and its bias 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from harness.seeded_init import init_parameters

INITS = ("torch", "seedpaper")


@dataclass(frozen=True)
class NetworkSettings:
    """BN momentum and epsilon of every BN, and the weight init (network keys ``bn_momentum``, ``bn_eps``, ``init``)."""

    bn_momentum: float = 0.1
    bn_eps: float = 1e-5
    init: str = "torch"


DEFAULT = NetworkSettings()


class ConvBnRelu(nn.Sequential):
    """Conv(k x k, no bias) -> BatchNorm -> ReLU, the benchmark's conv op and projection."""

    def __init__(self, c_in: int, c_out: int, kernel: int, bn: NetworkSettings = DEFAULT) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out, eps=bn.bn_eps, momentum=bn.bn_momentum),
            nn.ReLU(inplace=False),
        )


def make_op(name: str, channels: int, bn: NetworkSettings = DEFAULT) -> nn.Module:
    """One candidate op of an interior vertex."""
    if name == "conv3x3-bn-relu":
        return ConvBnRelu(channels, channels, 3, bn)
    if name == "conv1x1-bn-relu":
        return ConvBnRelu(channels, channels, 1, bn)
    if name == "maxpool3x3":
        return nn.MaxPool2d(3, stride=1, padding=1)
    raise ValueError(f"make_op: no NB101 op {name!r}")  # internal misuse, not user input


def initialise(module: nn.Module, seed: int, init: str) -> None:
    """Every weight of ``module`` drawn from ``seed``: torch's default init, or the seed paper's."""
    if init == "torch":
        init_parameters(module, seed)
        return
    if init != "seedpaper":
        raise ValueError(f"initialise: no NB101 init {init!r}")  # network_config checked the name
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.Conv2d):
                std = math.sqrt(1.0 / m.weight[0].numel())  # fan_in = k * k * c_in
                nn.init.trunc_normal_(m.weight, 0.0, std, -2 * std, 2 * std, generator=gen)
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_parameters()  # weight 1, bias 0, running statistics reset
            elif isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight, generator=gen)
                nn.init.zeros_(m.bias)
