"""Reduced weight sharing: several copies of the supernet, each trained and scored on its own part of the space.

Two strategies share this machinery:

- ``fewshot`` -- Few-shot NAS (Zhao, Wang, Zhou and Tian, "Few-shot Neural Architecture Search",
  ICML 2021). A one-shot supernet is trained for a warm-up, then *split* on one edge: one
  sub-supernet per candidate op of that edge (5 on NB201), each initialised from the warmed-up
  weights. After the split, an architecture is trained and scored by the sub-supernet that holds
  its op on the split edge.
- ``grouping`` -- reduced sharing by grouping (Zhang et al., "Deeper Insights into Weight Sharing
  in Neural Architecture Search", 2020): the child models are partitioned into groups, weights
  are shared only inside a group. ``by="edges"`` groups architectures that agree on the ops of
  the chosen edges (similar architectures share); ``by="random"`` is the control, a fixed random
  partition into ``groups`` groups (keyed by a hash of the arch id, so it is the same in every run).

Both sample paths exactly as SPOS does (one uniform path per step), so the compute per step is
**1 x SPOS**: each copy receives only the steps of its own architectures. This is the
equal-compute form; the few-shot paper instead trains every sub-supernet for a full schedule
after the split (5x the post-split compute on NB201). The learning-rate schedule runs on
unchanged through the split (the paper restarts it per sub-supernet), and the optimizer's
momentum is cleared at the split so that every sub-supernet starts from the same state.

Two few-shot options reproduce the authors' code (aoiang/few-shot-NAS, ``Few-Shot_NasBench201``):
``granularity="position"`` draws a new cell per cell position, as ``UniformRandomSupernet`` does
(after the split all positions share the split edge's op: a sub-supernet holds only that op), and
``separate=true`` keeps each copy's optimizer steps to its own steps, as sub-supernets trained in
runs of their own: a copy no path is routed to at a step has no gradient then, so it takes no
weight-decay or momentum step even when ``zero_grad`` zeroes the gradients of ops off the path.
"""

from __future__ import annotations

import copy
import zlib
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from harness.api.errors import WsbenchError
from harness.api.options import Option
from harness.api.space import GRID, PER_POSITION
from harness.api.strategy import Strategy, StrategyOption
from strategies.spos import GRANULARITY, positions_of, since_options


class PartitionedSupernet(nn.Module):
    """``parts`` copies of a supernet; ``forward(x, arch)`` runs the copy that ``route(arch)`` names.

    Until ``split()`` every architecture goes to copy 0 (the one-shot supernet of few-shot NAS's
    warm-up). Whether the split happened is a buffer, so it travels with the state dict and a
    resumed run routes exactly as before.
    """

    is_split: torch.Tensor  # a registered buffer (0-d bool)

    def __init__(self, base: nn.Module, parts: int, route: Callable[[Any], int], split: bool = False) -> None:
        super().__init__()
        self.parts = nn.ModuleList([base] + [copy.deepcopy(base) for _ in range(parts - 1)])
        self.route = route
        self.register_buffer("is_split", torch.tensor(bool(split)))
        # A host copy of the flag: reading the buffer on a GPU would sync the device on every forward.
        self.split_done = bool(split)
        self.register_load_state_dict_post_hook(lambda module, _keys: module._sync_flag())

    def _sync_flag(self) -> None:
        self.split_done = bool(self.is_split)

    def part_of(self, arch: Any) -> int:
        """Index of the copy that trains and scores ``arch``."""
        return int(self.route(arch)) if self.split_done else 0

    def split(self) -> None:
        """Copy the weights (and BN statistics) of copy 0 into every other copy; route from now on."""
        state = self.parts[0].state_dict()
        for part in self.parts[1:]:
            part.load_state_dict(state)
        self.is_split.fill_(True)
        self.split_done = True

    def forward(self, x: torch.Tensor, arch: Any) -> torch.Tensor:
        return self.parts[self.part_of(arch)](x, arch)

    def training_views(self, arch: Any, x: torch.Tensor, y: torch.Tensor, loss: Callable[..., Any]) -> list[Any]:
        """The views the routed copy's own sharing rule trains (just ``arch`` where it has none)."""
        expand = getattr(self.parts[self.part_of(arch)], "training_views", None)
        return [arch] if expand is None else list(expand(arch, x, y, loss))


