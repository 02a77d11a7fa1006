"""The DARTS cell space: two cells (normal, reduction), nodes 2-5 each with two (input, op) edges.

Inputs of node k are the two cell inputs (0, 1: the outputs of the two previous cells) and the
earlier nodes 2..k-1; a node's two inputs differ. The order of a node's two edges does not
change the network (their outputs are summed), so the canonical form sorts them. Forms read:

- the seed paper's JSON object (``normal/<node>/<k>/input``, ``normal/<node>/<k>/op``, likewise
  ``reduce/...``), as a dict or its JSON text;
- the ``Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5], reduce=...,
  reduce_concat=...)`` text that DARTS-family code prints (edges in node order, two per node);
- the canonical id ``arch_id`` writes.
"""

from __future__ import annotations

import ast
import json
import math
import re
from typing import Any

import numpy as np

from harness.api.errors import WsbenchError

#: The seed paper's seven ops (no ``none``): its ground truth uses exactly these.
OPS: tuple[str, ...] = (
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
#: DARTS's own eight ops, for its bi-level search (``none`` = the zero op).
OPS_WITH_NONE: tuple[str, ...] = ("none", *OPS)
NODES: tuple[int, ...] = (2, 3, 4, 5)
CELLS: tuple[str, ...] = ("normal", "reduce")

Edge = tuple[int, str]  # (input index, op name)
Node = tuple[Edge, Edge]  # sorted
Cell = tuple[Node, Node, Node, Node]
Arch = tuple[Cell, Cell]  # (normal, reduce)


def space_size(n_ops: int = len(OPS)) -> int:
    """Distinct architectures (two cells; a node's two edges unordered, inputs distinct)."""
    per_cell = math.prod(math.comb(k, 2) * n_ops * n_ops for k in NODES)
    return per_cell**2


def canonical(arch: Any, ops: tuple[str, ...] = OPS) -> Arch:
    """Validated, canonical form of a (normal, reduce) pair of cells of edges ``(input, op)``."""
    cells = []
    for name, cell in zip(CELLS, arch):
        if len(cell) != len(NODES):
            raise WsbenchError(f"DARTS {name} cell must have {len(NODES)} nodes, got {len(cell)}")
        nodes = []
        for k, node in zip(NODES, cell):
            edges = tuple(sorted((int(i), str(op)) for i, op in node))
            if len(edges) != 2:
                raise WsbenchError(f"DARTS {name} node {k} must have 2 edges, got {len(edges)}")
            (i, a), (j, b) = edges
            if i == j:
                raise WsbenchError(f"DARTS {name} node {k}: its two inputs must differ, both are {i}")
            for src, op in edges:
                if not 0 <= src < k:
                    raise WsbenchError(f"DARTS {name} node {k}: input {src} is not among 0..{k - 1}")
                if op not in ops:
                    raise WsbenchError(f"DARTS {name} node {k}: unknown op {op!r}; known: {', '.join(ops)}")
            nodes.append(edges)
        cells.append(tuple(nodes))
    if len(cells) != 2:
        raise WsbenchError("a DARTS architecture has two cells, normal and reduce")
    return tuple(cells)  # type: ignore[return-value]


def from_json(obj: dict[str, Any] | str, ops: tuple[str, ...] = OPS) -> Arch:
    """The seed paper's JSON object (``normal/2/0/input`` ...)."""
    data = json.loads(obj) if isinstance(obj, str) else obj
    expected = {f"{c}/{k}/{e}/{f}" for c in CELLS for k in NODES for e in (0, 1) for f in ("input", "op")}
    if set(data) != expected:
        missing, extra = sorted(expected - set(data)), sorted(set(data) - expected)
        raise WsbenchError(f"not a DARTS architecture object: missing keys {missing[:3]}, unexpected keys {extra[:3]}")
    return canonical(
        [[[(data[f"{c}/{k}/{e}/input"], data[f"{c}/{k}/{e}/op"]) for e in (0, 1)] for k in NODES] for c in CELLS], ops
    )


def to_json(arch: Arch) -> dict[str, Any]:
    """The seed paper's JSON object of a canonical architecture."""
    out: dict[str, Any] = {}
    for c, cell in zip(CELLS, arch):
        for k, node in zip(NODES, cell):
            for e, (src, op) in enumerate(node):
                out[f"{c}/{k}/{e}/input"], out[f"{c}/{k}/{e}/op"] = src, op
    return out


_GENOTYPE = re.compile(r"Genotype\((.*)\)\s*$", re.S)


def from_genotype(text: str, ops: tuple[str, ...] = OPS) -> Arch:
    """``Genotype(normal=[(op, input), ...], normal_concat=..., reduce=[...], reduce_concat=...)``."""
    m = _GENOTYPE.match(text.strip())
    if not m:
        raise WsbenchError("not a DARTS Genotype(...) string")
    try:
        fields = {kw.arg: ast.literal_eval(kw.value) for kw in ast.parse(f"f({m.group(1)})").body[0].value.keywords}  # type: ignore[attr-defined]
    except (SyntaxError, ValueError) as e:
        raise WsbenchError(f"unreadable Genotype string ({e})") from None
    cells = []
    for c in CELLS:
        edges = fields.get(c)
        concat = list(fields.get(f"{c}_concat", NODES))
        if not isinstance(edges, list) or len(edges) != 2 * len(NODES):
            raise WsbenchError(f"Genotype {c} must list {2 * len(NODES)} (op, input) edges")
        if concat != list(NODES):
            raise WsbenchError(f"Genotype {c}_concat must be {list(NODES)}, got {concat}")
        cells.append([[(src, op) for op, src in edges[2 * n : 2 * n + 2]] for n in range(len(NODES))])
    return canonical(cells, ops)


def to_genotype(arch: Arch) -> str:
    """The Genotype text DARTS-family code prints."""
    parts = []
    for c, cell in zip(CELLS, arch):
        edges = ", ".join(f"('{op}', {src})" for node in cell for src, op in node)
        parts.append(f"{c}=[{edges}], {c}_concat=[2, 3, 4, 5]")
    return f"Genotype({', '.join(parts)})"


def arch_id(arch: Arch) -> str:
    """Canonical id, e.g. ``normal:0~sep_conv_3x3,1~skip_connect|...;reduce:...`` (nodes 2-5 in order)."""
    return ";".join(f"{c}:" + "|".join(",".join(f"{s}~{op}" for s, op in node) for node in cell) for c, cell in zip(CELLS, arch))


def from_id(text: str, ops: tuple[str, ...] = OPS) -> Arch:
    """Inverse of ``arch_id``."""
    try:
        cells = []
        for part, c in zip(text.split(";"), CELLS):
            name, _, body = part.partition(":")
            if name != c:
                raise ValueError(f"expected {c}:")
            cells.append([[(int(e.split("~")[0]), e.split("~")[1]) for e in node.split(",")] for node in body.split("|")])
    except (ValueError, IndexError) as e:
        raise WsbenchError(f"not a DARTS arch id: {text[:80]!r} ({e})") from None
    return canonical(cells, ops)


def parse(arch: Any, ops: tuple[str, ...] = OPS) -> Arch:
    """Any accepted form: canonical tuple, JSON dict/text, Genotype text or arch id."""
    if isinstance(arch, dict):
        return from_json(arch, ops)
    if isinstance(arch, str):
        text = arch.strip()
        if text.startswith("{"):
            try:
                return from_json(text, ops)
            except json.JSONDecodeError as e:
                raise WsbenchError(f"unreadable DARTS architecture JSON ({e.msg})") from None
        if text.startswith("Genotype"):
            return from_genotype(text, ops)
        return from_id(text, ops)
    return canonical(arch, ops)


def sample(rng: np.random.Generator, ops: tuple[str, ...] = OPS) -> Arch:
    """Uniform over the space: per node, an unordered pair of distinct inputs, then an op per edge."""
    cells = []
    for _ in CELLS:
        nodes = []
        for k in NODES:
            i, j = rng.choice(k, size=2, replace=False)
            nodes.append([(int(i), ops[int(rng.integers(len(ops)))]), (int(j), ops[int(rng.integers(len(ops)))])])
        cells.append(nodes)
    return canonical(cells, ops)


# -- the grid form: what the harness's strategies see ---------------------------------------------
#: The unordered input pairs of each node, in lexicographic order (node 2: only (0, 1)).
PAIRS: dict[int, tuple[tuple[int, int], ...]] = {k: tuple((i, j) for i in range(k) for j in range(i + 1, k)) for k in NODES}
#: What each grid position holds, per cell and node: the op on the lower input, the op on the
#: higher input, then the input pair. Every tuple of indices is a valid architecture.
SLOTS: tuple[str, ...] = ("op on lower input", "op on higher input", "inputs")


def to_grid(arch: Arch, ops: tuple[str, ...] = OPS) -> tuple[int, ...]:
    """The 24 option indices of a canonical architecture (``SLOTS`` per node, nodes 2-5, normal then reduce)."""
    out: list[int] = []
    for cell in arch:
        for k, ((i, a), (j, b)) in zip(NODES, cell):
            out += [ops.index(a), ops.index(b), PAIRS[k].index((i, j))]
    return tuple(out)


def from_grid(grid: Any, ops: tuple[str, ...] = OPS) -> Arch:
    """The canonical architecture of 24 option indices (inverse of ``to_grid``)."""
    values = tuple(int(v) for v in grid)
    if len(values) != len(CELLS) * len(NODES) * len(SLOTS):
        raise WsbenchError(f"a DARTS grid architecture has {len(CELLS) * len(NODES) * len(SLOTS)} indices, got {len(values)}")
    cells = []
    pos = 0
    for name in CELLS:
        nodes = []
        for k in NODES:
            a, b, pair = values[pos : pos + 3]
            pos += 3
            if not (0 <= a < len(ops) and 0 <= b < len(ops) and 0 <= pair < len(PAIRS[k])):
                raise WsbenchError(f"DARTS grid index out of range at {name} node {k}: ops {a}, {b}, inputs {pair}")
            i, j = PAIRS[k][pair]
            nodes.append(((i, ops[a]), (j, ops[b])))
        cells.append(tuple(nodes))
    return tuple(cells)  # type: ignore[return-value]


def edges_of(cell: Cell) -> list[tuple[int, int, str]]:
    """(node, input, op) of a cell's eight edges."""
    return [(k, src, op) for k, node in zip(NODES, cell) for src, op in node]


#: The candidate edges of a cell (node k takes any earlier state): 2 + 3 + 4 + 5 = 14, DARTS's order.
CANDIDATE_EDGES: tuple[tuple[int, int], ...] = tuple((k, src) for k in NODES for src in range(k))
