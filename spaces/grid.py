"""Grid spaces: an architecture is one option index per choice, and every index tuple is valid.

DARTS (CIFAR-10 and PTB cells) and ProxylessNAS are such grids: sampling is one uniform index per
choice, a parsed architecture is its index tuple, ids and official text forms come from the space's
encoding, and archset pools are the architectures of one of its ground-truth tables. ``GridSpace``
holds those parts; the networks, costs, relaxations and network options stay with each space.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from harness.api.errors import WsbenchError, unknown
from harness.api.space import GTSpec, Space

Grid = tuple[int, ...]


def is_index_sequence(arch: Any) -> bool:
    """True for a non-empty tuple, list or array of integers (a grid given as indices)."""
    return isinstance(arch, (tuple, list, np.ndarray)) and len(arch) > 0 and all(isinstance(v, (int, np.integer)) for v in arch)


class GridSpace(Space):
    """A GRID space whose encoding module (``codec``) converts between grids and the space's own forms.

    ``codec`` provides ``from_grid`` / ``to_grid`` (index tuple <-> structure), ``parse`` (any
    accepted text or object -> structure), ``arch_id`` and ``to_genotype`` (the official text). A
    space whose encoding has no grid conversion (its architectures are the index tuples themselves)
    overrides ``parse``, ``arch_id`` and ``format`` instead.
    """

    codec: ClassVar[ModuleType]
    #: What a parse error calls an architecture (``not a DARTS architecture: ...``).
    arch_noun: ClassVar[str] = "architecture"
    #: What ``codec.parse`` raises on input it cannot read; each becomes a one-line error.
    parse_errors: ClassVar[tuple[type[Exception], ...]] = (TypeError, ValueError)
    #: Archset pools (``ground_truth_archs``): name -> the ground-truth query whose architectures it holds.
    pools: ClassVar[Mapping[str, GTSpec]] = {}
    #: What a pool error calls the space (``unknown DARTS ground-truth pool for an archset ...``).
    title: ClassVar[str] = ""

    def sample(self, rng: np.random.Generator) -> Grid:
        """Uniform over the space: one uniform index per choice (the grid is a bijection)."""
        return tuple(int(v) for v in rng.integers(0, self.grid_shape()))

    def parse(self, arch: Any) -> Grid:
        """The grid of a grid tuple, or of any form ``codec.parse`` reads (text, JSON object, ...)."""
        if is_index_sequence(arch):
            return self.codec.to_grid(self.codec.from_grid(arch))
        if not isinstance(arch, (str, dict, tuple, list)):
            raise WsbenchError(f"not a {self.arch_noun}: {type(arch).__name__} {str(arch)[:60]!r}")
        try:
            return self.codec.to_grid(self.codec.parse(arch))
        except self.parse_errors as e:
            raise WsbenchError(f"not a {self.arch_noun}: {str(arch)[:60]!r} ({e})") from None

    def arch_id(self, arch: Any) -> str:
        """The canonical id ground-truth tables are keyed by."""
        return self.codec.arch_id(self.codec.from_grid(self.parse(arch)))

    def format(self, arch: Any) -> str:
        """The official text form (``codec.to_genotype``: the ``Genotype(...)`` DARTS-family code prints)."""
        return self.codec.to_genotype(self.codec.from_grid(self.parse(arch)))

    def ground_truth_archs(self, source: str | None = None) -> list[Grid]:
        """The architectures of one pool's ground-truth table, in id order (``None``: the first pool)."""
        from harness.catalog import load_ground_truth

        pool = next(iter(self.pools)) if source is None else source
        if pool not in self.pools:
            raise unknown(f"{self.title} ground-truth pool for an archset", pool, self.pools)
        table = load_ground_truth(self.name, *self.pools[pool])
        return [self.parse(a) for a in sorted(table.arch_ids)]

    def probability(self, value: Any, where: str, key: str) -> float:
        """``value`` as a probability in [0, 1) (a network option such as a dropout), else a one-line error."""
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and 0 <= value < 1
        if not ok:
            raise WsbenchError(f"{where}.{key}: must be a probability in [0, 1) for space {self.name!r}, got {value!r}")
        return float(value)

    def network_options(
        self, config: Mapping[str, Any], where: str, extra: tuple[str, ...]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """(the positive-integer keys checked, defaults filled in; the ``extra`` keys given, for the space to check)."""
        rest = dict(config)
        given = {key: rest.pop(key) for key in extra if key in rest}
        return Space.network_config(self, rest, where), given
