"""Parameter count of the NAS-Bench-101 stand-alone network, by formula (no torch, no TensorFlow).

Network (input 3x32x32): stem Conv3x3(3 -> C) + BN + ReLU; ``num_stacks`` stacks of ``N`` cells;
before every stack but the first a 2x2 max-pool halves the resolution and the channel count
doubles (the first cell of the stack maps C_in -> 2 C_in); global average pool; Linear with bias.

Inside a cell (the pruned cell), channels are split as in the benchmark: the output's C_out
channels are divided among the interior vertices that feed the output (the first ``C_out % k`` of
them get one extra); every other interior vertex gets the largest width among its interior
successors. Each interior vertex sums its inputs -- interior inputs truncated to its width, the
cell input through a 1x1 projection (conv + BN + ReLU) -- and applies its op at its own width.
The output is the concatenation of its interior inputs, plus a projection of the cell input when
input -> output is an edge (a cell with only that edge is just the projection).

Counting rule, matching the benchmark's ``trainable_parameters`` (TensorFlow) exactly: every conv
weight (no conv has a bias), gamma and beta of every BatchNorm (2C), the Linear weight and bias.
Measured on all 1,000 cells of ``nb101-1k-curves.json``: 1,000 / 1,000 equal (see the tests).

Why the ``nasbench-pytorch`` port counts 9 x (4..7) more: its cells fill unused slots of their
``ModuleList``s with a ``Placeholder`` module that owns one dummy scalar ``nn.Parameter`` (never
used in the forward). Each cell has two at index 0 (vertex ops and input projections) and one
per vertex t >= 1 without an input -> t edge, so the port counts, per cell,
``2 + (V - 1) - out_degree(input)`` extra parameters (V = vertices of the pruned cell), times 9
cells. ``pytorch_port_params`` gives that number; the network itself is the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.api.errors import WsbenchError, positive_int
from spaces.nb101.encoding import Cell, as_cell

STEM_CHANNELS = 128
NUM_STACKS = 3
CELLS_PER_STACK = 3
NUM_CLASSES = 10
INPUT_CHANNELS = 3
_KERNEL = {"conv3x3-bn-relu": 3, "conv1x1-bn-relu": 1, "maxpool3x3": 0}


class CostConfigError(WsbenchError):
    """A network setting that is not a positive integer."""


@dataclass(frozen=True)
class Cost:
    """Trainable parameters of one network (count and millions) under a BN convention."""

    params: int
    params_m: float


def vertex_channels(c_in: int, c_out: int, matrix: np.ndarray) -> list[int]:
    """Width of every vertex of a pruned cell (input c_in, output c_out), split as the benchmark does."""
    a = np.asarray(matrix) != 0
    v = a.shape[0]
    ch = [0] * v
    ch[0], ch[-1] = c_in, c_out
    if v == 2:
        return ch
    feeders = [t for t in range(1, v - 1) if a[t, v - 1]]
    base, extra = divmod(c_out, len(feeders))
    for i, t in enumerate(feeders):
        ch[t] = base + (1 if i < extra else 0)
    # Backwards, so a vertex sees its successors' final widths.
    for t in range(v - 2, 0, -1):
        if not a[t, v - 1]:
            ch[t] = max((ch[d] for d in range(t + 1, v - 1) if a[t, d]), default=0)
    return ch


def cell_params(cell: Cell, c_in: int, c_out: int, bn_params_per_channel: int = 2) -> int:
    """Trainable parameters of one cell (pruned first) mapping c_in -> c_out channels."""
    p = cell.pruned()
    a = p.array() != 0
    v = p.num_vertices
    ch = vertex_channels(c_in, c_out, a)
    bn = bn_params_per_channel
    total = 0
    for t in range(1, v):
        if a[0, t]:  # 1x1 projection of the cell input: conv + BN
            total += c_in * ch[t] + bn * ch[t]
        if t < v - 1:
            k = _KERNEL[p.ops[t]]
            if k:  # conv k x k at the vertex's own width + BN
                total += k * k * ch[t] * ch[t] + bn * ch[t]
    return total


def _positive(name: str, value: object) -> int:
    return positive_int(value, f"NB101 cost setting {name}", CostConfigError)


def count_params(
    arch: object,
    C: int = STEM_CHANNELS,
    N: int = CELLS_PER_STACK,
    num_classes: int = NUM_CLASSES,
    num_stacks: int = NUM_STACKS,
    bn_affine: bool = True,
) -> int:
    """Trainable parameters of the stand-alone network (the benchmark's count; ``bn_affine=False`` drops gamma and beta)."""
    cell = as_cell(arch)
    C, N, num_classes, num_stacks = (
        _positive(n, x) for n, x in (("C", C), ("N", N), ("num_classes", num_classes), ("num_stacks", num_stacks))
    )
    bn = 2 if bn_affine else 0
    total = 9 * INPUT_CHANNELS * C + bn * C  # stem conv3x3 + BN
    c_in = C
    for stack in range(num_stacks):
        c_out = c_in * 2 if stack else c_in
        for _ in range(N):
            total += cell_params(cell, c_in, c_out, bn)
            c_in = c_out
    return total + c_in * num_classes + num_classes


def arch_cost(arch: object, C: int = STEM_CHANNELS, N: int = CELLS_PER_STACK, num_classes: int = NUM_CLASSES) -> Cost:
    """The benchmark's trainable-parameter count of a cell's stand-alone network."""
    n = count_params(arch, C=C, N=N, num_classes=num_classes)
    return Cost(params=n, params_m=n / 1e6)


def pytorch_port_params(arch: object, C: int = STEM_CHANNELS, N: int = CELLS_PER_STACK, num_classes: int = NUM_CLASSES) -> int:
    """What ``nasbench-pytorch``'s ``Network`` reports: our count plus its dummy Placeholder scalars."""
    p = as_cell(arch).pruned()
    placeholders = 2 + (p.num_vertices - 1) - int(p.array()[0].sum())
    return count_params(p, C=C, N=N, num_classes=num_classes) + NUM_STACKS * _positive("N", N) * placeholders
