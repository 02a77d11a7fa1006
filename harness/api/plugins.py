"""One place that names every plugin, lazily: listing imports nothing heavy."""

from __future__ import annotations

from dataclasses import dataclass

from harness.api.ground_truth import GROUND_TRUTHS


@dataclass(frozen=True)
class Pairing:
    """Whether a strategy (with its default options) runs on a space, and why not."""

    space: str
    strategy: str
    allowed: bool
    reason: str = ""


def pairings() -> list[Pairing]:
    """Every registered space x strategy pair, allowed or refused by the space's capabilities."""
    from harness.api.space import UnsupportedError
    from harness.engine.seeding import numpy_stream
    from spaces import SPACES
    from strategies import STRATEGIES

    out = []
    for space_name in SPACES.names():
        space = SPACES.get(space_name)
        for name in STRATEGIES.names():
            try:
                STRATEGIES.get(name)(space, numpy_stream(0, "arch"))
            except UnsupportedError as exc:
                out.append(Pairing(space_name, name, False, str(exc)))
                continue
            out.append(Pairing(space_name, name, True))
    return out


def list_plugins(pairs: bool = False) -> str:
    """Human-readable listing of every registry (and, with ``pairs``, which strategies run on which space)."""
    from harness.engine.protocols import PROTOCOLS
    from harness.tasks import TASKS
    from spaces import SPACES
    from strategies import STRATEGIES

    lines = []
    for title, reg in (
        ("spaces", SPACES),
        ("tasks", TASKS),
        ("strategies", STRATEGIES),
        ("ground truths", GROUND_TRUTHS),
        ("protocols", PROTOCOLS),
    ):
        lines.append(f"{title}: {', '.join(reg.names())}")
    if pairs:
        for p in pairings():
            lines.append(f"{p.space} x {p.strategy}: " + ("runs" if p.allowed else f"refused: {p.reason}"))
    return "\n".join(lines)
