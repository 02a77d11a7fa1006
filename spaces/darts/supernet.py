"""The DARTS weight-sharing supernet: every (cell, node, input, op) candidate holds its own weights
(by default; ``sharing = "slot"`` shares them per node slot, as the seed paper does).

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
gradients (and, with ``calib_drop_path``, in BN recalibration's train-mode forwards); scoring in eval
mode is never dropped. Masks come from the supernet's own checkpointed stream (``randomness``).
BN layers are affine (DARTS searches with ``affine=False``; the evaluation networks are affine).

The options of ``spaces.darts.options`` turn it into the seed paper's supernet: per-node-slot
sharing (``spaces.darts.slots``), an auxiliary head whose logits ride on the training output
(``output.aux``, ``output.aux_weight``: the classification loss adds them), ``AvgPool2d(7)``, a
drop-path ramp, ``path_chunks`` paths per step each on its own slice of the batch, and a zero
gradient on every parameter (``zero_grad_all``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

import torch
from torch import nn

from harness.api.errors import WsbenchError
from harness.seeded_init import global_rng_forked, init_parameters
from spaces.darts import encoding
from spaces.darts.network import AuxiliaryHead, FactorizedReduce, ReLUConvBN, make_op
from spaces.darts.options import SupernetOptions
from spaces.darts.randomness import Dropper, TrainingState
from spaces.darts.slots import SlotCell

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


@dataclass(frozen=True)
class ChunkedPaths:
    """One training view of ``path_chunks`` paths: path i trains on the i-th equal slice of the batch."""

    paths: tuple[Any, ...]


def carry_aux(logits: torch.Tensor, aux: torch.Tensor | None, weight: float) -> torch.Tensor:
    """The training output: logits carrying the auxiliary head's logits and weight, which
    ``ClassificationTask.loss`` adds (everything else reads the logits as they are)."""
    if aux is not None:
        setattr(logits, "aux", aux)  # noqa: B010 - a tensor takes attributes; mypy does not know it
        setattr(logits, "aux_weight", weight)  # noqa: B010
    return logits


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

    def _op(self, k: int, src: int, op: str, h: torch.Tensor, dropper: Dropper | None) -> torch.Tensor:
        module = cast(nn.ModuleDict, self.edges[edge_key(k, src)])[op]
        out = module(h)
        if dropper is not None and not isinstance(module, nn.Identity):
            out = dropper(out)
        return out

    def forward(
        self, s0: torch.Tensor, s1: torch.Tensor, edges: tuple, dropper: Dropper | None, swaps: Sequence[bool] | None = None
    ) -> torch.Tensor:
        """The cell on one path's (node, input, op) edges (``swaps`` is for slots; edges have none)."""
        states = [self.pre0(s0), self.pre1(s1)]
        for n in range(len(encoding.NODES)):
            (k, a, op_a), (_, b, op_b) = edges[2 * n], edges[2 * n + 1]
            states.append(self._op(k, a, op_a, states[a], dropper) + self._op(k, b, op_b, states[b], dropper))
        return torch.cat(states[2:], dim=1)

    def forward_mixed(
        self, s0: torch.Tensor, s1: torch.Tensor, w: torch.Tensor, nonzero: list, dropper: Dropper | None
    ) -> torch.Tensor:
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
                    term = w[e, col] * self._op(k, src, op, states[src], dropper)
                    acc = term if acc is None else acc + term
            if acc is None:  # every weight into this node is zero or none: the node is zero
                acc = states[1][:, :, ::stride, ::stride] * 0.0
            if kept:
                acc = acc + torch.stack(kept).sum()  # exactly 0.0; carries the gradient
            states.append(acc)
        return torch.cat(states[2:], dim=1)


