"""The NAS-Bench-101 space as the harness sees it."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, ClassVar

import numpy as np

from harness.api import space as api
from harness.api.errors import WsbenchError
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
    #: Network keys beside C and N, with the values wsbench has always built: the supernet's cell
    #: (``sum``: full-width vertices, summed output; ``seedpaper``: the seed paper's), BN momentum and
    #: epsilon, the init (``spaces.nb101.ops``). A resolved config holds one only where it differs
    #: from its default, so configs and cell hashes written before these keys existed are unchanged.
    option_defaults: dict[str, Any] = {"cell": "sum", "bn_momentum": 0.1, "bn_eps": 1e-5, "init": "torch"}
    smoke_network = {"C": 4, "N": 1}
    smoke_protocol = "nb101-smoke"
    num_archs = 423_624
    #: (source, dataset, split, metric, seed_reduction) scored by default.
    default_ground_truths: ClassVar[tuple[api.GTSpec, ...]] = (
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

    def network_config(self, config: Mapping[str, Any], where: str = "network") -> dict[str, Any]:
        """C and N (positive integers), and the keys of ``option_defaults``, each kept only when not its default."""
        out = super().network_config({k: v for k, v in config.items() if k not in self.option_defaults}, where)
        for key, default in self.option_defaults.items():
            value = _checked_option(key, config.get(key, default), where, self.name)
            if value != default:
                out[key] = value
        if out.get("cell") == "seedpaper" and out["C"] % 2:
            raise WsbenchError(
                f"{where}.C: must be even with cell 'seedpaper' (its output concatenates two halves), got {out['C']}"
            )
        return out

    def build_supernet(self, network: Mapping[str, Any], task: api.TaskSpec, seed: int) -> Any:
        """The weight-sharing supernet of the benchmark's network (stem C channels, 3 stacks of N cells)."""
        from spaces.nb101.supernet import NB101Supernet

        net = self.network_config(network)
        cell = net.get("cell", "sum")
        if cell == "seedpaper" and self.sub_space != "nb1shot1c":
            # Its paths would fail at the first step: this space samples cells the seed's cell cannot run.
            raise WsbenchError(
                f"network cell 'seedpaper' runs NAS-Bench-1Shot1-C cells only: use space 'nb101-1shot1c', not {self.name!r}"
            )
        return NB101Supernet(C=net["C"], N=net["N"], num_classes=task.outputs, seed=seed, cell=cell, settings=_settings(net))

    def build_network(self, arch: Any, C: int = 128, N: int = 3, num_classes: int = 10, seed: int = 0, **keys: Any) -> Any:
        """The stand-alone network of one cell (``spaces.nb101.network``), initialised from ``seed``; ``keys``: BN and
        init network keys (the supernet's ``cell`` does not apply). Not declared ``standalone``: see that module."""
        from spaces.nb101.network import NB101Network

        net = self.network_config({"C": C, "N": N, **keys}, where="build_network")
        return NB101Network(self.parse(arch), net["C"], net["N"], num_classes, seed=seed, settings=_settings(net))

    def cost(self, arch: Any, **network: Any) -> Any:
        """Trainable parameters of the cell's stand-alone network (the benchmark's counting rule; ``network``:
        C, N, num_classes; defaults 128, 3, 10)."""
        from spaces.nb101.cost import arch_cost

        return arch_cost(self.parse(arch), **{k: v for k, v in network.items() if k not in self.option_defaults})

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


def _checked_option(key: str, value: Any, where: str, space: str) -> Any:
    """One of ``option_defaults``'s keys checked: the cell and init by name, BN momentum in (0, 1], epsilon > 0."""
    from spaces.nb101.ops import INITS
    from spaces.nb101.supernet import CELLS

    names = {"cell": CELLS, "init": INITS}
    if key in names:
        if value not in names[key]:
            raise WsbenchError(f"{where}.{key}: must be one of {', '.join(names[key])} for space {space!r}, got {value!r}")
        return value
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
    if not ok or (key == "bn_momentum" and value > 1):
        rule = "a number in (0, 1]" if key == "bn_momentum" else "a positive number"
        raise WsbenchError(f"{where}.{key}: must be {rule} for space {space!r}, got {value!r}")
    return float(value)


def _settings(net: Mapping[str, Any]) -> Any:
    """The ops' settings a resolved network config names."""
    from spaces.nb101.ops import DEFAULT, NetworkSettings

    return NetworkSettings(
        bn_momentum=net.get("bn_momentum", DEFAULT.bn_momentum), bn_eps=net.get("bn_eps", DEFAULT.bn_eps),
        init=net.get("init", DEFAULT.init),
    )  # fmt: skip


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


class NB1Shot1CSpace(NB101Space):
    """NAS-Bench-1Shot1's third space as the seed paper trains its NB101 supernet (``nb1shot1c``).

    Cells are NB101 cells (same ids, ground truths, networks and network keys); paths are drawn
    uniformly from the 95,985 configurations of space 3 without loose ends or an input -> output
    edge (``spaces.nb101.sampling``), as the seed paper's mutator draws from its archset
    (matluster/anonymous-2102, ``space/nb101/mutator.py``, ``tools/generate_nb101_splits.py``). Its
    supernet cell (network key ``cell = "seedpaper"``) runs exactly these cells. Archset pools
    beside the NB101 ones: ``1shot1c`` (the first configuration of each of its 42,228 isomorphism
    classes: the seed paper's situation, whose ground truth covers every cell) and
    ``1shot1c/<source>`` (those a ground-truth source covers, e.g. ``1shot1c/hash20k``).
    """

    name = "nb101-1shot1c"
    version = 1
    #: The seed paper's ground truth (mean validation accuracy of the 3 runs at 108 epochs) first,
    #: where the official file is present; then the sources these machines hold.
    default_ground_truths: ClassVar[tuple[api.GTSpec, ...]] = (
        ("tfrecord", "cifar10", "valid", "accuracy@108", "mean"),
        *NB101Space.default_ground_truths,
    )
    num_archs = 95_985
    POOL = "1shot1c"

    def __init__(self) -> None:
        super().__init__(sub_space="nb1shot1c")

    def ground_truth_archs(self, source: str = "hash20k") -> list[Cell]:
        """NB101's pools, and the sub-space's: ``1shot1c`` (every class) and ``1shot1c/<source>``
        (the classes ``source``'s default table covers), each a class's first configuration, sorted by hash."""
        if source != self.POOL and not source.startswith(f"{self.POOL}/"):
            return super().ground_truth_archs(source)
        from spaces.nb101.enumerate import subspace_classes

        hashes, cells = subspace_classes("nb1shot1c")
        keep = None
        if source != self.POOL:
            keep = self._covered(source.partition("/")[2])
        chosen = sorted((h, c) for h, c in zip(hashes, cells) if keep is None or h in keep)
        return [c for _, c in chosen]

    def _covered(self, source: str) -> set[str]:
        """The module hashes the default table of ``source`` holds."""
        from harness.api.errors import unknown
        from harness.catalog import load_ground_truth

        queries = {q[0]: q for q in self.default_ground_truths}
        if source not in queries:
            raise unknown(f"ground-truth source of archset pool '{self.POOL}/...'", source, queries)
        return set(load_ground_truth(self.name, *queries[source]).arch_ids)


SPACE = NB101Space()
SPACE_1SHOT1C = NB1Shot1CSpace()
