"""The NAS-Bench-101 stand-alone network of one cell: the benchmark's network, module for module.

Macro skeleton as the supernet's (``spaces.nb101.supernet``): stem conv3x3-BN-ReLU (3 -> C); 3
stacks of N cells, a 2x2 max-pool before stacks 2 and 3 whose first cell doubles the channels;
global average pool; Linear. Inside a cell (the pruned cell), every vertex has the width the
benchmark gives it (``spaces.nb101.cost.vertex_channels``: the output's channels split among the
vertices that feed it, the first ones one wider when they do not divide evenly; other vertices as
wide as their widest interior successor). A vertex sums its interior inputs, each truncated to the
vertex's width (the first channels kept), and a 1x1 projection (conv-BN-ReLU) of the cell input
where the input feeds it, then applies its op; the output concatenates the vertices that feed it,
in vertex order, plus a projection of the cell input when input -> output is an edge (a cell with
only that edge is the projection).

This is the network of the benchmark's ``model_builder`` as ``nasbench-pytorch`` 1.3.1 ports it;
``tests/test_nasbench_pytorch_equivalence.py`` copies weights across and compares outputs. The
space does not declare ``standalone``: zero-cost baselines on NB101 would then start scoring in
the shipped matrices, whose reports this network is not meant to change.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import nn

from harness.seeded_init import global_rng_forked
from spaces.nb101.cost import vertex_channels
from spaces.nb101.encoding import as_cell, check_valid
from spaces.nb101.ops import DEFAULT, ConvBnRelu, NetworkSettings, initialise, make_op


class StandaloneCell(nn.Module):
    """One benchmark cell at the benchmark's vertex widths."""

    def __init__(self, cell: Any, c_in: int, c_out: int, bn: NetworkSettings = DEFAULT) -> None:
        super().__init__()
        p = check_valid(as_cell(cell)).pruned()
        self.adjacency = (p.array() != 0).tolist()
        self.num_vertices = v = p.num_vertices
        self.widths = vertex_channels(c_in, c_out, p.array())
        a = self.adjacency
        self.proj = nn.ModuleDict({str(t): ConvBnRelu(c_in, self.widths[t], 1, bn) for t in range(1, v) if a[0][t]})
        self.ops = nn.ModuleDict({str(t): make_op(p.ops[t], self.widths[t], bn) for t in range(1, v - 1)})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, v = self.adjacency, self.num_vertices
        nodes: dict[int, torch.Tensor] = {}
        for t in range(1, v - 1):
            # Interior inputs first, then the projected cell input: the benchmark's order of the sum.
            parts = [nodes[s][:, : self.widths[t]] for s in range(1, t) if a[s][t]]
            if a[0][t]:
                parts.append(self.proj[str(t)](x))
            total = parts[0]
            for q in parts[1:]:
                total = total + q
            nodes[t] = self.ops[str(t)](total)
        feeders = [nodes[t] for t in range(1, v - 1) if a[t][v - 1]]
        out = torch.cat(feeders, dim=1) if feeders else None
        if a[0][v - 1]:
            projected = self.proj[str(v - 1)](x)
            out = projected if out is None else out + projected
        assert out is not None  # a valid cell reaches its output
        return out


class NB101Network(nn.Module):
    """The stand-alone network of one cell (``forward(x)``; ``forward(x, arch)`` ignores ``arch``, as a path would)."""

    def __init__(
        self, cell: Any, C: int = 128, N: int = 3, num_classes: int = 10, *, num_stacks: int = 3, seed: int = 0,
        settings: NetworkSettings = DEFAULT,
    ) -> None:  # fmt: skip
        super().__init__()
        with global_rng_forked():  # module constructors draw from the global RNG
            self.stem = ConvBnRelu(3, C, 3, settings)
            layers: list[nn.Module] = []
            c_in = C
            for stack in range(num_stacks):
                c_out = 2 * c_in if stack else c_in
                if stack:
                    layers.append(nn.MaxPool2d(2, stride=2))
                for _ in range(N):
                    layers.append(StandaloneCell(cell, c_in, c_out, settings))
                    c_in = c_out
            self.layers = nn.ModuleList(layers)
            self.classifier = nn.Linear(c_in, num_classes)
        initialise(self, seed, settings.init)

    def forward(self, x: torch.Tensor, arch: Any = None) -> torch.Tensor:
        h = self.stem(x)
        for layer in self.layers:
            h = cast(nn.Module, layer)(h)
        return self.classifier(h.mean(dim=(2, 3)))
