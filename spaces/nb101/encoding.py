"""NAS-Bench-101 cells: representation, validity, pruning and the official module hash.

A cell is a DAG on V <= 7 vertices given by a strictly upper-triangular 0/1 adjacency matrix
(``matrix[i][j] == 1`` is an edge i -> j) and one op per vertex: vertex 0 is ``input``, vertex V-1
is ``output``, every other vertex one of ``OPS``. A cell is *valid* when, after pruning, it has at
most 7 vertices and 9 edges and the input reaches the output.

Pruning (as the benchmark's ``ModelSpec`` does) removes every vertex that is not on some
input -> output path; it never changes the network's function. The benchmark stores and hashes
pruned cells only.

The module hash is the benchmark's arch id: a Weisfeiler-Lehman style fingerprint. Each vertex
starts from the md5 of the text of ``(out_degree, in_degree, label)`` with label -1 input, -2
output, else the op's index in ``OPS``; then V times every vertex becomes the md5 of its sorted
in-neighbour hashes, ``|``, its sorted out-neighbour hashes, ``|``, its own hash; the fingerprint
is the md5 of the text of the sorted list of final vertex hashes. Isomorphic cells share a hash.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from harness.api.errors import WsbenchError

INPUT = "input"
OUTPUT = "output"
#: Interior ops; the index is the label the official hash uses (``available_ops`` order).
OPS: tuple[str, ...] = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
OP_INDEX = {op: i for i, op in enumerate(OPS)}
#: Short spellings accepted on input (``conv3x3`` for ``conv3x3-bn-relu`` ...).
OP_ALIASES = {"conv3x3": OPS[0], "conv1x1": OPS[1], "maxpool": OPS[2], **{op: op for op in OPS}}
INPUT_LABEL, OUTPUT_LABEL = -1, -2
MAX_VERTICES = 7
MAX_EDGES = 9

_HASH_RE = re.compile(r"^[0-9a-f]{32}$")


class CellError(WsbenchError):
    """A malformed or invalid NAS-Bench-101 cell."""


@dataclass(frozen=True)
class Cell:
    """An NB101 cell as given (possibly with dangling vertices); ``ops`` include input and output.

    Hashable and comparable, so it can be a dict key or an archset member. Use ``pruned()`` for
    the benchmark's form and ``module_hash`` for its id.
    """

    matrix: tuple[tuple[int, ...], ...]
    ops: tuple[str, ...]

    @property
    def num_vertices(self) -> int:
        """V, input and output included."""
        return len(self.ops)

    @property
    def num_edges(self) -> int:
        """Number of edges."""
        return int(sum(map(sum, self.matrix)))

    def array(self) -> np.ndarray:
        """The adjacency matrix as an int8 array."""
        return np.array(self.matrix, dtype=np.int8).reshape(self.num_vertices, self.num_vertices)

    def labels(self) -> list[int]:
        """Integer labels as the official hash uses them (-1 input, -2 output, op index)."""
        return [INPUT_LABEL] + [OP_INDEX[o] for o in self.ops[1:-1]] + [OUTPUT_LABEL]

    def live_vertices(self) -> list[int]:
        """Vertices on some input -> output path, in order (empty if the output is unreachable)."""
        return live_vertices(self.array())

    def pruned(self) -> Cell:
        """The cell without vertices off every input -> output path; a one-line error if none is left."""
        return _pruned(self)

    def is_valid(self) -> bool:
        """True when the pruned cell exists and has <= 7 vertices and <= 9 edges."""
        try:
            p = self.pruned()
        except CellError:
            return False
        return p.num_vertices <= MAX_VERTICES and p.num_edges <= MAX_EDGES

    @cached_property
    def module_hash(self) -> str:
        """The official module hash of the pruned cell (the benchmark's arch id)."""
        p = self.pruned()
        return hash_module(p.array(), p.labels())

    def to_str(self) -> str:
        """Compact text form: adjacency rows as 0/1 strings joined by '.', '|', interior ops by ','."""
        rows = ".".join("".join(str(b) for b in row) for row in self.matrix)
        return rows + "|" + ",".join(self.ops[1:-1])

    def to_json(self) -> dict[str, Any]:
        """``{"matrix": [[...]], "ops": [...]}`` as the official ``ModelSpec`` takes it."""
        return {"matrix": [list(r) for r in self.matrix], "ops": list(self.ops)}


def make_cell(matrix: Any, ops: Sequence[Any]) -> Cell:
    """Build and check a cell from a square 0/1 upper-triangular matrix and ops (names or codes).

    ``ops`` may list all V vertices (``input`` ... ``output``) or only the V-2 interior ones.
    Integer ops use the official labels (-1 input, -2 output, 0..2 index into ``OPS``).
    """
    try:
        m = np.asarray(matrix, dtype=np.float64)
    except (TypeError, ValueError):
        raise CellError(f"NB101 matrix must be a square 0/1 array, got {matrix!r}") from None
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] < 2:
        raise CellError(f"NB101 matrix must be square with at least 2 vertices, got shape {m.shape}")
    if not np.all((m == 0) | (m == 1)):
        raise CellError("NB101 matrix entries must be 0 or 1")
    if np.any(np.tril(m) != 0):
        raise CellError("NB101 matrix must be strictly upper-triangular (edges i -> j need i < j)")
    v = m.shape[0]
    if v > MAX_VERTICES:
        raise CellError(f"NB101 cells have at most {MAX_VERTICES} vertices, got {v}")
    names = [_op_name(o) for o in ops]
    if len(names) == v - 2:
        names = [INPUT, *names, OUTPUT]
    if len(names) != v:
        raise CellError(f"NB101 cell has {v} vertices but {len(names)} ops; give V ops or the V-2 interior ones")
    if names[0] != INPUT or names[-1] != OUTPUT or any(n in (INPUT, OUTPUT) for n in names[1:-1]):
        raise CellError(f"NB101 ops must be input, interior ops from {', '.join(OPS)}, output; got {names}")
    rows = tuple(tuple(int(x) for x in row) for row in m.astype(np.int8))
    return Cell(rows, tuple(names))


