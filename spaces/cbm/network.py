"""Stand-alone Channel-Bench-Macro networks of one width configuration (CIFAR-10, 32x32 inputs).

As ``../shared/README.md`` describes the benchmark (checked: ``cost.py`` and the tests reproduce its
``params`` column on every key). Convolutions have no bias; BN follows every convolution.

- MobileNet-like: stem 3x3 conv stride 2 (w0) -> two inverted residuals at w0 with hidden widths
  w1, w2 (residual) -> an inverted residual stride 2, hidden w3, out w4 -> one at w4, hidden w5
  (residual) -> 1x1 conv to w6 -> global pool -> linear. Inverted residual = 1x1 conv-BN-ReLU,
  3x3 depthwise (stride)-BN-ReLU, 1x1 conv-BN.
- ResNet-like: stem 3x3 conv stride 2 (w0) -> two basic blocks (3x3 conv to w1 resp. w2, 3x3 back
  to w0, identity add, ReLU) -> a block stride 2 (3x3 to w3, 3x3 to w4, no shortcut) -> two blocks at
  w4 (hidden w5 resp. w6, identity add) -> pool -> linear.
"""

from __future__ import annotations

import torch
from torch import nn


def conv_bn(c_in: int, c_out: int, k: int, stride: int = 1, groups: int = 1, relu: bool = True) -> nn.Sequential:
    """k x k convolution (no bias), BN, optional ReLU."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """1x1 expand, 3x3 depthwise, 1x1 project; identity shortcut when shapes match and ``residual``."""

    def __init__(self, c_in: int, hidden: int, c_out: int, stride: int, residual: bool) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv_bn(c_in, hidden, 1), conv_bn(hidden, hidden, 3, stride, groups=hidden), conv_bn(hidden, c_out, 1, relu=False)
        )
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return x + out if self.residual else out


class BasicBlock(nn.Module):
    """3x3 conv-BN-ReLU to ``hidden``, 3x3 conv-BN to ``c_out``; identity add then ReLU when ``residual``."""

    def __init__(self, c_in: int, hidden: int, c_out: int, stride: int, residual: bool) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn(c_in, hidden, 3, stride), conv_bn(hidden, c_out, 3, relu=False))
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return torch.relu(x + out if self.residual else out)


class WidthNetwork(nn.Module):
    """The network of widths ``w`` (the 7 searchable layers) of one backbone."""

    def __init__(self, backbone: str, w: tuple[int, ...], num_classes: int = 10) -> None:
        super().__init__()
        w0, w1, w2, w3, w4, w5, w6 = w
        self.stem = conv_bn(3, w0, 3, stride=2)
        if backbone == "mobilenet":
            self.blocks = nn.Sequential(
                InvertedResidual(w0, w1, w0, 1, True),
                InvertedResidual(w0, w2, w0, 1, True),
                InvertedResidual(w0, w3, w4, 2, False),
                InvertedResidual(w4, w5, w4, 1, True),
                conv_bn(w4, w6, 1),
            )
            features = w6
        elif backbone == "resnet":
            self.blocks = nn.Sequential(
                BasicBlock(w0, w1, w0, 1, True),
                BasicBlock(w0, w2, w0, 1, True),
                BasicBlock(w0, w3, w4, 2, False),
                BasicBlock(w4, w5, w4, 1, True),
                BasicBlock(w4, w6, w4, 1, True),
            )
            features = w4
        else:
            raise ValueError(f"unknown Channel-Bench-Macro backbone {backbone!r}")
        self.classifier = nn.Linear(features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.blocks(self.stem(x)).mean(dim=(2, 3)))
