"""The fixed set of architectures a space's cells are scored on, shared by every cell.

``all``: every architecture string; ``unique``: one representative per isomorphism class
(functionally identical strings would only duplicate ties); ``sample``: a fixed sample of
``n`` isomorphism classes drawn with the archset seed (independent of the run seed, so every
strategy and seed is scored on the very same architectures).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.api.errors import WsbenchError
from harness.api.protocol import ARCHSET_KINDS
from harness.api.space import ENUMERABLE, GROUND_TRUTH_ARCHS, ISOMORPHISM
from harness.seeding import numpy_stream

#: What each kind (``harness.api.protocol.ARCHSET_KINDS``) needs of the space: a space that cannot
#: enumerate (NB101) is scored on the cells its ground truth covers instead.
NEEDS = {
    "all": [ENUMERABLE],
    "unique": [ISOMORPHISM],
    "sample": [ISOMORPHISM],
    "ground-truth": [GROUND_TRUTH_ARCHS],
    "ground-truth-sample": [GROUND_TRUTH_ARCHS],
}


def build_archset(space: Any, kind: str, n: int | None = None, seed: int = 0, source: str | None = None) -> list[tuple[int, ...]]:
    """The architectures to score, in a deterministic order."""
    if kind not in ARCHSET_KINDS:
        raise WsbenchError(f"unknown archset kind {kind!r}; use {', '.join(ARCHSET_KINDS)}")
    space.require(NEEDS[kind], f"archset {kind!r}")
    if kind == "all":
        return space.all_archs()
    if kind in ("ground-truth", "ground-truth-sample"):
        # Spaces too large to enumerate (NB101) are scored on the cells their ground truth covers.
        pool = space.ground_truth_archs() if source is None else space.ground_truth_archs(source)
        if kind == "ground-truth":
            return pool
        if n is None or not 1 <= n <= len(pool):
            raise WsbenchError(f"archset sample size must be in 1..{len(pool)} for {space.name}, got {n}")
        idx = numpy_stream(seed, "archset").choice(len(pool), size=n, replace=False)
        return [pool[i] for i in np.sort(idx)]
    reps = space.unique_representatives()
    if kind == "unique":
        return reps
    if kind == "sample":
        if n is None or not 1 <= n <= len(reps):
            raise WsbenchError(f"archset sample size must be in 1..{len(reps)} for {space.name}, got {n}")
        idx = numpy_stream(seed, "archset").choice(len(reps), size=n, replace=False)
        return [reps[i] for i in np.sort(idx)]
    return reps
