"""NAS-Bench-201 cell encodings: the official arch string, a 6-tuple, and enumeration.

A cell is a DAG on 4 nodes (0 = cell input, 3 = cell output); each of the 6 edges j -> i (j < i)
carries one of 5 operations. The official string lists, for nodes 1, 2, 3, the incoming edges
in order of source node: ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``.

The 6-tuple holds op indices into ``OPS`` in that same edge order:
``(1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2)``. Note this is *not* NASLib's / analog-nasbench's
convention (edges 0→1, 0→2, 0→3, 1→2, 1→3, 2→3 and a different op numbering); conversion to
that convention is explicit in the analog-nasbench adapter.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

from harness.api.errors import WsbenchError

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
OP_INDEX = {op: i for i, op in enumerate(OPS)}
# (target node, source node) of each tuple position, in the official string's order.
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
NUM_EDGES = len(EDGES)
NUM_ARCHS = len(OPS) ** NUM_EDGES  # 15,625

Arch = tuple[int, int, int, int, int, int]

_NODE_RE = re.compile(r"^\|(.+)\|$")


class ArchStringError(WsbenchError):
    """A malformed NB201 architecture string or tuple."""


def parse_arch_str(arch: str) -> Arch:
    """Parse the official ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` string into a 6-tuple."""
    if not isinstance(arch, str):
        raise ArchStringError(f"NB201 arch must be a string, got {type(arch).__name__}")
    nodes = arch.strip().split("+")
    if len(nodes) != 3:
        raise ArchStringError(
            f"malformed NB201 arch string {arch!r}: expected 3 nodes joined by '+', "
            "like |nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|"
        )
    ops: list[int] = []
    for target, node in enumerate(nodes, start=1):
        m = _NODE_RE.match(node)
        if not m:
            raise ArchStringError(f"malformed NB201 arch string {arch!r}: node {target} {node!r} must be wrapped in '|'")
        edges = m.group(1).split("|")
        if len(edges) != target:
            raise ArchStringError(
                f"malformed NB201 arch string {arch!r}: node {target} needs {target} incoming edges, got {len(edges)}"
            )
        for source, edge in enumerate(edges):
            op, sep, src = edge.partition("~")
            if not sep or src != str(source):
                raise ArchStringError(
                    f"malformed NB201 arch string {arch!r}: edge {edge!r} of node {target} must be 'op~{source}'"
                )
            if op not in OP_INDEX:
                raise ArchStringError(f"unknown NB201 op {op!r} in {arch!r}; ops are {', '.join(OPS)}")
            ops.append(OP_INDEX[op])
    return tuple(ops)  # type: ignore[return-value]


def check_arch(arch: Any) -> Arch:
    """Validate a 6-tuple (or list) of op indices and return it as a tuple (anything else: a one-line error)."""
    try:
        t = tuple(int(x) for x in arch)
    except (TypeError, ValueError):
        raise ArchStringError(f"NB201 arch tuple must be 6 integers in 0..4, got {arch!r}") from None
    if len(t) != NUM_EDGES or any(not 0 <= x < len(OPS) for x in t):
        raise ArchStringError(f"NB201 arch tuple must be 6 integers in 0..4, got {arch!r}")
    return t  # type: ignore[return-value]


def to_arch_str(arch: Arch) -> str:
    """The official string of a 6-tuple."""
    a = check_arch(arch)
    it = iter(a)
    parts = []
    for target in (1, 2, 3):
        parts.append("|" + "|".join(f"{OPS[next(it)]}~{s}" for s in range(target)) + "|")
    return "+".join(parts)


def as_arch(arch: str | Arch) -> Arch:
    """Accept either form and return the 6-tuple."""
    return parse_arch_str(arch) if isinstance(arch, str) else check_arch(arch)


def enumerate_archs() -> Iterator[Arch]:
    """All 15,625 cells in lexicographic tuple order (NOT the official benchmark index order)."""
    yield from itertools.product(range(len(OPS)), repeat=NUM_EDGES)  # type: ignore[misc]


def lex_index(arch: Arch) -> int:
    """Position of a cell in ``enumerate_archs()`` order."""
    idx = 0
    for x in check_arch(arch):
        idx = idx * len(OPS) + x
    return idx
