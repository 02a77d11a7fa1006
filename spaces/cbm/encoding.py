"""Channel-Bench-Macro width configurations: 7 searchable layers x 4 widths, keyed by 7 digits.

Digit ``d`` (1-4) of layer ``i`` gives it ``round(d / 4 * max_i)`` channels (Channel-Bench-Macro,
the benchmark of BCNet, Su et al. CVPR 2021). Internally an architecture is the tuple of the 7
option indices ``d - 1``; its id is the benchmark's key (e.g. ``"4432214"``).
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from harness.api.errors import WsbenchError

LAYERS = 7
DIGITS = (1, 2, 3, 4)
#: Maximum widths of the searchable layers, per backbone (the benchmark's).
MAX_WIDTHS: dict[str, tuple[int, ...]] = {
    "mobilenet": (128, 768, 768, 768, 256, 1536, 1024),
    "resnet": (256, 256, 256, 512, 512, 512, 512),
}
#: What each searchable layer is, per backbone (for ``choices`` and ``wsbench arch``).
LAYER_NAMES: dict[str, tuple[str, ...]] = {
    "mobilenet": (
        "stem / block 1-2 width",
        "block 1 hidden",
        "block 2 hidden",
        "block 3 hidden (stride 2)",
        "block 3-4 width",
        "block 4 hidden",
        "final 1x1 conv",
    ),
    "resnet": (
        "stem / block 1-2 width",
        "block 1 hidden",
        "block 2 hidden",
        "block 3 hidden (stride 2)",
        "block 3-5 width",
        "block 4 hidden",
        "block 5 hidden",
    ),
}
NUM_ARCHS = len(DIGITS) ** LAYERS
_KEY = re.compile(r"[1-4]{7}")

Arch = tuple[int, ...]


def widths(arch: Arch, backbone: str, multiplier: float = 1.0) -> tuple[int, ...]:
    """Channels of the 7 searchable layers (``multiplier`` scales the maximum widths, e.g. for a CPU profile)."""
    return tuple(max(1, round((k + 1) / 4 * m * multiplier)) for k, m in zip(arch, MAX_WIDTHS[backbone]))


def from_key(key: str) -> Arch:
    """The option indices of a 7-digit benchmark key."""
    text = key.strip() if isinstance(key, str) else key
    if not isinstance(text, str) or not _KEY.fullmatch(text):
        raise WsbenchError(f"not a Channel-Bench-Macro key: {str(key)[:40]!r}; expected 7 digits in 1-4, e.g. '4432214'")
    return tuple(int(c) - 1 for c in text)


def to_key(arch: Arch) -> str:
    """The benchmark key of option indices."""
    return "".join(str(k + 1) for k in arch)


def as_arch(arch: Any) -> Arch:
    """A validated index tuple from a key or a tuple of 7 indices in 0..3."""
    if isinstance(arch, str):
        return from_key(arch)
    try:
        values = tuple(int(v) for v in arch)
    except (TypeError, ValueError):
        raise WsbenchError(f"not a Channel-Bench-Macro architecture: {str(arch)[:40]!r}") from None
    if len(values) != LAYERS or not all(0 <= v < len(DIGITS) for v in values):
        raise WsbenchError(f"a Channel-Bench-Macro architecture is {LAYERS} indices in 0..3, got {values}")
    return values


def enumerate_archs() -> list[Arch]:
    """All 16,384 configurations in key order."""
    return [tuple(a) for a in itertools.product(range(len(DIGITS)), repeat=LAYERS)]
