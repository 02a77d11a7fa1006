"""The NAS-Bench-101 weight-sharing supernet: every edge and op of a 7-vertex cell; a forward runs one cell.

Macro skeleton as the benchmark's network: stem Conv3x3(3 -> C)+BN+ReLU; 3 stacks of N cells; a
2x2 max-pool before stacks 2 and 3, whose first cell doubles the channels; global average pool;
Linear(4C, classes). Every cell of a network uses the same arch.

A supernet cell has 7 vertex slots (0 input, 1..5 interior, 6 output) and holds:

* for each interior slot t, the three candidate ops at full width (conv3x3-BN-ReLU and
  conv1x1-BN-ReLU ``C_out -> C_out``, max-pool 3x3);
* for each slot t >= 1, the benchmark's 1x1 projection (conv-BN-ReLU, ``C_in -> C_out``) used when
  the cell input feeds t;
* interior -> interior and interior -> output edges carry no weights (as in the benchmark).

Channels. The stand-alone network splits the output's channels among the k vertices that feed
it (width C/k each, concatenated) and sizes other vertices from their successors, so a vertex's
width depends on the whole cell -- shared weights cannot follow that without slicing. Here every
interior vertex has the full width ``C_out`` and the output **sums** its interior inputs (plus the
projected cell input) instead of concatenating them. So a path is the stand-alone cell with every
vertex widened to C_out and concatenation replaced by a sum: for k = 1 the functions have the
same form; for k > 1 the path has more capacity than its stand-alone network. This is the usual
choice of full-width choice blocks; we did not verify NAS-Bench-1Shot1's exact output handling.

Slot mapping. A cell is run on its own vertex indices (vertices off every input -> output path
are skipped, as pruning would); a cell with V < 7 vertices uses slots 1..V-2 and its output is
slot 6. Isomorphic cells written with different vertex orders therefore use different weights,
as in any such supernet.

The seed paper's cell (network key ``cell = "seedpaper"``; matluster/anonymous-2102,
``space/nb101/network.py``, ``OneShotCell`` / ``OneShotNode``) shares weights differently: every
vertex slot t = 1..5 has its own 1x1 projection of the cell input and its three candidate ops at a
fixed width ``C_out / 2`` (``num_parents[-1] = 2``), and the output *concatenates* its two parents.
It runs the cells of its space, NAS-Bench-1Shot1's third (every cell has exactly two output
parents and no input -> output edge; space ``nb101-1shot1c``), whose stand-alone networks have
exactly those widths: a path of this cell is its cell's benchmark network (the tests check it
against ``nasbench-pytorch``). The seed also builds a projection for the output slot that it never
uses, and computes every projection in each forward, chosen or not; neither changes the function,
the gradients, or the recalibrated statistics, so neither is built here.

Weight init is torch's default init drawn from a private generator seeded by ``seed`` (or the seed
paper's, ``init = "seedpaper"``: ``spaces.nb101.ops``); building never advances the global RNG.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

import torch
from torch import nn

from harness.api.errors import WsbenchError
from harness.seeded_init import global_rng_forked
from spaces.nb101.encoding import MAX_VERTICES, OPS, Cell, as_cell, check_valid
from spaces.nb101.ops import DEFAULT, ConvBnRelu, NetworkSettings, initialise, make_op

__all__ = ["ConvBnRelu", "NB101ConfigError", "NB101Supernet", "SeedCell", "SupernetCell", "cell_plan", "make_op"]

OUT_SLOT = MAX_VERTICES - 1
INTERIOR_SLOTS = tuple(range(1, OUT_SLOT))
#: The supernet cells a network key ``cell`` names: wsbench's full-width sum, or the seed paper's.
CELLS = ("sum", "seedpaper")
#: Parents of the output in the seed paper's cell (``num_parents[-1]`` of ``configs/nb101.py``).
SEED_OUTPUT_PARENTS = 2


class NB101ConfigError(WsbenchError):
    """A bad NB101 network configuration or input."""


@dataclass(frozen=True)
class Node:
    """One interior vertex to compute: ``slot = op(sum(slots in preds) + [proj(input)])``."""

    slot: int
    op: str
    preds: tuple[int, ...]
    from_input: bool


@dataclass(frozen=True)
class CellPlan:
    """What a path computes in a cell: interior nodes in order, the output's feeders, input -> output."""

    nodes: tuple[Node, ...]
    out_preds: tuple[int, ...]
    input_to_output: bool


