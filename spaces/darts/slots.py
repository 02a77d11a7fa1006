"""Per-node-slot weight sharing, the seed paper's DARTS supernet (``network.sharing = "slot"``).

In matluster/anonymous-2102 (``space/darts/network.py``: ``Node`` holds ``op0`` and ``op1``, each a
``LayerWithInputChoice``), every node of a cell has two input slots and each slot holds ONE module
per op, whichever earlier state the slot reads; the stride is set at run time (2 for the cell
inputs 0 and 1 of a reduction cell, 1 otherwise), so one set of separable-conv weights serves a
strided and an unstrided input (``space/darts/ops.py``: the depthwise convolution takes the stride
as an argument). A skip at stride 1 is the identity; at stride 2 it is the slot's
FactorizedReduce. Pools hold no weights.

Our modules are built at stride 1 (``network.make_op``) and run here with the stride of the input
the slot reads: the first depthwise convolution of a separable / dilated conv is applied with that
stride, the pools are called with it, and a reduction cell's slot keeps a FactorizedReduce for
skips from the cell inputs (a normal cell's slots never need one: the seed's are never used).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import torch
from torch import nn
from torch.nn import functional as F

from spaces.darts import encoding
from spaces.darts.network import FactorizedReduce, ReLUConvBN, make_op
from spaces.darts.randomness import Dropper


def slot_key(node: int, slot: int) -> str:
    """Module key of one node's input slot (0 or 1)."""
    return f"node{node}_slot{slot}"


def slot_ops(c: int, reduction: bool) -> nn.ModuleDict:
    """One slot's seven ops on ``c`` channels, built at stride 1 (plus a FactorizedReduce skip in reduction cells)."""
    return nn.ModuleDict(
        {op: FactorizedReduce(c, c) if op == "skip_connect" and reduction else make_op(op, c, 1) for op in encoding.OPS}
    )


def strided_block(block: nn.Module, x: torch.Tensor, stride: int) -> torch.Tensor:
    """A ReLU-depthwise-pointwise-BN block (``network.DilConv``), its depthwise convolution at ``stride``."""
    relu, depthwise, pointwise, bn = cast(nn.Sequential, block)
    dw = cast(nn.Conv2d, depthwise)
    h = F.conv2d(relu(x), dw.weight, None, stride, dw.padding, dw.dilation, dw.groups)
    return bn(pointwise(h))


def run_op(op: str, module: nn.Module, x: torch.Tensor, stride: int) -> torch.Tensor:
    """One op of a slot at the stride of the input it reads."""
    if op == "max_pool_3x3":
        return F.max_pool2d(x, 3, stride, 1)
    if op == "avg_pool_3x3":
        return F.avg_pool2d(x, 3, stride, 1, count_include_pad=False)
    if op == "skip_connect":
        return x if stride == 1 else module(x)
    if op.startswith("sep_conv_"):  # SepConv: two blocks, the first carries the stride
        first, second = cast(nn.Sequential, module)
        return second(strided_block(first, x, stride))
    if op.startswith("dil_conv_"):
        return strided_block(module, x, stride)
    raise ValueError(f"unknown DARTS op {op!r}")


class SlotCell(nn.Module):
    """One cell position: preprocessing and two slots of seven ops per node."""

    def __init__(self, c_pp: int, c_p: int, c: int, reduction: bool, reduction_prev: bool) -> None:
        super().__init__()
        self.reduction = reduction
        self.pre0 = FactorizedReduce(c_pp, c) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, 0)
        self.pre1 = ReLUConvBN(c_p, c, 1, 1, 0)
        self.slots = nn.ModuleDict({slot_key(k, j): slot_ops(c, reduction) for k in encoding.NODES for j in (0, 1)})

    def _slot(self, k: int, j: int, src: int, op: str, h: torch.Tensor, dropper: Dropper | None) -> torch.Tensor:
        stride = 2 if self.reduction and src < 2 else 1
        out = run_op(op, cast(nn.ModuleDict, self.slots[slot_key(k, j)])[op], h, stride)
        if dropper is not None and not (op == "skip_connect" and stride == 1):  # the seed never drops an identity
            out = dropper(out)
        return out

    def forward(
        self, s0: torch.Tensor, s1: torch.Tensor, edges: tuple, dropper: Dropper | None, swaps: Sequence[bool] | None = None
    ) -> torch.Tensor:
        """The cell on one path's (node, input, op) edges, the lower input in slot 0 unless ``swaps[node]``."""
        states = [self.pre0(s0), self.pre1(s1)]
        for n, k in enumerate(encoding.NODES):
            pair: Any = (edges[2 * n], edges[2 * n + 1])
            if swaps is not None and swaps[n]:
                pair = pair[::-1]
            (_, a, op_a), (_, b, op_b) = pair
            states.append(self._slot(k, 0, a, op_a, states[a], dropper) + self._slot(k, 1, b, op_b, states[b], dropper))
        return torch.cat(states[2:], dim=1)