def _op_name(op: Any) -> str:
    if isinstance(op, (int, np.integer)) and not isinstance(op, bool):
        code = int(op)
        if code == INPUT_LABEL:
            return INPUT
        if code == OUTPUT_LABEL:
            return OUTPUT
        if 0 <= code < len(OPS):
            return OPS[code]
    elif isinstance(op, str):
        name = op.strip()
        if name in (INPUT, OUTPUT):
            return name
        if name in OP_ALIASES:
            return OP_ALIASES[name]
    raise CellError(f"unknown NB101 op {op!r}; ops are {', '.join(OPS)} (or codes 0..2, -1 input, -2 output)")


def live_vertices(matrix: np.ndarray) -> list[int]:
    """Vertices reachable from vertex 0 that also reach vertex V-1, in increasing order."""
    a = np.asarray(matrix) != 0
    v = a.shape[0]
    # Upper-triangular: one forward sweep finds descendants of 0, one backward sweep ancestors of V-1.
    fwd = np.zeros(v, dtype=bool)
    fwd[0] = True
    for j in range(1, v):
        fwd[j] = bool(np.any(a[:j, j] & fwd[:j]))
    bwd = np.zeros(v, dtype=bool)
    bwd[v - 1] = True
    for i in range(v - 2, -1, -1):
        bwd[i] = bool(np.any(a[i, i + 1 :] & bwd[i + 1 :]))
    live = fwd & bwd
    return [int(i) for i in np.flatnonzero(live)] if live[0] else []


def _pruned(cell: Cell) -> Cell:
    keep = live_vertices(cell.array())
    if not keep:
        raise CellError(f"NB101 cell {cell.to_str()} has no input -> output path; it is not a valid cell")
    if len(keep) == cell.num_vertices:
        return cell
    a = cell.array()[np.ix_(keep, keep)]
    return Cell(tuple(tuple(int(x) for x in r) for r in a), tuple(cell.ops[i] for i in keep))


def check_valid(cell: Cell) -> Cell:
    """Return the cell when valid, else raise a one-line error saying which limit it breaks."""
    p = cell.pruned()
    if p.num_vertices > MAX_VERTICES or p.num_edges > MAX_EDGES:
        raise CellError(
            f"NB101 cell {cell.to_str()} has {p.num_vertices} vertices and {p.num_edges} edges after pruning; "
            f"the space allows at most {MAX_VERTICES} and {MAX_EDGES}"
        )
    return cell


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def hash_module(matrix: np.ndarray, labels: Sequence[int]) -> str:
    """The official NB101 module hash of an (already pruned) matrix and its integer labels."""
    a = np.asarray(matrix) != 0
    v = a.shape[0]
    if len(labels) != v:
        raise CellError(f"hash_module: {v} vertices but {len(labels)} labels")
    out_deg = a.sum(axis=1)
    in_deg = a.sum(axis=0)
    # The benchmark hashes the Python text of an int tuple, e.g. "(2, 0, -1)".
    h = [_md5(str((int(out_deg[i]), int(in_deg[i]), int(labels[i])))) for i in range(v)]
    preds = [np.flatnonzero(a[:, i]).tolist() for i in range(v)]
    succs = [np.flatnonzero(a[i, :]).tolist() for i in range(v)]
    for _ in range(v):
        h = [
            _md5("".join(sorted(h[w] for w in preds[i])) + "|" + "".join(sorted(h[w] for w in succs[i])) + "|" + h[i])
            for i in range(v)
        ]
    return _md5(str(sorted(h)))


