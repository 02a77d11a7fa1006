"""The official NAS-Bench-201 index order (0..15624), which is not lexicographic.

The order ships as ``official_order.u16.gz``: 15,625 little-endian uint16 values, the value at
position i being the ``lex_index`` of the cell at official index i (no accuracy data, just the
order; it was taken from the row order of the benchmark export). It is loaded once, on first use.
"""

from __future__ import annotations

import functools
import gzip
import operator
from importlib import resources

import numpy as np

from harness.api.errors import CorruptDataError, WsbenchError
from spaces.nb201.encoding import NUM_ARCHS, OPS, Arch, as_arch, lex_index

RESOURCE_NAME = "official_order.u16.gz"


class OfficialIndexError(WsbenchError):
    """An official NB201 index outside 0..15624 or not an integer."""


def _decode_lex(idx: int) -> Arch:
    """The 6-tuple at a lex_index (inverse of ``encoding.lex_index``)."""
    digits = []
    for _ in range(6):
        idx, d = divmod(idx, len(OPS))
        digits.append(d)
    return tuple(reversed(digits))  # type: ignore[return-value]


@functools.lru_cache(maxsize=1)
def official_to_lex() -> np.ndarray:
    """Read-only array: lex_index of the cell at each official index."""
    path = resources.files("spaces.nb201").joinpath(RESOURCE_NAME)
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise CorruptDataError(f"cannot read the NB201 official-order resource {path} ({exc}); reinstall wsbench") from None
    order = np.frombuffer(raw, dtype="<u2").astype(np.int64)
    # A damaged file must fail loudly here rather than silently mis-map every lookup.
    if order.size != NUM_ARCHS or not np.array_equal(np.sort(order), np.arange(NUM_ARCHS)):
        raise CorruptDataError(
            f"NB201 official-order resource {path} is not a permutation of 0..{NUM_ARCHS - 1}; reinstall wsbench"
        )
    order.setflags(write=False)
    return order


@functools.lru_cache(maxsize=1)
def lex_to_official() -> np.ndarray:
    """Read-only array: official index of the cell at each lex_index."""
    inverse = np.empty(NUM_ARCHS, dtype=np.int64)
    inverse[official_to_lex()] = np.arange(NUM_ARCHS)
    inverse.setflags(write=False)
    return inverse


def official_index(arch: str | Arch) -> int:
    """The official benchmark index of a cell (string or 6-tuple)."""
    return int(lex_to_official()[lex_index(as_arch(arch))])


def arch_at_official_index(index: int) -> Arch:
    """The 6-tuple of the cell at an official benchmark index."""
    try:
        i = operator.index(index)
    except TypeError:
        raise OfficialIndexError(f"NB201 official index must be an integer, got {index!r}") from None
    if isinstance(index, bool) or not 0 <= i < NUM_ARCHS:
        raise OfficialIndexError(f"NB201 official index must be in 0..{NUM_ARCHS - 1}, got {index!r}")
    return _decode_lex(int(official_to_lex()[i]))
