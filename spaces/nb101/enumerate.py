"""Enumerate every unique NAS-Bench-101 cell (423,624) and map module hashes to cells.

The benchmark's generator visits, for V = 2..7, every V x V upper-triangular matrix (the bit
order of ``graph_util.gen_is_edge_fn``: edge x -> y is bit ``x + y(y-1)/2``), keeps "full" DAGs
(every vertex on an input -> output path) with <= 9 edges, tries every labelling of the interior
vertices, and keeps the first cell of each module hash. Doing that with one md5 hash per
labelled graph takes about an hour in Python, so we split it in two exact steps:

1. a vectorised Weisfeiler-Lehman colour refinement with 64-bit mixing in numpy. It follows the
   official hash step by step (start colour from (out-degree, in-degree, label), V rounds of
   "multiset of in-neighbour colours, multiset of out-neighbour colours, own colour"), so two
   graphs get the same fingerprint exactly when they get the same md5 hash, barring 64-bit
   collisions;
2. the official md5 hash of the first graph of each fingerprint class, in generation order.

A 64-bit collision would merge two classes and show up as fewer than 423,624 hashes; a step-1
bug that split a class would show up as duplicate md5 hashes. ``enumerate_space`` checks both.

The result is cached (``$WSBENCH_CACHE/nb101/``) as a compact npz: per cell its vertex count,
edge bits, labelling index and 16-byte hash (about 4 MB).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from harness.api.errors import CorruptDataError, WsbenchError
from harness.fileio import atomic_write_bytes
from harness.settings import cache_dir
from spaces.nb101.encoding import INPUT_LABEL, MAX_EDGES, MAX_VERTICES, OPS, OUTPUT_LABEL, Cell, hash_module, make_cell

#: Number of unique cells (distinct module hashes) the benchmark reports.
NUM_UNIQUE = 423_624
CACHE_NAME = "nb101-enumeration-v1.npz"


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a bijection on uint64 that scatters bits (arrays only, wraps mod 2^64)."""
    x = x.astype(np.uint64, copy=True)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def edge_bit_pairs(v: int) -> list[tuple[int, int]]:
    """(x, y) of bit i in the official bit order for V = v (bit index x + y(y-1)/2)."""
    return [(x, y) for y in range(v) for x in range(y)]


def full_dags(v: int) -> tuple[np.ndarray, np.ndarray]:
    """Edge bits and (n, v, v) uint8 matrices of all full DAGs on v vertices with <= 9 edges, in bit order."""
    pairs = edge_bit_pairs(v)
    bits = np.arange(1 << len(pairs), dtype=np.uint32)
    edges = np.zeros(bits.shape, dtype=np.uint8)
    for i in range(len(pairs)):
        edges += ((bits >> np.uint32(i)) & np.uint32(1)).astype(np.uint8)
    bits = bits[edges <= MAX_EDGES]
    mats = np.zeros((bits.size, v, v), dtype=np.uint8)
    for i, (x, y) in enumerate(pairs):
        mats[:, x, y] = (bits >> np.uint32(i)) & np.uint32(1)
    # Full DAG: every vertex but the output has an out-edge, every vertex but the input an in-edge.
    full = np.all(mats[:, :-1, :].any(axis=2), axis=1) & np.all(mats[:, :, 1:].any(axis=1), axis=1)
    return bits[full], mats[full]


def labellings(v: int) -> np.ndarray:
    """(3^(v-2), v) labels in ``itertools.product`` order, input -1 and output -2 at the ends."""
    combos = list(itertools.product(range(len(OPS)), repeat=v - 2))
    n = len(combos)
    inner = np.array(combos, dtype=np.int64).reshape(n, v - 2)
    return np.concatenate([np.full((n, 1), INPUT_LABEL), inner, np.full((n, 1), OUTPUT_LABEL)], axis=1)


