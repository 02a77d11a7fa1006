"""The ways other NAS-Bench-201 code bases write a cell in their score files.

- ``official``: ``|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...|`` (the benchmark's ``arch_str``).
- ``genotype``: ``str()`` of an xautodl ``CellStructure.tolist()``-style list, one tuple of
  ``(op, input node)`` pairs per node: ``[(('nor_conv_3x3', 0),), (('none', 0), ('skip_connect', 1)), ...]``.
- ``naslib``: NASLib's / analog-nasbench's 6-tuple (edges 0→1, 0→2, 0→3, 1→2, 1→3, 2→3; op codes
  0 skip_connect, 1 none, 2 nor_conv_3x3, 3 nor_conv_1x1, 4 avg_pool_3x3).
- ``tuple``: wsbench's own 6-tuple (the official string's edge order, ``OPS`` indices).

The two 6-tuple conventions read the same keys differently, so neither is guessed: a file of
6-integer keys must name its format.
"""

from __future__ import annotations

import ast
from typing import Any

from harness.api.errors import WsbenchError
from spaces.nb201.encoding import OP_INDEX, Arch, ArchStringError, check_arch, parse_arch_str
from spaces.nb201.ground_truth import naslib_to_arch


def _literal(key: Any) -> Any:
    """A key's Python literal (a list or tuple written as text), or the key itself when it is not text."""
    if not isinstance(key, str):
        return key
    try:
        return ast.literal_eval(key.strip())
    except (ValueError, SyntaxError):
        raise ArchStringError(f"{key[:80]!r} is not a Python/JSON literal (a list or tuple)") from None


def six_ints(key: Any) -> tuple[int, ...] | None:
    """The key as 6 integers when it is one (either 6-tuple convention), else None."""
    try:
        value = _literal(key)
    except ArchStringError:
        return None
    if (
        isinstance(value, (list, tuple))
        and len(value) == 6
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        return tuple(value)
    return None


def from_official(key: Any) -> Arch:
    """The official arch string."""
    if not isinstance(key, str):
        raise ArchStringError(f"an official NB201 arch string is text, got {type(key).__name__}")
    return parse_arch_str(key)


def from_genotype(key: Any) -> Arch:
    """An xautodl genotype list: node i holds ``(op, input)`` pairs for inputs 0..i-1, in any order."""
    nodes = _literal(key)
    if not isinstance(nodes, (list, tuple)) or len(nodes) != 3:
        raise ArchStringError(f"an NB201 genotype lists 3 nodes of (op, input) pairs, got {str(key)[:80]!r}")
    ops: list[int] = []
    for target, node in enumerate(nodes, start=1):
        pairs = dict(_pair(p, key) for p in node) if isinstance(node, (list, tuple)) else {}
        if sorted(pairs) != list(range(target)) or len(node) != target:
            raise ArchStringError(
                f"node {target} of NB201 genotype {str(key)[:80]!r} must read each of inputs 0..{target - 1} once"
            )
        ops += [pairs[source] for source in range(target)]
    return tuple(ops)  # type: ignore[return-value]


def _pair(pair: Any, key: Any) -> tuple[int, int]:
    """(input node, op index) of one ``(op, input)`` pair."""
    if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and pair[0] in OP_INDEX and isinstance(pair[1], int)):
        raise ArchStringError(f"NB201 genotype {str(key)[:80]!r}: {pair!r} is not an (op, input) pair of a known op")
    return int(pair[1]), OP_INDEX[pair[0]]


def from_naslib(key: Any) -> Arch:
    """NASLib's / analog-nasbench's 6-tuple."""
    ints = six_ints(key)
    if ints is None:
        raise ArchStringError(f"a NASLib NB201 key is 6 integers, got {str(key)[:80]!r}")
    return naslib_to_arch(ints)


def from_tuple(key: Any) -> Arch:
    """wsbench's own 6-tuple."""
    ints = six_ints(key)
    if ints is None:
        raise ArchStringError(f"a wsbench NB201 tuple is 6 integers, got {str(key)[:80]!r}")
    return check_arch(ints)


def refuse_ambiguous(key: Any) -> None:
    """A one-line error for a 6-integer key given without its format."""
    if six_ints(key) is not None:
        raise WsbenchError(
            f"NB201 key {str(key)[:40]!r} is 6 integers, which NASLib's and wsbench's tuple conventions read differently; "
            "name the format: --key-format naslib (NASLib, analog-nasbench) or --key-format tuple (wsbench)"
        )
