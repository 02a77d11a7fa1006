"""The standard DARTS CIFAR network (Liu et al., ICLR 2019) for one genotype: the evaluation network.

Stem 3x3 conv to 3C channels + BN; ``layers`` cells with reduction cells (channels doubled,
stride 2 on the cell inputs) at 1/3 and 2/3 of the depth; each cell preprocesses its two inputs
(ReLU-conv1x1-BN, or FactorizedReduce after a reduction cell), computes nodes 2-5 as the sum of
two ops on earlier states, and outputs the concatenation of nodes 2-5 (4C channels). Separable
convs are two stacked ReLU-depthwise-pointwise-BN blocks; skip is FactorizedReduce when strided;
optional drop-path on non-identity ops and an auxiliary head after the second reduction.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from spaces.darts.encoding import Arch


class ReLUConvBN(nn.Sequential):
    """ReLU, k x k convolution, BN."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int, padding: int) -> None:
        super().__init__(nn.ReLU(inplace=False), nn.Conv2d(c_in, c_out, k, stride, padding, bias=False), nn.BatchNorm2d(c_out))


class DilConv(nn.Sequential):
    """ReLU, depthwise (dilated) k x k convolution, pointwise convolution, BN."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int, padding: int, dilation: int) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, k, stride, padding, dilation=dilation, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
        )


class SepConv(nn.Sequential):
    """Two stacked DilConv blocks without dilation (the first carries the stride)."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int, padding: int) -> None:
        super().__init__(DilConv(c_in, c_in, k, stride, padding, 1), DilConv(c_in, c_out, k, 1, padding, 1))


class FactorizedReduce(nn.Module):
    """Halve the resolution with two offset 1x1 stride-2 convolutions, concatenated, then BN."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out - c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


class Zero(nn.Module):
    """The ``none`` op: zeros of the output shape."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