def wl_fingerprints(mats: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(S, L) uint64 fingerprints of every (matrix, labelling) pair, refined like the official hash."""
    s, v, _ = mats.shape
    a = mats.astype(np.uint64)
    out_deg = mats.sum(axis=2).astype(np.int64)  # (S, v)
    in_deg = mats.sum(axis=1).astype(np.int64)
    code = (out_deg[:, None, :] * 16 + in_deg[:, None, :]) * 16 + (labels[None, :, :] + 3)  # (S, L, v), injective
    c = _mix(code.astype(np.uint64))
    k_in, k_out = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xD1B54A32D192ED03)
    for _ in range(v):
        m_in = _mix(c ^ k_in)
        m_out = _mix(c ^ k_out)
        s_in = np.zeros_like(c)
        s_out = np.zeros_like(c)
        for w in range(v):
            # Sum over neighbours of a mixed colour: a hash of the neighbour multiset.
            s_in += a[:, None, w, :] * m_in[:, :, w, None]
            s_out += a[:, None, :, w] * m_out[:, :, w, None]
        c = _mix(_mix(s_in) ^ (_mix(s_out + k_in) * np.uint64(3)) ^ (c * np.uint64(5) + k_out))
    return _mix(c ^ np.uint64(v)).sum(axis=2)


def _fast_hash(mat: np.ndarray, labels: np.ndarray) -> str:
    return hash_module(mat, [int(x) for x in labels])


@dataclass(frozen=True)
class Enumeration:
    """All unique cells in generation order: vertex count, edge bits, labelling index, md5 hash."""

    num_vertices: np.ndarray  # uint8
    bits: np.ndarray  # uint32
    labelling: np.ndarray  # uint16 (index into ``labellings(v)``)
    hashes: np.ndarray  # (n, 16) uint8
    seconds: float = 0.0

    def __len__(self) -> int:
        return int(self.bits.size)

    def hash_strings(self) -> list[str]:
        """The module hashes as 32-character hex strings, in enumeration order."""
        return [bytes(h).hex() for h in self.hashes]

    def cell(self, i: int) -> Cell:
        """The i-th unique cell (the first labelled graph of its hash in generation order)."""
        v = int(self.num_vertices[i])
        b = int(self.bits[i])
        m = np.zeros((v, v), dtype=np.int8)
        for k, (x, y) in enumerate(edge_bit_pairs(v)):
            m[x, y] = (b >> k) & 1
        lab = labellings(v)[int(self.labelling[i])]
        return make_cell(m, [int(x) for x in lab])


def enumerate_space(max_vertices: int = MAX_VERTICES, chunk: int = 512, progress: bool = False) -> Enumeration:
    """Enumerate the unique cells with up to ``max_vertices`` vertices (exact; see the module docstring)."""
    t0 = time.perf_counter()
    out_v, out_bits, out_lab, out_hash = [], [], [], []
    for v in range(2, max_vertices + 1):
        bits, mats = full_dags(v)
        labs = labellings(v)
        fps = np.concatenate([wl_fingerprints(mats[i : i + chunk], labs).ravel() for i in range(0, len(mats), chunk)])
        _, first = np.unique(fps, return_index=True)
        first.sort()  # generation order: matrix bits, then labelling
        s_idx, l_idx = np.divmod(first, labs.shape[0])
        hashes = [_fast_hash(mats[s], labs[lab]) for s, lab in zip(s_idx, l_idx)]
        if len(set(hashes)) != len(hashes):
            raise WsbenchError(f"NB101 enumeration: WL fingerprints split a hash class at V={v}; this is a bug")
        out_v.append(np.full(len(first), v, dtype=np.uint8))
        out_bits.append(bits[s_idx].astype(np.uint32))
        out_lab.append(l_idx.astype(np.uint16))
        out_hash.append(np.frombuffer(b"".join(bytes.fromhex(h) for h in hashes), dtype=np.uint8).reshape(-1, 16))
        if progress:
            print(
                f"V={v}: {len(mats)} full DAGs, {fps.size} labelled graphs, {len(first)} unique, {time.perf_counter() - t0:.1f}s"
            )
    return Enumeration(
        np.concatenate(out_v),
        np.concatenate(out_bits),
        np.concatenate(out_lab),
        np.concatenate(out_hash),
        seconds=time.perf_counter() - t0,
    )


def cache_path() -> Path:
    """Where the enumeration is cached."""
    return cache_dir() / "nb101" / CACHE_NAME


def save(enum: Enumeration, path: Path) -> None:
    """Write an enumeration as a compressed npz, atomically."""
    import io

    buf = io.BytesIO()
    np.savez_compressed(buf, num_vertices=enum.num_vertices, bits=enum.bits, labelling=enum.labelling, hashes=enum.hashes)
    atomic_write_bytes(path, buf.getvalue())


def load(path: Path) -> Enumeration:
    """Read a cached enumeration; a one-line error when it is damaged."""
    try:
        with np.load(path) as z:
            enum = Enumeration(z["num_vertices"], z["bits"], z["labelling"], z["hashes"])
    except (OSError, KeyError, ValueError, EOFError) as e:
        raise CorruptDataError(f"NB101 enumeration cache {path} is unreadable ({e}); delete it to rebuild") from None
    if len(enum) != NUM_UNIQUE or enum.hashes.shape != (NUM_UNIQUE, 16):
        raise CorruptDataError(f"NB101 enumeration cache {path} holds {len(enum)} cells, not {NUM_UNIQUE}; delete it to rebuild")
    return enum


@lru_cache(maxsize=1)
def full_enumeration() -> Enumeration:
    """All 423,624 unique cells: from the cache, else enumerated (a few minutes) and cached."""
    path = cache_path()
    if path.is_file():
        return load(path)
    enum = enumerate_space()
    if len(enum) != NUM_UNIQUE:
        raise WsbenchError(f"NB101 enumeration found {len(enum)} unique cells, expected {NUM_UNIQUE}; this is a bug")
    save(enum, path)
    return enum


@lru_cache(maxsize=1)
def hash_index() -> dict[str, int]:
    """Module hash -> position in ``full_enumeration()``."""
    return {h: i for i, h in enumerate(full_enumeration().hash_strings())}


def cell_for_hash(module_hash: str) -> Cell:
    """The cell of an official module hash (from the full enumeration); a one-line error if unknown."""
    i = hash_index().get(module_hash.strip().lower())
    if i is None:
        raise WsbenchError(f"{module_hash!r} is not the module hash of any NB101 cell")
    return full_enumeration().cell(i)


# ------------------------------------------------------------------ NAS-Bench-1Shot1 sub-spaces


def subspace_cache_path(name: str) -> Path:
    """Where the classes of one 1Shot1 sub-space are cached."""
    return cache_dir() / "nb101" / f"nb101-{name}-classes-v1.npz"


@lru_cache(maxsize=4)
def subspace_classes(name: str) -> tuple[tuple[str, ...], tuple[Cell, ...]]:
    """(module hashes, first configuration of each) of every isomorphism class a 1Shot1 sub-space reaches.

    Classes are in the order of their first configuration in ``OneShot1Space.configurations()``.
    Same two exact steps as ``enumerate_space`` (WL fingerprints of every configuration, then the
    official hash of each class's first one), cached on disk: nb1shot1c's 95,985 configurations hold
    42,228 classes (about 10 s to build).
    """
    from spaces.nb101.sampling import oneshot1_space

    space = oneshot1_space(name)
    if space.num_blocks + 2 != MAX_VERTICES:
        raise WsbenchError(f"1Shot1 sub-space {name!r} has a dummy vertex; its classes are not enumerated here")
    parents = [list(p) for p in itertools.product(*space.parent_choices()) if space.keeps(list(p))]
    mats = np.stack([space.cell(p, [OPS[0]] * space.num_blocks).array().astype(np.uint8) for p in parents])
    labs = labellings(MAX_VERTICES)
    path = subspace_cache_path(name)
    first, hashes = _load_subspace(path, len(parents) * len(labs)) if path.is_file() else (None, None)
    if first is None or hashes is None:
        fps = wl_fingerprints(mats, labs).ravel()  # configuration order: parent sets, then labellings
        _, first = np.unique(fps, return_index=True)
        first.sort()
        hashes = [_fast_hash(mats[i // len(labs)], labs[i % len(labs)]) for i in first]
        if len(set(hashes)) != len(hashes):
            raise WsbenchError(f"1Shot1 sub-space {name!r}: WL fingerprints split a hash class; this is a bug")
        _save_subspace(path, first, hashes)
    cells = tuple(make_cell(mats[i // len(labs)], [int(x) for x in labs[i % len(labs)]]) for i in first)
    return tuple(hashes), cells


def _save_subspace(path: Path, first: np.ndarray, hashes: list[str]) -> None:
    import io

    buf = io.BytesIO()
    raw = np.frombuffer(b"".join(bytes.fromhex(h) for h in hashes), dtype=np.uint8).reshape(-1, 16)
    np.savez_compressed(buf, first=first.astype(np.int64), hashes=raw)
    atomic_write_bytes(path, buf.getvalue())


def _load_subspace(path: Path, configurations: int) -> tuple[np.ndarray | None, list[str] | None]:
    """A cached class list, or (None, None) when it is damaged or does not fit (it is then rebuilt)."""
    try:
        with np.load(path) as z:
            first, raw = z["first"], z["hashes"]
    except (OSError, KeyError, ValueError, EOFError):
        return None, None
    if first.ndim != 1 or raw.shape != (first.size, 16) or (first.size and not 0 <= first.min() <= first.max() < configurations):
        return None, None
    return first, [bytes(h).hex() for h in raw]
