"""FairNAS: strict-fairness multi-path sampling.

Chu, Zhang and Xu, "FairNAS: Rethinking Evaluation Fairness of Weight Sharing Neural Architecture
Search", ICCV 2021. Each step draws ``m`` paths, ``m`` = the number of candidate ops per edge, from
an independent uniformly random permutation of the ops on every edge: path ``k`` takes the ``k``-th
op of each edge's permutation, so every candidate op of every edge is trained exactly once per step.
The gradients of the ``m`` paths are accumulated (each loss / m) before one optimizer update.

Compute per step: ``m`` forward/backward passes, i.e. ``m`` x SPOS (5 x SPOS on NB201, whose
candidate ops include ``none`` -- as in the paper, every candidate counts).

``m`` is the largest option count among the space's *op* choices (``Choice.kind == "op"``; all
choices where none is marked). A choice with fewer options concatenates fresh permutations of its
options, so within a step each of its options is trained either floor(m/size) or ceil(m/size)
times -- strict fairness where the counts divide, the closest to it otherwise; a choice with more
options (taken from the first ``m`` of a fresh permutation) trains ``m`` distinct options per step.

On the DARTS space strict fairness is defined over the candidate ops: ``m`` = 7 paths per step, and
in every cell and node the op on the lower and the op on the higher input each run all seven ops
exactly once per step. The input pairs (node k reads two of k states: 1, 3, 6 or 10 pairs) cannot
all be fair at m = 7; each node's pairs are balanced as above (node 3: every pair 2 or 3 times;
node 5: 7 distinct pairs of its 10 per step, uniformly in expectation). So every (node, input, op)
candidate is trained equally often in expectation, and every op slot strictly per step.
Needs a GRID space.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.api.space import GRID
from harness.api.strategy import Strategy


class FairNAS(Strategy):
    """Strict fairness: every op of every edge trained exactly once per step (m paths)."""

    name = "fairnas"
    version = 1
    paths_per_step = 5.0  # NB201; instances set their space's largest option count
    requires = frozenset({GRID})

    def __init__(self, space: Any, rng: np.random.Generator, **options: Any) -> None:
        super().__init__(space, rng, **options)
        self.sizes = space.grid_shape()
        op_sizes = [c.size for c in space.choices() if c.kind == "op"]
        self.m = max(op_sizes or self.sizes)
        self.paths_per_step = float(self.m)

    def paths(self, step: int) -> list[tuple[int, ...]]:
        # One row per choice: its options in a random order; column k is path k. A choice with
        # fewer options than m repeats fresh permutations, so each option runs floor or ceil of m/size times.
        rows = [self._row(size) for size in self.sizes]
        perms = np.stack(rows)
        return [tuple(int(op) for op in perms[:, k]) for k in range(self.m)]

    def _row(self, size: int) -> np.ndarray:
        reps = -(-self.m // size)
        return np.concatenate([self.rng.permutation(size) for _ in range(reps)])[: self.m]


#: Registered by ``harness.catalog`` (this module describes itself).
PLUGINS = {"strategy": {"fairnas": FairNAS}}
