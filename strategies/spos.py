"""SPOS: single-path one-shot with uniform sampling.

Guo et al., "Single Path One-Shot Neural Architecture Search with Uniform Sampling", ECCV 2020.
Each step trains one path drawn uniformly at random. Compute per step: one forward/backward of
one path (the unit every other strategy's compute is stated in).

``sampling="uniform"`` draws uniformly over the space's architecture strings (on NB201, the
15,625 cells). Because many strings are isomorphic, that over-trains functions with many
isomorphic strings; Ning et al. ("Evaluating Efficient Performance Estimators of Neural
Architectures", NeurIPS 2021) document the bias and propose de-isomorphic sampling:
``sampling="deisomorphic"`` draws an isomorphism class uniformly, then a member of that class
uniformly (so the weights of every isomorphic string still get trained).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.api.space import ISOMORPHISM
from harness.api.strategy import Strategy, StrategyOption


class SPOS(Strategy):
    """Uniform single-path sampling; one path per step."""

    name = "spos"
    version = 1
    option_specs = {
        "sampling": StrategyOption(
            "uniform",
            str,
            choices=("uniform", "deisomorphic"),
            label="SPOS sampling",
            help="over strings, or over isomorphism classes",
        ),
    }

    def __init__(self, space: Any, rng: np.random.Generator, **options: Any) -> None:
        super().__init__(space, rng, **options)
        self._classes = space.isomorphism_classes() if self.options["sampling"] == "deisomorphic" else None

    def requirements(self) -> frozenset[str]:
        return frozenset({ISOMORPHISM}) if self.options.get("sampling") == "deisomorphic" else frozenset()

    def paths(self, step: int) -> list[tuple[int, ...]]:
        if self._classes is None:
            return [self.space.sample(self.rng)]
        members = self._classes[int(self.rng.integers(len(self._classes)))]
        return [members[int(self.rng.integers(len(members)))]]


#: Registered by ``harness.catalog`` (this module describes itself).
PLUGINS = {"strategy": {"spos": SPOS}}