def is_module_hash(text: object) -> bool:
    """True for a 32-character lower-case hex string (the form of NB101 arch ids)."""
    return isinstance(text, str) and bool(_HASH_RE.match(text))


def parse_cell_str(text: str) -> Cell:
    """Parse ``Cell.to_str()`` output (or a JSON ``{"matrix": ..., "ops": ...}``) into a cell."""
    s = text.strip()
    if s.startswith("{"):
        try:
            obj = json.loads(s)
            return make_cell(obj["matrix"], obj["ops"])
        except (json.JSONDecodeError, KeyError, TypeError):
            raise CellError(f'malformed NB101 cell JSON {text!r}; expected {{"matrix": [[...]], "ops": [...]}}') from None
    rows, sep, ops = s.partition("|")
    if not sep or not re.fullmatch(r"[01]+(\.[01]+)+", rows):
        raise CellError(
            f"malformed NB101 cell string {text!r}; expected rows of 0/1 joined by '.', '|', interior ops "
            "joined by ',', e.g. 011.001.000|conv3x3-bn-relu"
        )
    matrix = [[int(c) for c in r] for r in rows.split(".")]
    if any(len(r) != len(matrix) for r in matrix):
        raise CellError(f"malformed NB101 cell string {text!r}: the matrix is not square")
    return make_cell(matrix, [o for o in ops.split(",") if o] if ops else [])


def as_cell(arch: Any) -> Cell:
    """Accept a Cell, a ``(matrix, ops)`` pair, a ``{"matrix", "ops"}`` dict, or a cell string."""
    if isinstance(arch, Cell):
        return arch
    if isinstance(arch, str):
        if is_module_hash(arch.strip()):
            raise CellError(f"{arch!r} is an NB101 module hash; resolve it with spaces.nb101.enumerate.cell_for_hash")
        return parse_cell_str(arch)
    if isinstance(arch, dict):
        if "matrix" not in arch or "ops" not in arch:
            raise CellError("an NB101 cell dict needs keys 'matrix' and 'ops'")
        return make_cell(arch["matrix"], arch["ops"])
    if isinstance(arch, (tuple, list)) and len(arch) == 2:
        return make_cell(arch[0], arch[1])
    raise CellError(f"cannot read an NB101 cell from {type(arch).__name__}; give a Cell, (matrix, ops) or a cell string")


def from_naslib_tuple(key: Sequence[int]) -> Cell:
    """A cell from NASLib's 56-tuple: 7x7 matrix row-major, then 7 op codes (0 in, 1 out, 2 pool, 3 1x1, 4 3x3)."""
    codes = {0: INPUT, 1: OUTPUT, 2: "maxpool3x3", 3: "conv1x1-bn-relu", 4: "conv3x3-bn-relu"}
    k = [int(x) for x in key]
    if len(k) != 56 or any(c not in codes for c in k[49:]):
        raise CellError(f"NASLib NB101 key must be 49 matrix entries then 7 op codes in 0..4, got {len(k)} values")
    return make_cell(np.array(k[:49]).reshape(7, 7), [codes[c] for c in k[49:]])


PAD_LABEL = -3


def from_padded(matrix: Any, codes: Sequence[int]) -> Cell:
    """A cell from a 7x7 matrix padded after the output, with op codes where -3 marks padding.

    Exports of the benchmark (e.g. the shared ``nb101-1k-curves.json``) store smaller cells this way.
    """
    c = [int(x) for x in codes]
    v = len(c)
    while v > 2 and c[v - 1] == PAD_LABEL:
        v -= 1
    if PAD_LABEL in c[:v]:
        raise CellError(f"NB101 padded cell has padding (-3) before its output vertex: {c}")
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] < v or m.shape[1] < v:
        raise CellError(f"NB101 padded matrix of shape {m.shape} is too small for {v} vertices")
    if np.any(m[v:, :] != 0) or np.any(m[:, v:] != 0):
        raise CellError("NB101 padded matrix has edges to or from padding vertices")
    return make_cell(m[:v, :v], c[:v])
