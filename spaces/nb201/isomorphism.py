"""Isomorphism classes of NAS-Bench-201 cells, exactly as the benchmark defines them.

A cell is written as an expression: ``0`` is the cell input, ``#`` a zero term, ``(x)@op`` the op
``op`` applied to expression ``x``, and a node is the ``+``-join of its incoming terms sorted as
strings. Per edge: ``none`` gives ``#``; an op whose source node is exactly ``#`` (only node 1 can
be) gives ``#``; ``skip_connect`` passes the source's expression through unchanged; any other op
gives ``(source)@op``. The string of node 3 is the class label.

This reproduces the benchmark's ``UniqueString`` character for character, so its partition of the
15,625 cells (6,466 classes) is the benchmark's. That notion is *finer* than "computes the same
function", and the differences are deliberate here because results are compared per class:

- zero terms are kept, so ``#+#+x`` and ``#+x+y`` are told apart by term count, and a node summing
  only zeros (``#+#``) is not collapsed: cells with no input->output path fall into 5 classes;
- a sum passed through ``skip_connect`` is spliced in as one sort key and not re-sorted, so the sum
  is commutative at each node but only partly associative across nodes.

(For comparison, measured on the full space: a fully associative multiset form that keeps zero
terms gives 5,755 classes; one that also drops zeros and collapses zero nodes gives 4,930.)
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from spaces.nb201.encoding import EDGES, OPS, Arch, as_arch, enumerate_archs, lex_index

INPUT = "0"
ZERO = "#"

# For each target node, the tuple positions of its incoming edges and their source nodes.
_INCOMING: dict[int, tuple[tuple[int, int], ...]] = {
    target: tuple((pos, src) for pos, (t, src) in enumerate(EDGES) if t == target) for target in (1, 2, 3)
}


def _term(op: str, source_expr: str) -> str:
    """The expression one edge contributes to its target node."""
    if op == "none" or source_expr == ZERO:
        return ZERO
    if op == "skip_connect":
        return source_expr
    return f"({source_expr})@{op}"


def canonical(arch: str | Arch) -> str:
    """The benchmark's unique string of a cell: equal strings <=> same isomorphism class."""
    ops = as_arch(arch)
    exprs = {0: INPUT}
    for target in (1, 2, 3):
        terms = [_term(OPS[ops[pos]], exprs[src]) for pos, src in _INCOMING[target]]
        exprs[target] = "+".join(sorted(terms))
    return exprs[3]


def is_isomorphic(a: str | Arch, b: str | Arch) -> bool:
    """Whether two cells are in the same isomorphism class."""
    return canonical(a) == canonical(b)


def unique_classes(archs: Iterable[str | Arch]) -> dict[str, list[Arch]]:
    """Group cells by canonical string; members keep input order, classes first-seen order."""
    classes: dict[str, list[Arch]] = {}
    for arch in archs:
        t = as_arch(arch)
        classes.setdefault(canonical(t), []).append(t)
    return classes


@functools.lru_cache(maxsize=1)
def _representatives() -> dict[str, Arch]:
    """Canonical string -> member with the smallest lex_index, over the whole space."""
    reps: dict[str, Arch] = {}
    for arch in enumerate_archs():  # lexicographic, so the first member seen is the smallest
        reps.setdefault(canonical(arch), arch)
    return reps


def representative(arch: str | Arch) -> Arch:
    """The member of the cell's class with the smallest lex_index (deterministic)."""
    return _representatives()[canonical(arch)]


def is_representative(arch: str | Arch) -> bool:
    """Whether the cell is its class's representative (use to sample one cell per class)."""
    t = as_arch(arch)
    return representative(t) == t


def all_representatives() -> list[Arch]:
    """One representative per class over the whole space, in lex_index order."""
    return sorted(_representatives().values(), key=lex_index)


def num_classes() -> int:
    """Number of isomorphism classes in the whole space."""
    return len(_representatives())