@lru_cache(maxsize=8192)
def _plan(cell: Cell) -> CellPlan:
    check_valid(cell)
    a = cell.array() != 0
    live = cell.live_vertices()
    v = cell.num_vertices
    slot = {i: (OUT_SLOT if i == v - 1 else i) for i in live}
    nodes = tuple(
        Node(slot[t], cell.ops[t], tuple(slot[s] for s in live if 0 < s < t and a[s, t]), bool(a[0, t]))
        for t in live
        if 0 < t < v - 1
    )
    out_preds = tuple(slot[s] for s in live if 0 < s < v - 1 and a[s, v - 1])
    return CellPlan(nodes, out_preds, bool(a[0, v - 1]))


def cell_plan(arch: Any) -> CellPlan:
    """The path of a (valid) cell through a supernet cell."""
    return _plan(as_cell(arch))


class SupernetCell(nn.Module):
    """All projections and candidate ops of one 7-slot cell."""

    def __init__(self, c_in: int, c_out: int, bn: NetworkSettings = DEFAULT) -> None:
        super().__init__()
        self.proj = nn.ModuleDict({str(t): ConvBnRelu(c_in, c_out, 1, bn) for t in (*INTERIOR_SLOTS, OUT_SLOT)})
        self.ops = nn.ModuleDict({str(t): nn.ModuleDict({op: make_op(op, c_out, bn) for op in OPS}) for t in INTERIOR_SLOTS})

    def forward(self, x: torch.Tensor, plan: CellPlan) -> torch.Tensor:
        nodes: dict[int, torch.Tensor] = {}
        for n in plan.nodes:
            parts = [nodes[s] for s in n.preds]
            if n.from_input:
                parts.append(self.proj[str(n.slot)](x))
            nodes[n.slot] = self.slot_op(n.slot, n.op)(_sum(parts))
        parts = [nodes[s] for s in plan.out_preds]
        if plan.input_to_output:
            parts.append(self.proj[str(OUT_SLOT)](x))
        return _sum(parts)

    def path_modules(self, plan: CellPlan) -> Iterator[nn.Module]:
        """The modules a forward of ``plan`` runs."""
        for n in plan.nodes:
            if n.from_input:
                yield self.proj[str(n.slot)]
            yield self.slot_op(n.slot, n.op)
        if plan.input_to_output:
            yield self.proj[str(OUT_SLOT)]

    def slot_op(self, slot: int, op: str) -> nn.Module:
        """The candidate ``op`` of the interior vertex ``slot``."""
        return cast(nn.ModuleDict, self.ops[str(slot)])[op]


class SeedCell(SupernetCell):
    """The seed paper's one-shot cell: per-slot input projections and ops at width ``C_out / 2``, output concatenated."""

    def __init__(self, c_in: int, c_out: int, bn: NetworkSettings = DEFAULT) -> None:
        nn.Module.__init__(self)
        if c_out % SEED_OUTPUT_PARENTS:
            raise NB101ConfigError(f"the seed paper's NB101 cell needs even channels (its output concatenates two), got {c_out}")
        width = c_out // SEED_OUTPUT_PARENTS
        self.proj = nn.ModuleDict({str(t): ConvBnRelu(c_in, width, 1, bn) for t in INTERIOR_SLOTS})
        self.ops = nn.ModuleDict({str(t): nn.ModuleDict({op: make_op(op, width, bn) for op in OPS}) for t in INTERIOR_SLOTS})

    def forward(self, x: torch.Tensor, plan: CellPlan) -> torch.Tensor:
        check_seed_plan(plan)
        nodes: dict[int, torch.Tensor] = {}
        for n in plan.nodes:
            parts = [nodes[s] for s in n.preds]
            if n.from_input:
                parts.append(self.proj[str(n.slot)](x))
            nodes[n.slot] = self.slot_op(n.slot, n.op)(_sum(parts))
        # In ascending vertex order, as the seed's InputChoice (reduction "concat") keeps its candidates.
        return torch.cat([nodes[s] for s in plan.out_preds], dim=1)