class _Partitioned(Strategy):
    """SPOS sampling over a ``PartitionedSupernet``; subclasses define the routing and the split time."""

    paths_per_step = 1.0

    def __init__(self, space: Any, rng: np.random.Generator, **options: Any) -> None:
        super().__init__(space, rng, **options)
        self._positions: int | None = None
        self._drawn: list[Any] | None = None  # this step's paths, drawn early to route the optimizer step
        self._stashed: dict[nn.Parameter, torch.Tensor] = {}  # idle copies' gradients, held out of one step

    def num_parts(self) -> int:
        raise NotImplementedError

    def route(self, arch: Any) -> int:
        raise NotImplementedError

    def split_step(self, steps_per_epoch: int, epochs: int) -> int:
        """Step at which the copies start to diverge (0: separate from the start)."""
        return 0

    def bind(self, model: nn.Module, steps_per_epoch: int, epochs: int) -> nn.Module:
        self._split_at = self.split_step(steps_per_epoch, epochs)
        self.total_steps = steps_per_epoch * epochs
        if self.options.get("granularity", "network") == "position":
            self._positions = positions_of(model, f"{self.name} granularity 'position'")
        return PartitionedSupernet(model, self.num_parts(), self.route, split=self._split_at == 0)

    def before_step(self, step: int, model: nn.Module, optimizer: Any) -> None:
        model = cast(PartitionedSupernet, model)  # what bind() returned
        if not model.split_done and step >= self._split_at:
            model.split()
            # Momentum buffers belong to copy 0's history; clearing them starts every copy alike.
            optimizer.state.clear()
        if self.options.get("separate", False):
            self._hold_idle_copies(step, model)

    def _hold_idle_copies(self, step: int, model: PartitionedSupernet) -> None:
        """Draw this step's paths now and take the gradients of the copies none is routed to out of the
        step (the optimizer skips a parameter without one); last step's idle copies get theirs back, so
        ``zero_grad`` treats every copy's own parameters as it would in a run of its own."""
        for q, grad in self._stashed.items():
            q.grad = grad
        self._stashed = {}
        self._drawn = self._draw(step)
        routed = {model.part_of(a) for a in self._drawn}
        for i, part in enumerate(model.parts):
            if i not in routed:
                for q in part.parameters():
                    if q.grad is not None:
                        self._stashed[q], q.grad = q.grad, None

    def held_aside(self) -> tuple[Any, ...]:
        """The idle copies' parameters whose gradients wait for their next step (a resume gives them zeros)."""
        return tuple(self._stashed)

    def paths(self, step: int) -> list[Any]:
        drawn, self._drawn = self._drawn, None
        return drawn if drawn is not None else self._draw(step)

    def _draw(self, step: int) -> list[Any]:
        """One uniform path: one cell for the network, or one per position (``granularity``)."""
        if self._positions is None:
            return [self.space.sample(self.rng)]
        return [tuple(self.space.sample(self.rng) for _ in range(self._positions))]

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["parts"] = self.num_parts()
        return d


def first_cell(arch: Any) -> Any:
    """The cell that routes ``arch``: itself, or the first of a per-position path (they share the split choice)."""
    return arch[0] if isinstance(arch, (tuple, list)) and arch and isinstance(arch[0], (tuple, list)) else arch


