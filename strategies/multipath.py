"""Multi-path uniform sampling: SPOS with ``k`` independently drawn paths per step.

A direct generalisation of SPOS (Guo et al., "Single Path One-Shot Neural Architecture Search with
Uniform Sampling", ECCV 2020): each step draws ``k`` paths independently and uniformly (with
replacement, so a path may repeat) with SPOS's own sampler, accumulates their gradients (each
loss / k) and makes one optimizer update. ``k=1`` is SPOS draw for draw. It is the compute-matched
control for FairNAS: same number of paths per step, without the per-edge fairness constraint.

Compute per step: ``k`` forward/backward passes, i.e. ``k`` x SPOS (default k=4).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.api.options import Option
from strategies.spos import SPOS


class MultiPath(SPOS):
    """``k`` uniformly sampled paths per step, gradients accumulated."""

    name = "multipath"
    version = 1
    option_specs = {"k": Option(4, int, min=1, help="paths per step"), **SPOS.option_specs}
    paths_per_step = 4.0  # the default k; instances set their own

    def __init__(self, space: Any, rng: np.random.Generator, **options: Any) -> None:
        super().__init__(space, rng, **options)
        self.k = self.options["k"]
        self.paths_per_step = float(self.k)

    def paths(self, step: int) -> list[tuple[int, ...]]:
        return [super(MultiPath, self).paths(step)[0] for _ in range(self.k)]


#: Registered by ``harness.catalog`` (this module describes itself).
PLUGINS = {"strategy": {"multipath": MultiPath}}
