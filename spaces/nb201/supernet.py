"""The NB201 weight-sharing supernet, the stand-alone network of one cell, and FLOP/param counters.

Macro skeleton (NB201 ``TinyNetwork``): stem Conv3x3(3->C)+BN; three stages of N cells at C, 2C, 4C
channels (32, 16, 8 px) separated by two stride-2 residual blocks; BN+ReLU, global average pool,
Linear(4C, classes). Every cell of a network uses the same arch (a supernet can also be given one
cell per position). BatchNorm everywhere uses torch's defaults (momentum 0.1, eps 1e-5) as the
official code does, with ``track_running_stats=True`` so a caller can choose batch or running
statistics at evaluation time; the cell ops' BN can be built as the NB201 search code builds it
(``CellSettings``: not affine, statistics not tracked), the stem, reduction blocks and head keep theirs.

Which ops a network holds (``keep_dead_ops``):

* ``True`` (the default for ``NB201Network``) is the official network: every non-``none`` op of the
  cell is instantiated and run, even on edges into nodes that cannot reach the cell output. The
  official parameter counts (0.073M-1.531M on CIFAR-10) and FLOPs (7.78M-220.12M) count them.
* ``False`` holds only the ops a path actually uses -- what ``NB201Supernet.path_parameters`` returns
  and what a supernet forward computes. Both settings give identical outputs (dead nodes never reach
  the output); see ``spaces.nb201.ops`` for the exact rules.

Weight init reproduces torch's default init but draws from a private ``torch.Generator`` seeded by
``seed``, and construction never advances the global RNG.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, cast

import torch
from torch import nn

from harness.api.errors import WsbenchError
from harness.seeded_init import global_rng_forked, init_parameters
from spaces.nb201.encoding import EDGES, OPS, Arch
from spaces.nb201.ops import (
    OFFICIAL,
    CellPlan,
    CellSettings,
    ResidualReduction,
    cell_plan,
    edge_key,
    make_op,
    mixed_plan,
    run_cell,
    run_every_edge,
    run_mixed_cell,
)

__all__ = [
    "CellSettings",
    "NB201ConfigError",
    "NB201Network",
    "NB201Supernet",
    "count_flops",
    "count_params",
]


#: The mixed plan that computes every candidate op of every edge (``forward_masked``).
_EVERY_OP = mixed_plan(tuple((True,) * len(OPS) for _ in EDGES), False)
_EDGE_INDEX = {edge_key(t, s): e for e, (t, s) in enumerate(EDGES)}


class NB201ConfigError(WsbenchError):
    """A bad NB201 network configuration or input."""


def _check_config(C: int, N: int, num_classes: int) -> None:
    for name, value in (("C", C), ("N", N), ("num_classes", num_classes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise NB201ConfigError(f"NB201 network needs {name} to be a positive integer, got {value!r}")


def _check_input(x: torch.Tensor) -> None:
    if x.dim() != 4 or x.shape[1] != 3:
        raise NB201ConfigError(
            f"NB201 network expects images shaped (batch, 3, H, W), got {tuple(x.shape)}; add a batch dimension or convert to RGB"
        )


def _per_position(arch: Any) -> bool:
    """Whether ``arch`` names one cell per position (a sequence of cells) rather than one cell."""
    return isinstance(arch, (tuple, list)) and len(arch) > 0 and isinstance(arch[0], (tuple, list, str))


class _Backbone(nn.Module):
    """Stem, cells interleaved with the two reduction blocks, and the head; cells come from a factory."""

    def __init__(self, C: int, N: int, num_classes: int, make_cell: Callable[[int], nn.Module], seed: int) -> None:
        super().__init__()
        _check_config(C, N, num_classes)
        self.C, self.N, self.num_classes = C, N, num_classes
        # Building modules runs torch's own init on the global RNG; fork it so callers' streams
        # are untouched, then re-draw every weight from the private generator.
        with global_rng_forked():
            self.stem = nn.Sequential(nn.Conv2d(3, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
            layers: list[nn.Module] = []
            for stage, channels in enumerate((C, 2 * C, 4 * C)):
                if stage:
                    layers.append(ResidualReduction(channels // 2, channels))
                layers.extend(make_cell(channels) for _ in range(N))
            # Index kept as "cells" (reductions included) like the official network's state dict.
            self.cells = nn.ModuleList(layers)
            self.lastact = nn.Sequential(nn.BatchNorm2d(4 * C), nn.ReLU(inplace=True))
            self.classifier = nn.Linear(4 * C, num_classes)
        init_parameters(self, seed)

    def _head(self, h: torch.Tensor) -> torch.Tensor:
        h = self.lastact(h)
        return self.classifier(h.mean(dim=(2, 3)))


class SupernetCell(nn.Module):
    """A cell whose every edge holds all four non-``none`` candidate ops."""

    def __init__(self, C: int, cell: CellSettings = OFFICIAL) -> None:
        super().__init__()
        self.settings = cell
        self.edges = nn.ModuleDict(
            {edge_key(t, s): nn.ModuleDict({op: make_op(op, C, cell) for op in OPS if op != "none"}) for t, s in EDGES}
        )

    def forward(self, x: torch.Tensor, plan: CellPlan) -> torch.Tensor:
        if self.settings.dead_ops:
            return run_every_edge(x, plan.arch, self.edge_op)
        return run_cell(x, plan.steps, [self.edge_op(s.key, s.op) for s in plan.steps])

    def edge_op(self, key: str, op: str) -> nn.Module:
        """The candidate ``op`` of the edge ``key``."""
        return cast(nn.ModuleDict, self.edges[key])[op]

    def forward_mixed(self, x: torch.Tensor, weights: list[list[torch.Tensor]], groups: tuple) -> torch.Tensor:
        """The cell under op weights (see ``spaces.nb201.ops.mixed_plan``)."""
        return run_mixed_cell(x, weights, groups, self.edges)


class NB201Supernet(_Backbone):
    """Weight-sharing NB201 network; ``forward(x, arch)`` runs only that cell's path.

    ``arch`` may also be a float tensor of op weights shaped [6 edges, 5 ops] (rows in
    ``encoding.EDGES`` order, columns in ``OPS`` order): every edge then outputs
    sum_k w[e, k] * op_k(input), the continuous relaxation of DARTS (Liu et al., ICLR 2019) and,
    with a hard one-hot, of GDAS (Dong & Yang, CVPR 2019). ``none`` and exact-zero weights are not
    computed; the rules (and the GDAS treatment of zero weights that carry gradient) are in
    ``spaces.nb201.ops``. A one-hot tensor gives the discrete path's logits.
    """

    def __init__(self, C: int = 16, N: int = 5, num_classes: int = 10, *, seed: int = 0, cell: CellSettings = OFFICIAL) -> None:
        super().__init__(C, N, num_classes, lambda channels: SupernetCell(channels, cell), seed)
        self.cell_settings = cell
        self._is_cell = tuple(isinstance(m, SupernetCell) for m in self.cells)
        #: Cells a per-position path names one architecture for (``PER_POSITION``): 3 stages x N.
        self.cell_positions = sum(self._is_cell)

    def forward(self, x: torch.Tensor, arch: Arch | str | Sequence[Arch | str]) -> torch.Tensor:
        """Logits of the path ``arch`` (6-tuple or official string, the same cell in every stage; or a
        sequence of ``cell_positions`` of them, one per cell in network order)."""
        if isinstance(arch, torch.Tensor):
            return self._forward_mixed(x, arch)
        plans = iter(self._plans(arch))
        _check_input(x)
        h = self.stem(x)
        for layer, is_cell in zip(self.cells, self._is_cell):
            h = layer(h, next(plans)) if is_cell else layer(h)
        return self._head(h)

    def _plans(self, arch: Any) -> list[CellPlan]:
        """One plan per cell position: the same for all, or each position's own."""
        if not _per_position(arch):
            return [cell_plan(arch)] * self.cell_positions
        if len(arch) != self.cell_positions:
            raise NB201ConfigError(
                f"a per-position NB201 path needs one cell per position ({self.cell_positions} for N={self.N}), got {len(arch)}"
            )
        return [cell_plan(a) for a in arch]

    def _forward_mixed(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """Logits under op weights ``w`` [6, 5]; the same weights in every cell, as in the search cell."""
        if w.dim() != 2 or tuple(w.shape) != (len(EDGES), len(OPS)) or not w.is_floating_point():
            raise NB201ConfigError(
                f"NB201 op weights must be a float tensor shaped ({len(EDGES)}, {len(OPS)}) (edges x ops), "
                f"got {w.dtype} {tuple(w.shape)}"
            )
        _check_input(x)
        # One host read of which weights are zero (a device sync on a GPU) decides what runs.
        nonzero = tuple(tuple(row) for row in (w != 0).tolist())
        groups = mixed_plan(nonzero, bool(w.requires_grad))
        weights = [list(row.unbind(0)) for row in w.unbind(0)]
        h = self.stem(x)
        for layer, is_cell in zip(self.cells, self._is_cell):
            h = cast(SupernetCell, layer).forward_mixed(h, weights, groups) if is_cell else layer(h)
        return self._head(h)

    # -- the masked forward: every candidate op computed, one mask per replica (``harness.engine.replicas``)

    def path_mask(self, arch: Arch | str | Sequence[Arch | str]) -> torch.Tensor:
        """A float 0/1 mask [cell_positions, 6 edges, 5 ops] of the ops a forward of ``arch`` computes."""
        w = self.classifier.weight
        mask = torch.zeros(self.cell_positions, len(EDGES), len(OPS), dtype=w.dtype, device=w.device)
        for position, plan in enumerate(self._plans(arch)):
            for edge, op in self._computed(plan):
                mask[position, edge, op] = 1.0
        return mask

    def _computed(self, plan: CellPlan) -> list[tuple[int, int]]:
        """(edge, op) of each op the cell's forward runs on ``plan`` (``run_every_edge`` or ``run_cell``)."""
        if self.cell_settings.dead_ops:
            return [(e, op) for e, op in enumerate(plan.arch) if OPS[op] != "none"]
        return [(_EDGE_INDEX[s.key], OPS.index(s.op)) for s in plan.steps]

    def forward_masked(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Logits with every candidate op computed and scaled by its ``mask`` entry (``path_mask``).

        The function of ``forward(x, arch)`` for ``mask = path_mask(arch)`` (off ops add exact zeros
        and get zero gradients), but what runs never depends on the mask's values, so
        ``torch.func.vmap`` can batch supernets that each follow their own path.
        """
        _check_input(x)
        masks = iter(mask.unbind(0))
        h = self.stem(x)
        for layer, is_cell in zip(self.cells, self._is_cell):
            if is_cell:
                weights = [list(row.unbind(0)) for row in next(masks).unbind(0)]
                h = cast(SupernetCell, layer).forward_mixed(h, weights, _EVERY_OP)
            else:
                h = layer(h)
        return self._head(h)

    def masked_members(self) -> dict[str, int]:
        """Name -> flat ``path_mask`` index of every parameter and buffer of a candidate op: the entry
        that puts it on a path (names not listed are on every path)."""
        layers = [i for i, is_cell in enumerate(self._is_cell) if is_cell]
        owner = {
            f"cells.{layer}.edges.{edge_key(t, s)}.{op}": (position * len(EDGES) + e) * len(OPS) + k
            for position, layer in enumerate(layers)
            for e, (t, s) in enumerate(EDGES)
            for k, op in enumerate(OPS)
        }
        names = [n for n, _ in self.named_parameters()] + [n for n, _ in self.named_buffers()]
        # A candidate op's members are named cells.<layer>.edges.<edge>.<op>.<...>
        return {n: owner[".".join(n.split(".")[:5])] for n in names if ".edges." in n}

    def _path_modules(self, arch: Arch | str, keep_dead_ops: bool) -> Iterator[tuple[str, nn.Module]]:
        """(stand-alone module name, supernet module) of every module the path holds, in network order."""
        plan = cell_plan(arch, keep_dead_ops)
        yield "stem", self.stem
        for i, (layer, is_cell) in enumerate(zip(self.cells, self._is_cell)):
            if is_cell:
                for e in plan.edges:
                    yield f"cells.{i}.edges.{e.key}", cast(SupernetCell, layer).edge_op(e.key, e.op)
            else:
                yield f"cells.{i}", layer
        yield "lastact", self.lastact
        yield "classifier", self.classifier

    def path_parameters(self, arch: Arch | str, keep_dead_ops: bool = False) -> list[nn.Parameter]:
        """The parameters a forward of ``arch`` uses, in ``NB201Network(arch, keep_dead_ops=False)`` order."""
        return [p for _, m in self._path_modules(arch, keep_dead_ops) for p in m.parameters()]

    def path_state_dict(self, arch: Arch | str, keep_dead_ops: bool = False) -> dict[str, torch.Tensor]:
        """The path's weights and BN buffers under ``NB201Network(arch, keep_dead_ops=...)``'s keys."""
        return {f"{prefix}.{k}": v for prefix, m in self._path_modules(arch, keep_dead_ops) for k, v in m.state_dict().items()}

    def extract(self, arch: Arch | str, keep_dead_ops: bool = False) -> NB201Network:
        """A stand-alone network of ``arch`` holding a copy of the path's weights (e.g. to fine-tune)."""
        cell = self.cell_settings if keep_dead_ops else CellSettings(self.cell_settings.bn_affine, self.cell_settings.bn_track)
        net = NB201Network(arch, self.C, self.N, self.num_classes, keep_dead_ops=keep_dead_ops, cell=cell)
        net.load_state_dict(self.path_state_dict(arch, keep_dead_ops), strict=True)
        return net.to(next(self.parameters()).device)


class NB201Cell(nn.Module):
    """A fixed cell holding only its own ops."""

    def __init__(self, plan: CellPlan, C: int, cell: CellSettings = OFFICIAL) -> None:
        super().__init__()
        self.plan, self.settings = plan, cell
        self.edges = nn.ModuleDict({e.key: make_op(e.op, C, cell) for e in plan.edges})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.settings.dead_ops:
            return run_every_edge(x, self.plan.arch, lambda key, op: self.edges[key])
        return run_cell(x, self.plan.steps, [self.edges[s.key] for s in self.plan.steps])


class NB201Network(_Backbone):
    """The stand-alone NB201 network of one cell (official when ``keep_dead_ops=True`` and ``cell`` is ``OFFICIAL``)."""

    def __init__(
        self,
        arch: Arch | str,
        C: int = 16,
        N: int = 5,
        num_classes: int = 10,
        *,
        keep_dead_ops: bool = True,
        seed: int = 0,
        cell: CellSettings = OFFICIAL,
    ) -> None:
        if cell.dead_ops and not keep_dead_ops:
            raise NB201ConfigError("cell_dead_ops runs every op of the cell: it needs keep_dead_ops=True (they are held)")
        plan = cell_plan(arch, keep_dead_ops)
        super().__init__(C, N, num_classes, lambda channels: NB201Cell(plan, channels, cell), seed)
        self.arch: Arch = plan.arch
        self.keep_dead_ops = bool(keep_dead_ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits."""
        _check_input(x)
        h = self.stem(x)
        for layer in self.cells:
            h = layer(h)
        return self._head(h)


def count_params(model_or_params: nn.Module | Iterable[torch.Tensor]) -> float:
    """Number of parameters in millions (1e6, NB201's published unit); BN buffers not counted."""
    params = model_or_params.parameters() if isinstance(model_or_params, nn.Module) else model_or_params
    seen: set[int] = set()
    total = 0
    for p in params:
        if id(p) not in seen:  # a shared tensor counts once
            seen.add(id(p))
            total += p.numel()
    return total / 1e6


def count_flops(model: nn.Module, arch: Arch | str | None = None, input_size: Sequence[int] = (1, 3, 32, 32)) -> float:
    """Multiply-accumulates per image, in millions, of the conv and linear layers one forward runs.

    NB201's convention (xautodl ``get_model_infos``): conv = k*k*C_in/groups*C_out*H_out*W_out
    (+C_out*H_out*W_out with a bias), linear = in*out (+out with a bias); pooling, BN, ReLU and
    additions are not counted. Only modules the forward actually executes are counted, so a
    supernet with ``arch`` gives that path's cost. Runs in eval mode under no_grad, so BN statistics
    are not touched; each module's train/eval flag is restored afterwards.
    """
    size = tuple(int(s) for s in input_size)
    if len(size) != 4 or size[0] < 1:
        raise NB201ConfigError(f"count_flops input_size must be (batch, 3, H, W), got {tuple(input_size)}")
    total = 0.0

    def conv_hook(m: nn.Conv2d, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        kh, kw = m.kernel_size
        total += out.numel() * (m.in_channels // m.groups) * kh * kw + (out.numel() if m.bias is not None else 0)

    def linear_hook(m: nn.Linear, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        total += out.numel() * m.in_features + (out.numel() if m.bias is not None else 0)

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    modes = [(m, m.training) for m in model.modules()]
    first = next(model.parameters(), None)
    x = torch.zeros(size, device=first.device if first is not None else None, dtype=first.dtype if first is not None else None)
    try:
        model.eval()
        with torch.no_grad():
            model(x) if arch is None else model(x, arch)
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes:
            m.training = mode
    return total / size[0] / 1e6