@since_options
class FewShot(_Partitioned):
    """Few-shot NAS: split one edge into one sub-supernet per op after a warm-up (1 x SPOS per step)."""

    name = "fewshot"
    version = 1
    option_specs = {
        "edge": Option(0, int, min=0, help="index of the split edge in the space's edge order"),
        "warmup": StrategyOption(
            0.5, float, min=0, below=1, rule="a fraction of the run in [0, 1)",
            help="fraction of the run's steps trained as one one-shot supernet before the split (0: split from the start)",
        ),
        "granularity": GRANULARITY,
        "separate": Option(
            False, bool, since="0.2.0",
            help="true: a copy takes optimizer steps only at the steps routed to it (sub-supernets trained apart)",
        ),
    }  # fmt: skip
    requires = frozenset({GRID})

    def __init__(self, space: Any, rng: np.random.Generator, **options: Any) -> None:
        super().__init__(space, rng, **options)
        self.sizes = space.grid_shape()
        self.num_edges = len(self.sizes)

    def requirements(self) -> frozenset[str]:
        per_position = self.options.get("granularity", "network") == "position"
        return frozenset({GRID, PER_POSITION}) if per_position else frozenset({GRID})

    def check_rules(self) -> None:
        """The split edge is one of the space's choices."""
        edges = len(self.space.grid_shape())
        if self.options["edge"] >= edges:
            raise WsbenchError(f"fewshot option edge must be an integer in 0..{edges - 1}, got {self.options['edge']!r}")

    def num_parts(self) -> int:
        return self.sizes[self.options["edge"]]

    def route(self, arch: Any) -> int:
        return int(first_cell(arch)[self.options["edge"]])

    def split_step(self, steps_per_epoch: int, epochs: int) -> int:
        return int(round(self.options["warmup"] * steps_per_epoch * epochs))

    def _draw(self, step: int) -> list[Any]:
        """As ``_Partitioned``, but after the split every position takes the first cell's op on the split edge:
        a sub-supernet holds that one op (the authors' pools: the cells with that op on the edge)."""
        drawn = super()._draw(step)
        if self._positions is None or step < self._split_at:
            return drawn
        edge = self.options["edge"]
        cells = drawn[0]
        op = cells[0][edge]
        return [tuple(tuple(op if e == edge else o for e, o in enumerate(c)) for c in cells)]


class Grouping(_Partitioned):
    """Reduced sharing: one copy of the weights per group of architectures (1 x SPOS per step)."""

    name = "grouping"
    version = 1
    option_specs = {
        "by": StrategyOption(
            "edges", str, choices=("edges", "random"), label="grouping 'by'", help="edges, or random (the control)"
        ),
        "edges": Option([0], tuple, item=int, help="by edges: a group is the ops on these edges (num_ops ** len(edges) groups)"),
        "groups": Option(5, int, min=1, help="by random: the number of groups of a fixed hash partition"),
    }

    def __init__(self, space: Any, rng: np.random.Generator, **options: Any) -> None:
        super().__init__(space, rng, **options)
        if self.options["by"] == "edges":
            self.sizes = space.grid_shape()
            self.num_edges = len(self.sizes)
            self._edges = tuple(self.options["edges"])

    def check_rules(self) -> None:
        """Grouping by edges needs distinct edges of the space."""
        if self.options["by"] != "edges":
            return
        edges, n = self.options["edges"], len(self.space.grid_shape())
        if not edges or len(set(edges)) != len(edges) or not all(0 <= e < n for e in edges):
            raise WsbenchError(
                f"grouping option edges must be a non-empty list of distinct edge indices in 0..{n - 1}, got {list(edges)!r}"
            )

    def requirements(self) -> frozenset[str]:
        return frozenset({GRID}) if self.options.get("by") == "edges" else frozenset()

    def num_parts(self) -> int:
        if self.options["by"] == "edges":
            return int(np.prod([self.sizes[e] for e in self._edges]))
        return int(self.options["groups"])

    def route(self, arch: Any) -> int:
        if self.options["by"] == "edges":
            key = 0
            for e in self._edges:
                key = key * self.sizes[e] + int(arch[e])
            return key
        # A stable hash of the canonical id (not Python's salted hash()), so the partition is fixed.
        return zlib.crc32(self.space.arch_id(arch).encode()) % int(self.options["groups"])


#: Registered by ``harness.catalog`` (this module describes itself).
PLUGINS = {"strategy": {"fewshot": FewShot, "grouping": Grouping}}
