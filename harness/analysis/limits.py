"""Upper bounds on values whose work grows with them, checked before anything runs or is written.

A bootstrap count has no natural ceiling, and each resample of each interval costs about a
millisecond on 1,000 architectures: ``--bootstrap 100000000`` would run for days without a word.
Past 10,000 resamples the Monte Carlo error of a 95 % percentile interval is far below the
interval's own width, so more buys nothing.
"""

from __future__ import annotations

from typing import Any

from harness.api.errors import WsbenchError

#: Most bootstrap resamples per interval any report draws.
MAX_BOOTSTRAP = 10_000


def check_bootstrap(value: Any, *, allow_zero: bool = True) -> int:
    """``value`` as a bootstrap count: 0 (no intervals, where allowed) or 2..MAX_BOOTSTRAP; else a one-line error."""
    least = "0 (no intervals) or " if allow_zero else ""
    ok = isinstance(value, int) and not isinstance(value, bool) and ((allow_zero and value == 0) or 2 <= value <= MAX_BOOTSTRAP)
    if not ok:
        raise WsbenchError(
            f"bootstrap must be {least}an integer in 2..{MAX_BOOTSTRAP:,} (resamples per interval; 1000 is the usual), "
            f"got {value!r}"
        )
    return int(value)