class DartsSupernet(nn.Module):
    """The weight-sharing DARTS CIFAR network: ``layers`` cells, ``C`` initial channels.

    ``options`` are those of ``spaces.darts.options.SupernetOptions`` (defaults: ours).
    """

    randomness: TrainingState  # only with drop-path or random slot orders
    auxiliary: AuxiliaryHead  # only with an auxiliary weight

    def __init__(
        self, C: int = 16, layers: int = 8, num_classes: int = 10, drop_path: float = 0.0, *, seed: int = 0, **options: Any
    ) -> None:
        super().__init__()
        self.C, self.layers, self.num_classes, self.drop_path = C, layers, num_classes, float(drop_path)
        self.options = opts = SupernetOptions(drop_path=float(drop_path), **options)
        self.aux_at = 2 * layers // 3  # the second reduction cell, as DARTS places the auxiliary head
        cell_type = SlotCell if opts.sharing == "slot" else SupernetCell
        with global_rng_forked():  # module construction draws from the global RNG
            self.stem = nn.Sequential(nn.Conv2d(3, 3 * C, 3, padding=1, bias=False), nn.BatchNorm2d(3 * C))
            c_pp, c_p, c = 3 * C, 3 * C, C
            self.cells = nn.ModuleList()
            reduction_prev = False
            for i in range(layers):
                reduction = i in (layers // 3, 2 * layers // 3)
                c = 2 * c if reduction else c
                self.cells.append(cell_type(c_pp, c_p, c, reduction, reduction_prev))
                reduction_prev = reduction
                c_pp, c_p = c_p, 4 * c
                if opts.aux_weight and i == self.aux_at:
                    self.auxiliary = AuxiliaryHead(c_p, num_classes, inplace=False)
            self.pool = nn.AvgPool2d(7) if opts.pooling == "avgpool7" else nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Linear(c_p, num_classes)
        init_parameters(self, seed)
        if opts.needs_randomness:  # made after the weights, so the initialisation draws are ours exactly
            self.randomness = TrainingState(seed, opts.drop_path, opts.drop_path_epochs, opts.drop_path_epoch_steps)
        self._pending: list[Any] = []  # paths waiting for their chunk group (``training_views``), and their batch
        self._pending_batch: Any = None

    def forward(self, x: torch.Tensor, arch: Any) -> torch.Tensor:
        """Logits of one path (a grid tuple), of ``path_chunks`` paths on slices of ``x``, or of the
        relaxation under an op-weight tensor [28, 8]; while training, they carry the auxiliary logits."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise WsbenchError(f"DARTS network expects images shaped (batch, 3, H, W), got {tuple(x.shape)}")
        training = self.training and torch.is_grad_enabled()
        if training:
            if self._pending:
                raise self._incomplete_group()
            if self.options.needs_randomness:
                self.randomness.observe(cast(nn.Conv2d, self.stem[0]).weight)
            if self.options.zero_grad_all:
                self._zero_grads_where_none()
        if isinstance(arch, ChunkedPaths):
            return self._forward_chunks(x, arch, training)
        if isinstance(arch, torch.Tensor):
            return self._forward_mixed(x, arch)
        return self._forward_path(x, arch, training)

    def training_views(self, arch: Any, x: Any, y: Any, loss: Any) -> list[Any]:
        """What one step trains of ``arch``: itself, or with ``path_chunks`` > 1 the group it completes
        (the engine asks for every path of a step before it runs any, so a group never spans steps)."""
        chunks = self.options.path_chunks
        if chunks == 1:
            return [arch]
        if isinstance(arch, torch.Tensor):
            raise WsbenchError(
                "network.path_chunks slices the batch among sampled paths; op-weight strategies (DARTS, GDAS) have none"
            )
        if self._pending and x is not self._pending_batch:  # the engine passes one batch object per step
            raise self._incomplete_group()
        self._pending.append(arch)
        self._pending_batch = x
        if len(self._pending) < chunks:
            return []
        group, self._pending, self._pending_batch = ChunkedPaths(tuple(self._pending)), [], None
        return [group]

    def _incomplete_group(self) -> WsbenchError:
        return WsbenchError(
            f"network.path_chunks = {self.options.path_chunks}: a step trained {len(self._pending)} path(s) beyond "
            "whole groups; use a strategy whose paths per step are a multiple of it (e.g. multipath k = path_chunks)"
        )

    def _zero_grads_where_none(self) -> None:
        """A zero gradient on every parameter without one (``zero_grad_all``): backward adds to it, and the
        optimizer then decays and momentum-steps parameters off the path too."""
        for q in self.parameters():
            if q.grad is None and q.requires_grad:
                q.grad = torch.zeros_like(q)

    def _dropper(self, device: torch.device) -> Dropper | None:
        """Drop-path while training with gradients, and in train-mode forwards without (``calib_drop_path``)."""
        if not (self.options.drop_path and self.training and (torch.is_grad_enabled() or self.options.calib_drop_path)):
            return None
        return self.randomness.dropper(device)

    def _forward_path(self, x: torch.Tensor, arch: Any, training: bool) -> torch.Tensor:
        normal, reduce = path_edges(tuple(int(v) for v in arch))
        dropper = self._dropper(x.device)
        swaps: Sequence[bool] | None = None
        if training and self.options.slot_order == "random":  # one order per node and cell type, like the path
            swaps = self.randomness.swaps(2 * len(encoding.NODES))
        nodes = len(encoding.NODES)
        s0 = s1 = self.stem(x)
        aux = None
        for i, cell in enumerate(self.cells):
            red = cast(SupernetCell, cell).reduction
            order = None if swaps is None else swaps[nodes:] if red else swaps[:nodes]
            s0, s1 = s1, cell(s0, s1, reduce if red else normal, dropper, order)
            if i == self.aux_at and training and self.options.aux_weight:
                aux = self.auxiliary(s1)
        return carry_aux(self.classifier(self.pool(s1).flatten(1)), aux, self.options.aux_weight)

    def _forward_chunks(self, x: torch.Tensor, group: ChunkedPaths, training: bool) -> torch.Tensor:
        """Each path on its own slice (its own batch statistics), as one GPU each; the loss of the joined
        logits is the mean of the slices' losses, so the gradient is their average (the seed's DDP)."""
        n = len(group.paths)
        if x.shape[0] % n:
            raise WsbenchError(f"network.path_chunks = {n} needs a batch size divisible by it, got {x.shape[0]}")
        outs = [self._forward_path(part, arch, training) for part, arch in zip(x.chunk(n), group.paths)]
        aux = [getattr(o, "aux", None) for o in outs]
        joined = None if any(a is None for a in aux) else torch.cat(cast(list[torch.Tensor], aux))
        return carry_aux(torch.cat(outs), joined, self.options.aux_weight)

    def _forward_mixed(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if tuple(w.shape) != MIXED_SHAPE or not w.is_floating_point():
            raise WsbenchError(
                f"DARTS op weights must be a float tensor shaped {MIXED_SHAPE} (2 x 14 candidate edges x 8 ops), "
                f"got {w.dtype} {tuple(w.shape)}"
            )
        if self.options.sharing != "edge":
            raise WsbenchError('network.sharing = "slot" runs sampled paths only: op-weight strategies (DARTS, GDAS) need edges')
        nonzero = (w != 0).tolist()  # one host read (a device sync on a GPU) decides what runs
        w_normal, w_reduce = w[:EDGES_PER_CELL], w[EDGES_PER_CELL:]
        nz_normal, nz_reduce = nonzero[:EDGES_PER_CELL], nonzero[EDGES_PER_CELL:]
        dropper = self._dropper(x.device)
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            cell = cast(SupernetCell, cell)
            wc, nz = (w_reduce, nz_reduce) if cell.reduction else (w_normal, nz_normal)
            s0, s1 = s1, cell.forward_mixed(s0, s1, wc, nz, dropper)
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
