"""Building blocks of NB201 networks and the per-cell execution plan shared by supernet and network.

Semantics follow the official NB201 network (xautodl ``InferCell`` / ``TinyNetwork``): node i is the
sum over j < i of ``op_{i<-j}(node j)``; ``none`` multiplies by zero. Two facts about that function
let a path skip work without changing a single output value:

* a node that cannot reach the cell output (through non-``none`` edges) never affects it, so the
  edges into it are *dead* and are not computed;
* a node whose inputs are all ``none`` is exactly zero, so ``skip_connect`` and ``avg_pool_3x3`` out
  of it give zero and are skipped. A ``nor_conv`` out of it is NOT zero: ReLU(0) -> conv -> BN gives
  BN's per-channel shift (``beta`` in training mode), which the official network computes and trains.
  Those edges are kept (on a zeros tensor), so a path is the official function exactly. (NB201's
  isomorphism string treats such an edge as zero; the functions differ by that learned constant.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import cast

import torch
from torch import nn

from spaces.nb201.encoding import EDGES, OPS, Arch, as_arch

CONV_OPS: frozenset[str] = frozenset({"nor_conv_1x1", "nor_conv_3x3"})
#: Ops whose output is zero when their input is zero (and that have no parameters).
_LINEAR_PARAMLESS = frozenset({"skip_connect", "avg_pool_3x3"})


def edge_key(target: int, source: int) -> str:
    """Module name of the edge ``target <- source`` (``'2_1'``); '.' is not allowed in module names."""
    return f"{target}_{source}"


@dataclass(frozen=True)
class CellSettings:
    """How a cell's ops are built and run (network keys ``cell_bn_affine``, ``cell_bn_track``, ``cell_dead_ops``).

    The defaults are the official stand-alone network's: BN affine with tracked statistics, and a
    path computes only the ops that can reach the cell output. The NB201 authors' search code
    (xautodl ``NAS201SearchCell``, used by their random-sampling supernet and by the few-shot NAS
    code) builds cell ops with ``affine=False`` -- and then gives the convolution a bias, as
    ``ReLUConvBN`` does there (``bias = not affine``) -- tracks statistics per a flag, and runs every
    edge of the sampled cell (``forward_dynamic``), ``none`` as ``x * 0``: ops that cannot reach the
    output then still join the autograd graph (zero gradients, so weight decay and momentum move them
    under torch 1.x's ``zero_grad``) and, when tracking, update their BN statistics.
    """

    bn_affine: bool = True
    bn_track: bool = True
    dead_ops: bool = False


OFFICIAL = CellSettings()


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv(k x k) -> BatchNorm, as NB201's ``nor_conv``; the conv has a bias only when BN is not affine."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, affine: bool = True, track: bool = True) -> None:
        super().__init__(
            # Not inplace: a node tensor feeds several edges and must stay intact.
            nn.ReLU(inplace=False),
            # bias = not affine, as xautodl's ReLUConvBN: without BN's shift the conv carries one.
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=not affine),
            nn.BatchNorm2d(c_out, affine=affine, track_running_stats=track),
        )


class ResidualReduction(nn.Module):
    """NB201's reduction block: a stride-2 ResNet basic block with an avg-pool + 1x1 conv shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, stride=1)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(c_in, c_out, kernel_size=1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_b(self.conv_a(x)) + self.downsample(x)


def make_op(name: str, channels: int, cell: CellSettings = OFFICIAL) -> nn.Module:
    """One candidate op of a cell edge (``none`` has no module: callers never build it)."""
    if name in CONV_OPS:
        return ReLUConvBN(channels, channels, 1 if name == "nor_conv_1x1" else 3, 1, cell.bn_affine, cell.bn_track)
    if name == "avg_pool_3x3":
        # count_include_pad=False as in NB201: border pixels average only real neighbours.
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    if name == "skip_connect":
        return nn.Identity()
    raise ValueError(f"make_op: no module for op {name!r}")  # internal misuse, not user input


@dataclass(frozen=True)
class Step:
    """One edge to compute: ``node[target] += op(node[source])``."""

    key: str
    target: int
    source: int
    op: str


@dataclass(frozen=True)
class CellPlan:
    """What a cell instantiates (``edges``) and what its forward computes (``steps``), in edge order."""

    arch: Arch
    edges: tuple[Step, ...]
    steps: tuple[Step, ...]


def nodes_reaching_output(arch: Arch) -> frozenset[int]:
    """Nodes with a path of non-``none`` edges to node 3 (node 3 included)."""
    reach = {3}
    # Reverse edge order visits every edge out of a node before the edges into it.
    for (target, source), op in zip(reversed(EDGES), reversed(arch)):
        if OPS[op] != "none" and target in reach:
            reach.add(source)
    return frozenset(reach)


@lru_cache(maxsize=4096)
def _plan(arch: Arch, keep_dead_ops: bool) -> CellPlan:
    live = nodes_reaching_output(arch)
    nonzero = {0}
    edges: list[Step] = []
    steps: list[Step] = []
    for (target, source), op_index in zip(EDGES, arch):
        op = OPS[op_index]
        if op == "none" or (not keep_dead_ops and target not in live):
            continue
        step = Step(edge_key(target, source), target, source, op)
        edges.append(step)
        if source not in nonzero and op in _LINEAR_PARAMLESS:
            continue  # zero in, zero out
        steps.append(step)
        nonzero.add(target)
    return CellPlan(arch, tuple(edges), tuple(steps))


def cell_plan(arch: Arch | str, keep_dead_ops: bool = False) -> CellPlan:
    """The plan of a cell; ``keep_dead_ops`` also instantiates/computes edges into dead nodes (official)."""
    return _plan(as_arch(arch), bool(keep_dead_ops))


def run_cell(x: torch.Tensor, steps: tuple[Step, ...], modules: list[nn.Module]) -> torch.Tensor:
    """Compute a cell's output from its plan's steps and the module of each step."""
    nodes: list[torch.Tensor | None] = [x, None, None, None]
    zeros: torch.Tensor | None = None
    for step, module in zip(steps, modules):
        h = nodes[step.source]
        if h is None:  # only a conv reads a zero node (see the module docstring)
            if zeros is None:
                # x * 0 (as the official Zero op) rather than zeros_like: it keeps upstream layers
                # in the autograd graph, so every path parameter gets a (zero) gradient.
                zeros = x * 0.0
            h = zeros
        out = h if step.op == "skip_connect" else module(h)
        prev = nodes[step.target]
        nodes[step.target] = out if prev is None else prev + out
    out = nodes[3]
    return x * 0.0 if out is None else out


def run_every_edge(x: torch.Tensor, arch: Arch, module_of: Callable[[str, str], nn.Module]) -> torch.Tensor:
    """A cell's output as xautodl's ``forward_dynamic`` computes it: every edge runs, ``none`` is ``h * 0``.

    The output equals ``run_cell``'s (the extra terms are exact zeros); what differs is that ops which
    cannot reach the output are run and stay in the autograd graph through the ``* 0`` terms, so
    their parameters get zero gradients rather than none. ``module_of(key, op)`` is an edge's module.
    """
    nodes = [x]
    for target in (1, 2, 3):
        acc: torch.Tensor | None = None
        for (t, source), op_index in zip(EDGES, arch):
            if t != target:
                continue
            op, h = OPS[op_index], nodes[source]
            if op == "none":
                out = h * 0.0
            else:
                out = h if op == "skip_connect" else module_of(edge_key(target, source), op)(h)
            acc = out if acc is None else acc + out
        assert acc is not None  # every node has at least one incoming edge
        nodes.append(acc)
    return nodes[3]


# -- the mixed (continuous-relaxation) cell: DARTS / GDAS ----------------------------------------
#
# A weight tensor w [6 edges, 5 ops] replaces the 6-tuple; node i = sum over its edges e and ops k of
# w[e, k] * op_k(node j), the official NB201 search cell (xautodl ``NAS201SearchCell``): node inputs
# are *summed* (not averaged), as in the discrete cell. Which terms are computed follows the same
# exact rules as the discrete plan, so a one-hot w runs exactly the discrete path:
#
# * ``none`` is never computed: w * (x * 0) is zero and so is its gradient with respect to w;
# * an op with weight exactly 0 is skipped when w carries no gradient (a detached one-hot runs one
#   op per edge); nodes that cannot reach the output through computed terms are dead, and
#   skip/pool out of a zero node give zero, exactly as in ``_plan``; convs out of a zero node run on
#   zeros (BN's shift), as in the discrete path;
# * when w requires grad, an op with weight exactly 0 is still not run, but its weight is *added* to
#   the target node (a zero-valued scalar): the official GDAS trick (``forward_gdas``), which keeps the
#   forward at one op per edge yet gives every logit a gradient (sum of dL/dnode, a surrogate for
#   sum(dL/dnode * op(x))). Soft DARTS weights are never exactly 0, so this only affects hard samples.


@dataclass(frozen=True)
class MixedTerm:
    """``node[target] += w[edge, op_index] * op(node[source])``."""

    edge: int
    op_index: int
    key: str
    source: int
    op: str


@dataclass(frozen=True)
class MixedGroup:
    """Everything summed into one node: computed terms (edge order, then op order) and zero weights kept."""

    target: int
    terms: tuple[MixedTerm, ...]
    kept_zero: tuple[tuple[int, int], ...]  # (edge, op) of zero weights added as scalars (GDAS trick)


@lru_cache(maxsize=4096)
def mixed_plan(nonzero: tuple[tuple[bool, ...], ...], keep_zero: bool) -> tuple[MixedGroup, ...]:
    """The groups of a mixed cell from which weights are non-zero (and whether zeros carry gradient)."""
    carries = [any(nz and OPS[k] != "none" for k, nz in enumerate(row)) for row in nonzero]
    live = {3}
    for e in reversed(range(len(EDGES))):  # reverse order: edges out of a node before edges into it
        target, source = EDGES[e]
        if carries[e] and target in live:
            live.add(source)
    produced = {0}  # nodes that receive at least one computed term (others are exactly zero)
    groups: list[MixedGroup] = []
    for target in (1, 2, 3):
        if target not in live:
            continue
        terms: list[MixedTerm] = []
        kept: list[tuple[int, int]] = []
        for e, (t, source) in enumerate(EDGES):
            if t != target:
                continue
            for k, op in enumerate(OPS):
                if not nonzero[e][k]:
                    if keep_zero:
                        kept.append((e, k))
                    continue
                if op == "none" or (source not in produced and op in _LINEAR_PARAMLESS):
                    continue  # zero out, zero gradient
                terms.append(MixedTerm(e, k, edge_key(target, source), source, op))
        if terms:
            produced.add(target)
        groups.append(MixedGroup(target, tuple(terms), tuple(kept)))
    return tuple(groups)


def run_mixed_cell(
    x: torch.Tensor, weights: list[list[torch.Tensor]], groups: tuple[MixedGroup, ...], edges: nn.ModuleDict
) -> torch.Tensor:
    """A mixed cell's output; ``weights[e][k]`` are 0-d views of the weight tensor, ``edges`` the cell's ops."""
    nodes: list[torch.Tensor | None] = [x, None, None, None]
    zeros: torch.Tensor | None = None
    for group in groups:
        acc: torch.Tensor | None = None
        for term in group.terms:
            h = nodes[term.source]
            if h is None:  # only a conv reads a zero node (see the module docstring)
                if zeros is None:
                    zeros = x * 0.0
                h = zeros
            out = h if term.op == "skip_connect" else cast(nn.ModuleDict, edges[term.key])[term.op](h)
            out = weights[term.edge][term.op_index] * out
            acc = out if acc is None else acc + out
        if group.kept_zero:
            kept = torch.stack([weights[e][k] for e, k in group.kept_zero]).sum()  # exactly 0.0
            acc = (x * 0.0 if acc is None else acc) + kept
        nodes[group.target] = acc
    out = nodes[3]
    return x * 0.0 if out is None else out
