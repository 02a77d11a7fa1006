"""The DARTS weight-sharing supernet: every (cell, node, input, op) candidate holds its own weights.

The macro skeleton is the evaluation network's (``spaces.darts.network``): stem, ``layers`` cells
with reductions at 1/3 and 2/3 of the depth, ReLU-conv-BN / FactorizedReduce preprocessing, cell
output the concatenation of nodes 2-5. In every cell, each of the 14 candidate edges (node k reads
any earlier state) holds one module per op of the seed paper's seven (``none`` is the zero op and
holds nothing). Weights are per cell position, as in DARTS's search network; the normal cells share
one genotype and the reduction cells another.

``forward(x, arch)`` runs one path: ``arch`` is the space's grid tuple (or any form
``encoding.parse`` reads), and each node sums the two chosen (input, op) candidates. A float tensor
of op weights [28, 8] (the 14 candidate edges of the normal cell, then the reduction cell's, in
``encoding.CANDIDATE_EDGES`` order; columns ``encoding.OPS_WITH_NONE``) runs the continuous
relaxation instead: each edge outputs sum_k w[e, k] op_k(input), each node sums all its incoming
edges (DARTS, Liu et al. ICLR 2019; with hard one-hots, GDAS, Dong & Yang CVPR 2019). ``none`` and
exact-zero weights are not computed; a zero weight that requires grad is added as the scalar it is
(value 0), so every logit still gets a gradient -- the official GDAS code's trick.

Drop-path (``drop_path`` > 0) zeroes whole examples of non-identity op outputs while training with
gradients; BN recalibration and scoring run without gradients and are therefore never dropped.
BN layers are affine (DARTS searches with ``affine=False``; the evaluation networks are affine).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, cast

import torch
from torch import nn

from harness.api.errors import WsbenchError
from harness.seeded_init import global_rng_forked, init_parameters
from spaces.darts import encoding
from spaces.darts.network import FactorizedReduce, ReLUConvBN, drop_path, make_op

EDGES_PER_CELL = len(encoding.CANDIDATE_EDGES)
MIXED_SHAPE = (2 * EDGES_PER_CELL, len(encoding.OPS_WITH_NONE))
_PATH_OPS = encoding.OPS  # the ops that hold weights (none is the zero op)


def edge_key(node: int, src: int) -> str:
    """Module key of a candidate edge."""
    return f"{node}<-{src}"


@lru_cache(maxsize=65536)
def path_edges(arch: Any) -> tuple[tuple[tuple[int, int, str], ...], tuple[tuple[int, int, str], ...]]:
    """(node, input, op) edges of the normal and the reduction cell of a grid tuple."""
    normal, reduce = encoding.from_grid(arch)
    return tuple(encoding.edges_of(normal)), tuple(encoding.edges_of(reduce))


class SupernetCell(nn.Module):
    """One cell position: preprocessing and every candidate op of every candidate edge."""

    def __init__(self, c_pp: int, c_p: int, c: int, reduction: bool, reduction_prev: bool) -> None:
        super().__init__()
        self.reduction = reduction
        self.pre0 = FactorizedReduce(c_pp, c) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, 0)
        self.pre1 = ReLUConvBN(c_p, c, 1, 1, 0)
        self.edges = nn.ModuleDict(
            {
                edge_key(k, src): nn.ModuleDict({op: make_op(op, c, 2 if reduction and src < 2 else 1) for op in _PATH_OPS})
                for k, src in encoding.CANDIDATE_EDGES
            }
        )

    def _op(self, k: int, src: int, op: str, h: torch.Tensor, drop_prob: float) -> torch.Tensor:
        module = cast(nn.ModuleDict, self.edges[edge_key(k, src)])[op]
        out = module(h)
        if drop_prob > 0 and not isinstance(module, nn.Identity) and self.training and torch.is_grad_enabled():
            out = drop_path(out, drop_prob)
        return out

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, edges: tuple, drop_prob: float) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for n in range(len(encoding.NODES)):
            (k, a, op_a), (_, b, op_b) = edges[2 * n], edges[2 * n + 1]
            states.append(self._op(k, a, op_a, states[a], drop_prob) + self._op(k, b, op_b, states[b], drop_prob))
        return torch.cat(states[2:], dim=1)

    def forward_mixed(self, s0: torch.Tensor, s1: torch.Tensor, w: torch.Tensor, nonzero: list, drop_prob: float) -> torch.Tensor:
        """The cell under op weights ``w`` [14, 8] (``nonzero``: the same as host booleans)."""
        states = [self.pre0(s0), self.pre1(s1)]
        stride = 2 if self.reduction else 1
        for k in encoding.NODES:
            acc: torch.Tensor | None = None
            kept: list[torch.Tensor] = []
            for src in range(k):
                e = encoding.CANDIDATE_EDGES.index((k, src))
                for col, op in enumerate(encoding.OPS_WITH_NONE):
                    if not nonzero[e][col]:
                        if w.requires_grad:
                            kept.append(w[e, col])
                        continue
                    if op == "none":
                        continue
                    term = w[e, col] * self._op(k, src, op, states[src], drop_prob)
                    acc = term if acc is None else acc + term
            if acc is None:  # every weight into this node is zero or none: the node is zero
                acc = states[1][:, :, ::stride, ::stride] * 0.0
            if kept:
                acc = acc + torch.stack(kept).sum()  # exactly 0.0; carries the gradient
            states.append(acc)
        return torch.cat(states[2:], dim=1)


class DartsSupernet(nn.Module):
    """The weight-sharing DARTS CIFAR network: ``layers`` cells, ``C`` initial channels."""

    def __init__(self, C: int = 16, layers: int = 8, num_classes: int = 10, drop_path: float = 0.0, *, seed: int = 0) -> None:
        super().__init__()
        self.C, self.layers, self.num_classes, self.drop_path = C, layers, num_classes, float(drop_path)
        with global_rng_forked():  # module construction draws from the global RNG
            self.stem = nn.Sequential(nn.Conv2d(3, 3 * C, 3, padding=1, bias=False), nn.BatchNorm2d(3 * C))
            c_pp, c_p, c = 3 * C, 3 * C, C
            self.cells = nn.ModuleList()
            reduction_prev = False
            for i in range(layers):
                reduction = i in (layers // 3, 2 * layers // 3)
                c = 2 * c if reduction else c
                self.cells.append(SupernetCell(c_pp, c_p, c, reduction, reduction_prev))
                reduction_prev = reduction
                c_pp, c_p = c_p, 4 * c
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Linear(c_p, num_classes)
        init_parameters(self, seed)

    def forward(self, x: torch.Tensor, arch: Any) -> torch.Tensor:
        """Logits of one path (a grid tuple), or of the relaxation under an op-weight tensor [28, 8]."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise WsbenchError(f"DARTS network expects images shaped (batch, 3, H, W), got {tuple(x.shape)}")
        if isinstance(arch, torch.Tensor):
            return self._forward_mixed(x, arch)
        normal, reduce = path_edges(tuple(int(v) for v in arch))
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, reduce if cell.reduction else normal, self.drop_path)
        return self.classifier(self.pool(s1).flatten(1))

    def _forward_mixed(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if tuple(w.shape) != MIXED_SHAPE or not w.is_floating_point():
            raise WsbenchError(
                f"DARTS op weights must be a float tensor shaped {MIXED_SHAPE} (2 x 14 candidate edges x 8 ops), "
                f"got {w.dtype} {tuple(w.shape)}"
            )
        nonzero = (w != 0).tolist()  # one host read (a device sync on a GPU) decides what runs
        w_normal, w_reduce = w[:EDGES_PER_CELL], w[EDGES_PER_CELL:]
        nz_normal, nz_reduce = nonzero[:EDGES_PER_CELL], nonzero[EDGES_PER_CELL:]
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            cell = cast(SupernetCell, cell)
            wc, nz = (w_reduce, nz_reduce) if cell.reduction else (w_normal, nz_normal)
            s0, s1 = s1, cell.forward_mixed(s0, s1, wc, nz, self.drop_path)
        return self.classifier(self.pool(s1).flatten(1))


def derive(weights: Any, ops: tuple[str, ...] = encoding.OPS_WITH_NONE) -> encoding.Arch:
    """DARTS's discretisation of op weights [28, 8]: per node the two incoming edges whose strongest
    non-``none`` op weighs most, each with that op (Liu et al., ``genotype()`` in the DARTS code)."""
    import numpy as np

    w = np.asarray(weights, dtype=np.float64)
    live = [c for c, op in enumerate(ops) if op != "none"]

    def strongest(row: np.ndarray) -> int:
        """The live op of one edge that weighs most (ties: the lower op index)."""
        return max(live, key=lambda c: (row[c], -c))

    cells = []
    for half in (w[:EDGES_PER_CELL], w[EDGES_PER_CELL:]):
        nodes = []
        for k in encoding.NODES:
            rows = [encoding.CANDIDATE_EDGES.index((k, src)) for src in range(k)]
            best = [strongest(half[r]) for r in rows]
            strength = [half[r, c] for r, c in zip(rows, best)]
            top = sorted(range(k), key=lambda s: (-strength[s], s))[:2]
            nodes.append([(src, ops[best[src]]) for src in sorted(top)])
        cells.append(nodes)
    return encoding.canonical(cells)
