"""One place that names every plugin, lazily: listing imports nothing heavy."""

from __future__ import annotations

from harness.api.ground_truth import GROUND_TRUTHS


def list_plugins() -> str:
    """Human-readable listing of every registry."""
    from harness.engine.protocols import PROTOCOLS
    from spaces import SPACES
    from strategies import STRATEGIES

    lines = []
    for title, reg in (
        ("spaces", SPACES),
        ("strategies", STRATEGIES),
        ("ground truths", GROUND_TRUTHS),
        ("protocols", PROTOCOLS),
    ):
        lines.append(f"{title}: {', '.join(reg.names())}")
    return "\n".join(lines)
