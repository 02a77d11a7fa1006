"""Sampling NB101 cells, and the NAS-Bench-1Shot1 sub-spaces 1-3 (Zela et al., ICLR 2020).

``sample_cell`` follows the benchmark's own random sampler: a 7x7 matrix with independent fair
0/1 entries above the diagonal and independent uniform interior ops, redrawn until the cell is
valid. That is uniform over valid *raw* 7-vertex specs, not over the 423,624 unique cells (cells
with many isomorphic / prunable spellings are more likely), exactly as the benchmark's sampler.

NAS-Bench-1Shot1 sub-spaces (as defined in the public code ``automl/nasbench-1shot1``,
``nasbench1shot1/core/search_spaces/search_space_{1,2,3}.py``): a chain of *choice blocks*; block i
takes exactly ``parents[i]`` inputs chosen among the earlier vertices (vertex 0 is the cell
input; block 1 always takes the input) and has one op among the three NB101 ops; the output
vertex takes ``parents[output]`` inputs. Parents per vertex (blocks 1.., then output):

* space 1: 4 blocks, (1, 2, 2, 2), output 2 -> 9 edges;
* space 2: 4 blocks, (1, 1, 2, 2), output 3 -> 9 edges;
* space 3: 5 blocks, (1, 1, 1, 2, 2), output 2 -> 9 edges.

Spaces 1 and 2 have only 6 vertices; like 1Shot1 we write them as 7-vertex NB101 specs by
inserting an unconnected dummy vertex (op ``conv1x1-bn-relu``) before the output, which pruning
removes. A block that does not reach the output ("loose end") is pruned too. Sampling draws each
block's parent set and op uniformly (1Shot1's configuration space, loose ends allowed).
``enumerate_unique`` lists the distinct module hashes a sub-space reaches; we could not check the
counts against the paper's table here (no access to it), so the tests only check consistency.

``nb1shot1c`` is space 3 as the seed paper of wsbench's tricks builds its archset
(matluster/anonymous-2102, ``tools/generate_nb101_splits.py``: ``num_parents = [0, 1, 1, 1, 2, 2,
2]``, ``ban_i2o=True``, ``ban_loose_ends=True``): the configurations of space 3 without an input ->
output edge and without loose ends (every vertex on an input -> output path), every op labelling:
395 adjacency matrices x 3^5 = 95,985 cells. Its supernet samples a training path uniformly from
that list (``Nb101Mutator.reset``), as ``sample`` does here (a kept parent-set choice, then the ops).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from harness.api.errors import unknown
from spaces.nb101.encoding import MAX_VERTICES, OPS, Cell, make_cell


def sample_cell(rng: np.random.Generator, max_tries: int = 10_000) -> Cell:
    """A valid cell drawn as the benchmark's random sampler does (rejection over raw 7x7 specs)."""
    for _ in range(max_tries):
        m = np.triu(rng.integers(0, 2, size=(MAX_VERTICES, MAX_VERTICES)), 1)
        ops = [OPS[i] for i in rng.integers(0, len(OPS), size=MAX_VERTICES - 2)]
        cell = make_cell(m, ops)
        if cell.is_valid():
            return cell
    raise RuntimeError(f"no valid NB101 cell in {max_tries} draws")  # probability ~0: a bug if seen


