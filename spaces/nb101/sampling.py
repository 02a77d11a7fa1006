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
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

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
        """Uniform over the sub-space's configurations (parent sets and ops per block)."""
        parents = [choices[int(rng.integers(len(choices)))] for choices in self.parent_choices()]
        ops = [OPS[int(i)] for i in rng.integers(0, len(OPS), size=self.num_blocks)]
        return self.cell(parents, ops)

    def configurations(self) -> Iterator[Cell]:
        """Every configuration (with loose ends and isomorphic duplicates)."""
        for parents in itertools.product(*self.parent_choices()):
            for ops in itertools.product(OPS, repeat=self.num_blocks):
                yield self.cell(list(parents), list(ops))

    def enumerate_unique(self) -> dict[str, Cell]:
        """Module hash -> first configuration with that hash (ops of pruned blocks tried once only)."""
        out: dict[str, Cell] = {}
        for parents in itertools.product(*self.parent_choices()):
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


ONESHOT1_SPACES: dict[str, OneShot1Space] = {
    "1shot1-s1": OneShot1Space(1, (1, 2, 2, 2), 2),
    "1shot1-s2": OneShot1Space(2, (1, 1, 2, 2), 3),
    "1shot1-s3": OneShot1Space(3, (1, 1, 1, 2, 2), 2),
}


def oneshot1_space(name: str) -> OneShot1Space:
    """A 1Shot1 sub-space by name (``1shot1-s1`` .. ``1shot1-s3``)."""
    if name not in ONESHOT1_SPACES:
        raise unknown("NAS-Bench-1Shot1 sub-space", name, ONESHOT1_SPACES)
    return ONESHOT1_SPACES[name]