def make_op(name: str, c: int, stride: int) -> nn.Module:
    """One DARTS op on ``c`` channels."""
    if name == "none":
        return Zero(stride)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
    if name == "max_pool_3x3":
        return nn.MaxPool2d(3, stride=stride, padding=1)
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(c, c)
    if name.startswith("sep_conv_"):
        k = int(name[-1])
        return SepConv(c, c, k, stride, k // 2)
    if name.startswith("dil_conv_"):
        k = int(name[-1])
        return DilConv(c, c, k, stride, 2 * (k // 2), 2)
    raise ValueError(f"unknown DARTS op {name!r}")


def drop_path(x: torch.Tensor, prob: float) -> torch.Tensor:
    """Zero whole examples with probability ``prob`` (scaling the rest), as DARTS trains."""
    keep = 1.0 - prob
    mask = torch.empty(x.size(0), 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x / keep * mask


class Cell(nn.Module):
    """One cell of the evaluation network: a fixed op on each of its 8 edges."""

    def __init__(self, cell: Any, c_pp: int, c_p: int, c: int, reduction: bool, reduction_prev: bool) -> None:
        super().__init__()
        self.pre0 = FactorizedReduce(c_pp, c) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, 0)
        self.pre1 = ReLUConvBN(c_p, c, 1, 1, 0)
        self.inputs = [src for node in cell for src, _ in node]
        self.ops = nn.ModuleList(make_op(op, c, 2 if reduction and src < 2 else 1) for node in cell for src, op in node)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for n in range(len(self.ops) // 2):
            total = 0
            for e in (2 * n, 2 * n + 1):
                h = self.ops[e](states[self.inputs[e]])
                if self.training and drop_prob > 0 and not isinstance(self.ops[e], nn.Identity):
                    h = drop_path(h, drop_prob)
                total = total + h
            states.append(total)  # type: ignore[arg-type]
        return torch.cat(states[2:], dim=1)


class AuxiliaryHead(nn.Module):
    """DARTS's auxiliary classifier on the 8x8 features after the second reduction."""

    def __init__(self, c: int, num_classes: int, inplace: bool = True) -> None:
        super().__init__()
        # ``inplace=False`` keeps the head from rectifying the cell output it reads: harmless where every
        # later reader starts with a ReLU (DARTS's 20 cells), not where the head sits on the last cell.
        self.features = nn.Sequential(
            nn.ReLU(inplace=inplace),
            nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),
            nn.Conv2d(c, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


class DartsNetwork(nn.Module):
    """The evaluation network of one architecture: ``layers`` cells, ``C`` initial channels."""

    def __init__(self, arch: Arch, C: int = 36, layers: int = 20, num_classes: int = 10, auxiliary: bool = False) -> None:
        super().__init__()
        normal, reduce = arch
        self.drop_path_prob = 0.0
        self.stem = nn.Sequential(nn.Conv2d(3, 3 * C, 3, padding=1, bias=False), nn.BatchNorm2d(3 * C))
        c_pp, c_p, c = 3 * C, 3 * C, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        self.aux_at = 2 * layers // 3
        self.auxiliary = None
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            c = c * 2 if reduction else c
            self.cells.append(Cell(reduce if reduction else normal, c_pp, c_p, c, reduction, reduction_prev))
            reduction_prev = reduction
            c_pp, c_p = c_p, 4 * c
            if auxiliary and i == self.aux_at:
                self.auxiliary = AuxiliaryHead(c_p, num_classes)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        s0 = s1 = self.stem(x)
        aux = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == self.aux_at and self.auxiliary is not None and self.training:
                aux = self.auxiliary(s1)
        logits = self.classifier(self.pool(s1).flatten(1))
        return (logits, aux) if aux is not None else logits


def count_params(model: nn.Module) -> int:
    """Parameters, the auxiliary head left out (as the seed paper's ``params`` column)."""
    return sum(p.numel() for name, p in model.named_parameters() if not name.startswith("auxiliary"))


def count_macs(model: nn.Module, resolution: int = 32) -> dict[str, int]:
    """Multiply-accumulates of one forward on a ``resolution``² image, by layer kind (no auxiliary head)."""
    totals = {"conv": 0, "linear": 0, "bn": 0, "pool": 0}

    def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            totals["conv"] += output.numel() * k
        elif isinstance(module, nn.Linear):
            totals["linear"] += module.in_features * module.out_features
        elif isinstance(module, nn.BatchNorm2d):
            totals["bn"] += output.numel()
        elif isinstance(module, (nn.AvgPool2d, nn.MaxPool2d)):
            totals["pool"] += output.numel() * 9

    _forward_with_hooks(model, lambda name: hook, resolution)
    return totals


def seed_paper_flops(model: nn.Module, resolution: int = 32) -> int:
    """FLOPs as the seed paper's ``flops`` column counts them (reproduces it on all 478 rows).

    Multiply-accumulates of the convolutions and the classifier, except that the depthwise
    convolution of a dilated conv is not counted and only one of the two (equal-cost) depthwise
    convolutions of a separable conv is. BN, pooling and additions are not counted. ``count_macs``
    gives the full count.
    """
    total = 0

    def hook(name: str) -> Any:
        def count(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
            nonlocal total
            if isinstance(module, nn.Linear):
                total += module.in_features * module.out_features
            elif isinstance(module, nn.Conv2d):
                macs = output.numel() * module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
                depthwise = module.groups > 1
                if not depthwise or (module.dilation[0] == 1 and name.endswith(".1.1")):  # SepConv's second depthwise
                    total += macs

        return count

    _forward_with_hooks(model, hook, resolution)
    return total


def _forward_with_hooks(model: nn.Module, hook_for: Any, resolution: int) -> None:
    """One eval-mode forward of a blank image with ``hook_for(module name)`` on every module but the auxiliary head."""
    handles = [m.register_forward_hook(hook_for(n)) for n, m in model.named_modules() if not n.startswith("auxiliary")]
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, resolution, resolution, device=next(model.parameters()).device))
    finally:
        model.train(was)
        for h in handles:
            h.remove()