def check_seed_plan(plan: CellPlan) -> None:
    """A one-line error for a cell the seed paper's supernet cell cannot run."""
    if len(plan.out_preds) != SEED_OUTPUT_PARENTS or plan.input_to_output:
        raise NB101ConfigError(
            f"the seed paper's NB101 cell (network cell 'seedpaper') runs cells whose output has exactly "
            f"{SEED_OUTPUT_PARENTS} interior parents and no input -> output edge (NAS-Bench-1Shot1's third space: "
            f"space 'nb101-1shot1c'); this cell has {len(plan.out_preds)} and input -> output {plan.input_to_output}"
        )


def _sum(parts: list[torch.Tensor]) -> torch.Tensor:
    out = parts[0]
    for p in parts[1:]:
        out = out + p
    return out


class NB101Supernet(nn.Module):
    """Weight-sharing NB101 network; ``forward(x, arch)`` runs only that cell's path."""

    def __init__(
        self, C: int = 128, N: int = 3, num_classes: int = 10, *, num_stacks: int = 3, seed: int = 0,
        cell: str = "sum", settings: NetworkSettings = DEFAULT,
    ) -> None:  # fmt: skip
        super().__init__()
        for name, value in (("C", C), ("N", N), ("num_classes", num_classes), ("num_stacks", num_stacks)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise NB101ConfigError(f"NB101 supernet needs {name} to be a positive integer, got {value!r}")
        if cell not in CELLS:
            raise NB101ConfigError(f"NB101 supernet cell must be one of {', '.join(CELLS)}, got {cell!r}")
        self.C, self.N, self.num_classes = C, N, num_classes
        make_cell = SeedCell if cell == "seedpaper" else SupernetCell
        with global_rng_forked():  # module constructors draw from the global RNG
            self.stem = ConvBnRelu(3, C, 3, settings)
            layers: list[nn.Module] = []
            c_in = C
            for stack in range(num_stacks):
                c_out = 2 * c_in if stack else c_in
                if stack:
                    layers.append(nn.MaxPool2d(2, stride=2))
                for _ in range(N):
                    layers.append(make_cell(c_in, c_out, settings))
                    c_in = c_out
            self.layers = nn.ModuleList(layers)
            self.classifier = nn.Linear(c_in, num_classes)
        initialise(self, seed, settings.init)
        self._is_cell = tuple(isinstance(m, SupernetCell) for m in self.layers)

    def forward(self, x: torch.Tensor, arch: Any) -> torch.Tensor:
        """Logits of the path of ``arch`` (a Cell, ``(matrix, ops)`` or cell string)."""
        plan = cell_plan(arch)
        if x.dim() != 4 or x.shape[1] != 3:
            raise NB101ConfigError(f"NB101 supernet expects images shaped (batch, 3, H, W), got {tuple(x.shape)}")
        h = self.stem(x)
        for layer, is_cell in zip(self.layers, self._is_cell):
            h = layer(h, plan) if is_cell else layer(h)
        return self.classifier(h.mean(dim=(2, 3)))

    def path_parameters(self, arch: Any) -> list[nn.Parameter]:
        """The parameters a forward of ``arch`` uses, in network order."""
        plan = cell_plan(arch)
        mods: list[nn.Module] = [self.stem]
        for layer, is_cell in zip(self.layers, self._is_cell):
            if is_cell:
                mods.extend(cast(SupernetCell, layer).path_modules(plan))
        mods.append(self.classifier)
        return [p for m in mods for p in m.parameters()]
