"""MdeNAS: multinomial distribution learning over the ops of every edge.

Zheng et al., "Multinomial Distribution Learning for Effective Neural Architecture Search",
ICCV 2019. Every edge holds a multinomial distribution over its candidate ops; each step samples one
path from those distributions (edges independently). Per (edge, op) the method keeps H^e, how much
the op has been trained, and H^a, the accuracy recorded for it. Its performance-ranking hypothesis
says an op that was trained *less* yet scores *higher* than another is the better one, so each
update moves, per edge,

    p_i <- p_i + alpha * ( #{j : H^e_i < H^e_j and H^a_i > H^a_j}
                          - #{j : H^e_i > H^e_j and H^a_i < H^a_j} ).

What this implementation does, and where it simplifies the paper (stated, not hidden):

* H^e counts training *steps* (paths trained) rather than epochs; H^a is the mean *training-batch*
  accuracy (the harness's ``observe`` feedback) of the paths that used the op during the latest
  update window in which it was sampled. The paper records the sampled network's validation
  accuracy after an epoch; the harness gives a strategy no validation pass.
* The update runs every ``update_every`` steps (the paper: after every epoch), at the start of the
  step that follows the window; ops never sampled yet take no part in comparisons.
* The rule as printed does not keep p a distribution; negative entries are clipped to 0 and the
  edge renormalised (an op at 0 can come back: it trails in H^e, so it wins comparisons it leads in H^a).
* ``alpha`` (0.01) and ``update_every`` (100) are our defaults, not values from the paper.

Choices with fewer options than others (the DARTS space's input pairs) hold zeros past their
count: those options are never sampled, never observed, and so never compared.

Compute per step: one forward/backward of one path, i.e. 1 x SPOS (plus per-path feedback, which
costs a device sync on a GPU).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.api.options import Option
from harness.api.space import GRID
from harness.api.strategy import Strategy


class MdeNAS(Strategy):
    """Per-edge multinomial sampling, learned from pairwise (trained-less, scored-higher) comparisons."""

    name = "mdenas"
    version = 1
    option_specs = {
        "alpha": Option(0.01, float, above=0, help="probability step of one comparison"),
        "update_every": Option(100, int, min=1, help="steps between updates of the distributions"),
    }
    wants_feedback = True
    requires = frozenset({GRID})
    paths_per_step = 1.0

    def __init__(self, space: Any, rng: np.random.Generator, **options: Any) -> None:
        super().__init__(space, rng, **options)
        self.alpha, self.update_every = self.options["alpha"], self.options["update_every"]
        # Choices may have different option counts (DARTS: 7 ops, 1-10 input pairs): one padded
        # row per choice, options past a choice's count at probability 0 and never sampled.
        self.sizes = np.asarray(space.grid_shape(), dtype=np.int64)
        self.num_edges, self.num_ops = len(self.sizes), int(self.sizes.max())
        shape = (self.num_edges, self.num_ops)
        valid = np.arange(self.num_ops)[None, :] < self.sizes[:, None]
        self.probs = np.where(valid, 1.0 / self.sizes[:, None], 0.0)
        self.trained = np.zeros(shape, dtype=np.int64)  # H^e: steps each (edge, op) was trained
        self.accuracy = np.zeros(shape)  # H^a: latest window-mean batch accuracy
        self.known = np.zeros(shape, dtype=bool)  # H^a defined (op observed at least once)
        self._win_sum = np.zeros(shape)
        self._win_n = np.zeros(shape, dtype=np.int64)
        self._last_update = 0

    def paths(self, step: int) -> list[tuple[int, ...]]:
        if step > 0 and step % self.update_every == 0 and step != self._last_update:
            self._update()
            self._last_update = step
        # Inverse-CDF sampling per edge from one uniform draw each: exact and platform-independent.
        u = self.rng.random(self.num_edges)
        cdf = np.cumsum(self.probs, axis=1)
        ops = [
            min(int(np.searchsorted(cdf[e], u[e] * cdf[e, -1], side="right")), int(self.sizes[e]) - 1)
            for e in range(self.num_edges)
        ]
        return [tuple(ops)]

    def observe(self, step: int, arch: tuple[int, ...], loss: float, accuracy: float) -> None:
        """Record one trained path: H^e += 1 and the window accuracy of each of its (edge, op)."""
        rows = np.arange(self.num_edges)
        cols = np.asarray(arch, dtype=np.int64)
        self.trained[rows, cols] += 1
        self._win_sum[rows, cols] += float(accuracy)
        self._win_n[rows, cols] += 1

    def _update(self) -> None:
        """Fold the window into H^a, then apply the pairwise rule on every edge."""
        seen = self._win_n > 0
        self.accuracy[seen] = self._win_sum[seen] / self._win_n[seen]
        self.known |= seen
        self._win_sum[:] = 0.0
        self._win_n[:] = 0
        for e in range(self.num_edges):
            he, ha, ok = self.trained[e], self.accuracy[e], self.known[e]
            both = ok[:, None] & ok[None, :]
            less_trained = he[:, None] < he[None, :]
            more_trained = he[:, None] > he[None, :]
            better = ha[:, None] > ha[None, :]
            worse = ha[:, None] < ha[None, :]
            delta = (both & less_trained & better).sum(1) - (both & more_trained & worse).sum(1)
            p = np.clip(self.probs[e] + self.alpha * delta, 0.0, None)
            self.probs[e] = p / p.sum()  # delta sums to 0, so p.sum() >= 1 - rounding: never 0

    def state_dict(self) -> dict[str, Any]:
        """RNG, probabilities, H^e, H^a and the open window: an exact resume point."""
        return {
            "rng": self.rng.bit_generator.state,
            "probs": self.probs.tolist(),
            "trained": self.trained.tolist(),
            "accuracy": self.accuracy.tolist(),
            "known": self.known.tolist(),
            "win_sum": self._win_sum.tolist(),
            "win_n": self._win_n.tolist(),
            "last_update": self._last_update,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""
        self.rng.bit_generator.state = state["rng"]
        self.probs = np.asarray(state["probs"], dtype=np.float64)
        self.trained = np.asarray(state["trained"], dtype=np.int64)
        self.accuracy = np.asarray(state["accuracy"], dtype=np.float64)
        self.known = np.asarray(state["known"], dtype=bool)
        self._win_sum = np.asarray(state["win_sum"], dtype=np.float64)
        self._win_n = np.asarray(state["win_n"], dtype=np.int64)
        self._last_update = int(state["last_update"])


#: Registered by ``harness.catalog`` (this module describes itself).
PLUGINS = {"strategy": {"mdenas": MdeNAS}}
