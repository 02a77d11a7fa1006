"""The sandwich rule of width supernets, with optional in-place distillation.

Yu & Huang, "Universally Slimmable Networks and Improved Training Techniques", ICCV 2019: each
step trains the largest configuration, the smallest, and ``n_random`` uniformly drawn ones (their
gradients accumulated, each loss / paths), because the largest and the smallest bound every width's
performance. ``distill=True`` is their in-place distillation: the largest path learns from the
labels and every other path of the step from the largest's predictions of the same batch (its
soft targets, detached), ``-sum softmax(teacher) * log_softmax(student)``.

Needs an ``ORDERED`` space (every choice's options smallest first: widths). Compute per step:
``2 + n_random`` forward/backward passes, i.e. that many x SPOS.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from harness.api.options import Option
from harness.api.space import GRID, ORDERED
from harness.api.strategy import Strategy, StrategyOption


class Sandwich(Strategy):
    """Largest + smallest + ``n_random`` uniform configurations per step; optional in-place distillation."""

    name = "sandwich"
    version = 1
    option_specs = {
        "n_random": StrategyOption(2, int, min=0, rule="a non-negative integer", help="uniform paths besides the two bounds"),
        "distill": Option(False, bool, help="in-place distillation from the largest path"),
    }
    paths_per_step = 4.0  # the default 2 + n_random; instances set their own
    requires = frozenset({GRID, ORDERED})

    def __init__(self, space: Any, rng: np.random.Generator, **options: Any) -> None:
        super().__init__(space, rng, **options)
        sizes = space.grid_shape()
        self.smallest = tuple(0 for _ in sizes)
        self.largest = tuple(s - 1 for s in sizes)
        self.n_random = self.options["n_random"]
        self.paths_per_step = float(2 + self.n_random)
        self._teacher: torch.Tensor | None = None

    def paths(self, step: int) -> list[tuple[int, ...]]:
        self._teacher = None  # a new batch: the largest path of this step teaches
        return [self.largest, self.smallest] + [self.space.sample(self.rng) for _ in range(self.n_random)]

    def path_loss(self, arch: Any, output: Any, target: Any, task: Any) -> Any:
        if not self.options["distill"]:
            return task.loss(output, target)
        if tuple(arch) == self.largest:
            self._teacher = F.softmax(output.detach().float(), dim=-1)
            return task.loss(output, target)
        if self._teacher is None:  # cannot happen in the loop's order; kept as a safe fallback
            return task.loss(output, target)
        return -(self._teacher * F.log_softmax(output.float(), dim=-1)).sum(dim=-1).mean()


#: Registered by ``harness.catalog`` (this module describes itself).
PLUGINS = {"strategy": {"sandwich": Sandwich}}
