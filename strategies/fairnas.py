"""FairNAS: strict-fairness multi-path sampling.

Chu, Zhang and Xu, "FairNAS: Rethinking Evaluation Fairness of Weight Sharing Neural Architecture
Search", ICCV 2021. Each step draws ``m`` paths, ``m`` = the number of candidate ops per edge, from
an independent uniformly random permutation of the ops on every edge: path ``k`` takes the ``k``-th
op of each edge's permutation, so every candidate op of every edge is trained exactly once per step.
The gradients of the ``m`` paths are accumulated (each loss / m) before one optimizer update.

Compute per step: ``m`` forward/backward passes, i.e. ``m`` x SPOS (5 x SPOS on NB201, whose
candidate ops include ``none`` -- as in the paper, every candidate counts).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.api.errors import WsbenchError
from harness.api.strategy import Strategy


def edge_op_shape(space: Any) -> tuple[int, int]:
    """(number of edges, number of candidate ops per edge) of a space with one op choice per edge.

    Uses the space's ``num_edges`` / ``num_ops`` attributes when it has them; NB201 predates them,
    so its encoding constants are the fallback.
    """
    edges, ops = getattr(space, "num_edges", None), getattr(space, "num_ops", None)
    if edges is None or ops is None:
        if getattr(space, "name", None) != "nb201":
            raise WsbenchError(
                f"strategy needs the space's edge/op counts, but space {getattr(space, 'name', space)!r} "
                "has no num_edges/num_ops attributes; add them to the space class"
            )
        from spaces.nb201 import encoding

        edges, ops = encoding.NUM_EDGES, len(encoding.OPS)
    return int(edges), int(ops)


class FairNAS(Strategy):
    """Strict fairness: every op of every edge trained exactly once per step (m paths)."""

    name = "fairnas"
    version = 1
    defaults: dict[str, Any] = {}
    paths_per_step = 5.0  # NB201; instances set their space's op count

    def __init__(self, space: Any, rng: np.random.Generator, **options: Any) -> None:
        super().__init__(space, rng, **options)
        self.num_edges, self.num_ops = edge_op_shape(space)
        self.paths_per_step = float(self.num_ops)

    def paths(self, step: int) -> list[tuple[int, ...]]:
        # One permutation per edge (row); column k is path k.
        perms = np.stack([self.rng.permutation(self.num_ops) for _ in range(self.num_edges)])
        return [tuple(int(op) for op in perms[:, k]) for k in range(self.num_ops)]
