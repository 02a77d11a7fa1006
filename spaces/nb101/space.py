"""The NAS-Bench-101 space as the harness sees it."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import numpy as np

from harness.api import space as api
from spaces.nb101 import encoding
from spaces.nb101.encoding import Cell

Arch = Cell


@lru_cache(maxsize=1)
def _stored_cells() -> dict[str, Cell]:
    """Module hash -> Cell of the ground-truth file that stores its cells (the 1k file), where it is present."""
    from spaces.nb101.ground_truth import Curves1kSource

    source = Curves1kSource()
    return source.cells() if source.available()[0] else {}


#: Cells whose module hash this process computed: their hash maps back without the enumeration.
_SEEN: dict[str, Cell] = {}
_SEEN_MAX = 200_000


def _remember(cell: Cell) -> str:
    """The cell's module hash, remembered (bounded) so parsing that hash later needs no enumeration."""
    h = cell.module_hash
    if len(_SEEN) < _SEEN_MAX:
        _SEEN.setdefault(h, cell)
    return h


def _cell_for_hash(module_hash: str) -> Cell:
    """The cell of a module hash: from the 1k file where it stores it (instant), else the full enumeration.

    A stored cell is used only when its own module hash is the one asked for, so a damaged file
    cannot hand back another cell.
    """
    cell = _SEEN.get(module_hash) or _stored_cells().get(module_hash)
    if cell is not None and cell.module_hash == module_hash:
        return cell
    from spaces.nb101.enumerate import cell_for_hash

    return cell_for_hash(module_hash)


class NB101Space(api.Space):
    """NAS-Bench-101: cells of <= 7 vertices and <= 9 edges, 3 ops; 423,624 unique cells.

    Arch ids are the official module hashes. ``all_archs`` / isomorphism classes are not offered
    (423k cells cannot be scored); archsets should draw from the ground-truth cells instead.
    ``sub_space`` restricts sampling to a NAS-Bench-1Shot1 sub-space (``1shot1-s1`` .. ``-s3``).
    """

    name = "nb101"
    version = 1
    # Not a GRID: a cell is an adjacency matrix plus ops under validity constraints (<= 9 edges,
    # connected), so per-choice strategies (FairNAS, MdeNAS, few-shot, DARTS) do not apply.
    capabilities = frozenset({api.HAS_BN, api.GROUND_TRUTH_ARCHS})
    default_task = "cifar10"
    network_defaults = {"C": 128, "N": 3}
    smoke_network = {"C": 4, "N": 1}
    smoke_protocol = "nb101-smoke"
    num_archs = 423_624
    #: (source, dataset, split, metric, seed_reduction) scored by default.
    default_ground_truths = (
        ("hash20k", "cifar10", "valid", "accuracy@108", "one-run"),
        ("naslib500", "cifar10", "valid", "accuracy@108", "mean-of-rows"),
    )

    def __init__(self, sub_space: str | None = None) -> None:
        self.sub_space = sub_space
        if sub_space is not None:
            from spaces.nb101.sampling import oneshot1_space

            oneshot1_space(sub_space)  # one-line error for an unknown name

    def choices(self) -> tuple[api.Choice, ...]:
        """The 21 upper-triangular edges (present or not) and the ops of the 5 inner vertices."""
        n = encoding.MAX_VERTICES
        edges = tuple(api.Choice(f"edge {i}->{j}", ("absent", "present")) for i in range(n) for j in range(i + 1, n))
        ops = tuple(api.Choice(f"op {v}", ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")) for v in range(1, n - 1))
        return edges + ops

    def sample(self, rng: np.random.Generator) -> Cell:
        """A valid cell: the benchmark's rejection sampler, or uniform over the 1Shot1 sub-space's configurations."""
        from spaces.nb101.sampling import oneshot1_space, sample_cell

        return oneshot1_space(self.sub_space).sample(rng) if self.sub_space else sample_cell(rng)

    def arch_id(self, arch: Any) -> str:
        """The official module hash (ground-truth tables are keyed by it); a hash is returned as is."""
        if isinstance(arch, str) and encoding.is_module_hash(arch.strip().lower()):
            return arch.strip().lower()
        return _remember(encoding.check_valid(self.parse(arch)))

    def parse(self, arch: Any) -> Cell:
        """A Cell from a Cell, (matrix, ops), a {matrix, ops} dict, a cell string, or a module hash."""
        if isinstance(arch, str) and encoding.is_module_hash(arch.strip().lower()):
            return _cell_for_hash(arch.strip().lower())
        return encoding.as_cell(arch)

    def format(self, arch: Any) -> str:
        """The cell string (matrix rows and ops); its id is the module hash."""
        return self.parse(arch).to_str()

    def key_formats(self) -> dict[str, api.KeyFormat]:
        """Module hashes, cell strings and JSON (``parse``), and NASLib's 56-tuples."""
        return {
            **super().key_formats(),
            "naslib": api.KeyFormat("NASLib 56-tuple: 7x7 adjacency row-major, then 7 op codes (0 in, 1 out, 2 pool, 3 1x1, 4 3x3)",
                                    _from_naslib_key),
        }  # fmt: skip

    def build_supernet(self, network: Mapping[str, Any], task: api.TaskSpec, seed: int) -> Any:
        """The weight-sharing supernet of the benchmark's network (stem C channels, 3 stacks of N cells)."""
        from spaces.nb101.supernet import NB101Supernet

        net = self.network_config(network)
        return NB101Supernet(C=net["C"], N=net["N"], num_classes=task.outputs, seed=seed)

    def cost(self, arch: Any, **network: Any) -> Any:
        """Trainable parameters of the cell's stand-alone network (the benchmark's counting rule; ``network``:
        C, N, num_classes; defaults 128, 3, 10)."""
        from spaces.nb101.cost import arch_cost

        return arch_cost(self.parse(arch), **network)

    def ground_truth_archs(self, source: str = "hash20k") -> list[Cell]:
        """The cells of one ground-truth source's default table, sorted by module hash (an archset pool).

        ``curves1k`` stores its cells; other sources map hashes through the full enumeration
        (built once, about 90 s, then cached).
        """
        from harness.api.errors import unknown
        from harness.catalog import load_ground_truth

        queries = {q[0]: q for q in self.default_ground_truths}
        queries.setdefault("curves1k", ("curves1k", "cifar10", "valid", "accuracy@108", "one-run"))
        if source not in queries:
            raise unknown("NB101 ground-truth source for an archset", source, queries)
        if source == "curves1k":
            from spaces.nb101.ground_truth import Curves1kSource

            cells = Curves1kSource().cells()
            return [cells[h] for h in sorted(cells)]
        table = load_ground_truth(self.name, *queries[source])
        return [self.parse(h) for h in sorted(table.arch_ids)]

    def describe(self) -> dict[str, Any]:
        """Name, version and sub-space for provenance."""
        return {"name": self.name, "version": self.version, "sub_space": self.sub_space}


def _from_naslib_key(key: Any) -> Any:
    """A NASLib 56-tuple given as text (``"(0, 1, ...)"``) or as a sequence."""
    import ast

    value = key
    if isinstance(key, str):
        try:
            value = ast.literal_eval(key.strip())
        except (ValueError, SyntaxError):
            raise encoding.CellError(f"{key[:60]!r} is not a NASLib 56-tuple") from None
    if not isinstance(value, (list, tuple)):
        raise encoding.CellError(f"{str(key)[:60]!r} is not a NASLib 56-tuple")
    return encoding.from_naslib_tuple(value)


SPACE = NB101Space()
