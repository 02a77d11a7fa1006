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

``granularity="network"`` trains one cell in every cell position (the NB201 authors' random
sampling, xautodl ``TinyNetworkRANDOM``); ``granularity="position"`` draws a new cell for each
position of the network (the few-shot NAS authors' one-shot supernet, ``UniformRandomSupernet``
in aoiang/few-shot-NAS, which samples a genotype per search cell in training). It needs a space
whose supernet takes one architecture per position (``PER_POSITION``); scoring is unchanged (one
cell for the whole network).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import nn

from harness.api.errors import WsbenchError
from harness.api.space import ISOMORPHISM, PER_POSITION
from harness.api.strategy import Strategy, StrategyOption

#: Options added after cells existed: hashed only when a matrix sets them (``since_options``).
GRANULARITY = StrategyOption(
    "network",
    str,
    choices=("network", "position"),
    since="0.2.0",
    label="SPOS granularity",
    help="one cell for every position of the network, or a new cell per position",
)


def since_options(cls: type[Strategy]) -> type[Strategy]:
    """Leave options added after cells existed (``Option.since``) out of the strategy's hashed ``defaults``.

    A cell hashes ``{**defaults, **options given}``; keeping a later option out of ``defaults`` keeps
    the hash of every cell that does not set it, as protocol fields with ``since`` do (unlike them, a
    matrix that names such an option is hashed with it, even at its default). Code reads such an
    option with ``options.get(name, default)``.
    """
    cls.defaults = {name: o.default for name, o in cls.option_specs.items() if o.since is None}
    return cls


def positions_of(model: nn.Module, who: str) -> int:
    """Cell positions of a supernet that takes one architecture per position (``PER_POSITION``)."""
    positions = getattr(model, "cell_positions", None)
    if not isinstance(positions, int) or positions < 1:
        raise WsbenchError(f"{who}: the supernet does not say how many cell positions it has (cell_positions)")
    return positions


@since_options
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
        "granularity": GRANULARITY,
    }

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        since_options(cls)  # subclasses that spread SPOS's options (multipath) keep their hashes too

    def __init__(self, space: Any, rng: np.random.Generator, **options: Any) -> None:
        super().__init__(space, rng, **options)
        self._classes = space.isomorphism_classes() if self.options["sampling"] == "deisomorphic" else None
        self._positions: int | None = None

    def requirements(self) -> frozenset[str]:
        needs = {ISOMORPHISM} if self.options.get("sampling") == "deisomorphic" else set()
        if self.options.get("granularity", "network") == "position":
            needs.add(PER_POSITION)
        return frozenset(needs)

    def bind(self, model: nn.Module, steps_per_epoch: int, epochs: int) -> nn.Module:
        if self.options.get("granularity", "network") == "position":
            self._positions = positions_of(model, "SPOS granularity 'position'")
        return model

    def paths(self, step: int) -> list[Any]:
        if self.options.get("granularity", "network") == "network":
            return [self._draw()]
        if self._positions is None:
            raise WsbenchError("SPOS granularity 'position' draws one cell per position: bind the strategy to its supernet first")
        return [tuple(self._draw() for _ in range(self._positions))]

    def _draw(self) -> tuple[int, ...]:
        """One cell: uniform over strings, or over isomorphism classes then members."""
        if self._classes is None:
            return self.space.sample(self.rng)
        members = self._classes[int(self.rng.integers(len(self._classes)))]
        return members[int(self.rng.integers(len(members)))]


#: Registered by ``harness.catalog`` (this module describes itself).
PLUGINS = {"strategy": {"spos": SPOS}}