@dataclass(frozen=True)
class OneShot1Space:
    """One NAS-Bench-1Shot1 sub-space: parents per choice block and for the output."""

    number: int
    block_parents: tuple[int, ...]
    output_parents: int
    #: Keep only configurations whose every vertex lies on an input -> output path, and with no
    #: input -> output edge (the seed paper's nb1shot1c).
    strict: bool = False

    @property
    def num_blocks(self) -> int:
        """Number of choice blocks (intermediate vertices)."""
        return len(self.block_parents)

    def parent_choices(self) -> list[list[tuple[int, ...]]]:
        """For each block then the output, the possible parent sets (tuples of earlier vertices)."""
        needs = [*self.block_parents, self.output_parents]
        return [list(itertools.combinations(range(v), k)) for v, k in enumerate(needs, start=1)]

    def cell(self, parents: list[tuple[int, ...]], ops: list[str]) -> Cell:
        """The 7-vertex NB101 spec of one choice of parent sets (blocks, then output) and block ops."""
        n = self.num_blocks + 2
        m = np.zeros((n, n), dtype=np.int8)
        for v, ps in enumerate(parents, start=1):
            for p in ps:
                m[p, v] = 1
        ops = list(ops)
        if n < MAX_VERTICES:  # 1Shot1's dummy vertex, inserted before the output
            m = np.insert(np.insert(m, n - 1, 0, axis=1), n - 1, 0, axis=0)
            ops = ops + [OPS[1]]
        return make_cell(m, ops)

    def sample(self, rng: np.random.Generator) -> Cell:
        """Uniform over the sub-space's configurations: parent sets and ops per block independently; a
        strict space draws its parent sets from those it keeps (the same distribution as redrawing
        until a configuration is kept)."""
        if self.strict:
            kept = _kept_parents(self)
            parents = list(kept[int(rng.integers(len(kept)))])
        else:
            parents = [choices[int(rng.integers(len(choices)))] for choices in self.parent_choices()]
        ops = [OPS[int(i)] for i in rng.integers(0, len(OPS), size=self.num_blocks)]
        return self.cell(parents, ops)

    def keeps(self, parents: list[tuple[int, ...]]) -> bool:
        """Whether a choice of parent sets is in the sub-space (always, unless ``strict``)."""
        return not self.strict or _strict_keeps(self, tuple(parents))

    def configurations(self) -> Iterator[Cell]:
        """Every configuration (with loose ends unless strict, and isomorphic duplicates)."""
        for parents in itertools.product(*self.parent_choices()):
            if not self.keeps(list(parents)):
                continue
            for ops in itertools.product(OPS, repeat=self.num_blocks):
                yield self.cell(list(parents), list(ops))

    def enumerate_unique(self) -> dict[str, Cell]:
        """Module hash -> first configuration with that hash (ops of pruned blocks tried once only)."""
        out: dict[str, Cell] = {}
        for parents in itertools.product(*self.parent_choices()):
            if not self.keeps(list(parents)):
                continue
            base = self.cell(list(parents), [OPS[0]] * self.num_blocks)
            live = set(base.live_vertices())
            blocks = [b for b in range(1, self.num_blocks + 1) if b in live]
            for combo in itertools.product(OPS, repeat=len(blocks)):
                ops = [OPS[0]] * self.num_blocks
                for b, op in zip(blocks, combo):
                    ops[b - 1] = op
                cell = self.cell(list(parents), ops)
                out.setdefault(cell.module_hash, cell)
        return out


def _strict_keeps(space: OneShot1Space, parents: tuple[tuple[int, ...], ...]) -> bool:
    """No input -> output edge and no loose end."""
    if 0 in parents[-1]:
        return False
    blank = space.cell(list(parents), [OPS[0]] * space.num_blocks)
    return len(blank.live_vertices()) == blank.num_vertices


@lru_cache(maxsize=8)
def _kept_parents(space: OneShot1Space) -> tuple[tuple[tuple[int, ...], ...], ...]:
    """The parent-set choices a strict sub-space keeps, in ``itertools.product`` order (395 for nb1shot1c)."""
    return tuple(p for p in itertools.product(*space.parent_choices()) if _strict_keeps(space, p))


ONESHOT1_SPACES: dict[str, OneShot1Space] = {
    "1shot1-s1": OneShot1Space(1, (1, 2, 2, 2), 2),
    "1shot1-s2": OneShot1Space(2, (1, 1, 2, 2), 3),
    "1shot1-s3": OneShot1Space(3, (1, 1, 1, 2, 2), 2),
    "nb1shot1c": OneShot1Space(3, (1, 1, 1, 2, 2), 2, strict=True),
}


def oneshot1_space(name: str) -> OneShot1Space:
    """A 1Shot1 sub-space by name (``1shot1-s1`` .. ``1shot1-s3``, ``nb1shot1c``)."""
    if name not in ONESHOT1_SPACES:
        raise unknown("NAS-Bench-1Shot1 sub-space", name, ONESHOT1_SPACES)
    return ONESHOT1_SPACES[name]
