"""The NB201 space as the harness sees it: sampling, enumeration, ids, isomorphism, supernet."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import numpy as np

from harness.api import space as api
from harness.api.errors import WsbenchError
from spaces.nb201 import encoding

Arch = encoding.Arch


class NB201Space(api.Space):
    """NAS-Bench-201 / NATS-Bench topology space (15,625 cells, 6 edges x 5 ops)."""

    name = "nb201"
    version = 1
    capabilities = frozenset(
        {
            api.ENUMERABLE,
            api.ISOMORPHISM,
            api.GRID,
            api.MIXED_FORWARD,
            api.HAS_BN,
            api.HAS_FLOPS,
            api.STANDALONE,
            api.PER_POSITION,
            api.MASKED_FORWARD,
        }
    )
    default_task = "cifar10"
    network_defaults = {"C": 16, "N": 5}
    #: Network keys that say how cell ops are built and run (``spaces.nb201.ops.CellSettings``), with
    #: the official network's values. A resolved config holds one only where it differs from this
    #: default, so configs (and cell hashes) written before these keys existed are unchanged.
    cell_defaults: dict[str, bool] = {"cell_bn_affine": True, "cell_bn_track": True, "cell_dead_ops": False}
    smoke_network = {"C": 4, "N": 1}
    smoke_protocol = "nb201-smoke"
    num_archs = encoding.NUM_ARCHS
    num_edges = encoding.NUM_EDGES
    num_ops = len(encoding.OPS)
    #: Ground truths a run scores against by default, as (source, dataset, split, metric, seed_reduction).
    default_ground_truths = (
        ("analog", "cifar10", "test", "accuracy", "as-published"),
        ("csv", "cifar10", "test", "accuracy", "mean"),
    )

    def choices(self) -> tuple[api.Choice, ...]:
        """One choice per edge ``j->i`` (the official edge order), each over the five ops."""
        return tuple(api.Choice(f"edge {i}<-{j}", encoding.OPS) for i, j in encoding.EDGES)

    def sample(self, rng: np.random.Generator) -> Arch:
        """One cell uniformly over the 15,625 strings."""
        return tuple(int(x) for x in rng.integers(0, len(encoding.OPS), size=encoding.NUM_EDGES))  # type: ignore[return-value]

    def all_archs(self) -> list[Arch]:
        """All cells in lexicographic tuple order."""
        return list(encoding.enumerate_archs())

    def arch_id(self, arch: Arch | str) -> str:
        """The official arch string, which ground-truth tables are keyed by."""
        return encoding.to_arch_str(encoding.as_arch(arch))

    def parse(self, arch: Arch | str) -> Arch:
        """Accept an official string or a 6-tuple; malformed input is a one-line error."""
        return encoding.as_arch(arch)

    def format(self, arch: Arch | str) -> str:
        """The official ``|op~0|+|op~0|op~1|+...`` string."""
        return self.arch_id(arch)

    def key_formats(self) -> dict[str, api.KeyFormat]:
        """Official strings, xautodl genotype lists, NASLib's and wsbench's 6-tuples (``spaces.nb201.keys``)."""
        from spaces.nb201 import keys

        return {
            "official": api.KeyFormat("the official |op~0|+|op~0|op~1|+... arch string", keys.from_official),
            "genotype": api.KeyFormat("str() of an xautodl genotype list of (op, input) pairs per node", keys.from_genotype),
            "naslib": api.KeyFormat("NASLib / analog-nasbench 6-tuple (edges 0-1,0-2,0-3,1-2,1-3,2-3; 0 skip, 1 none, ...)",
                                    keys.from_naslib, auto=False),
            "tuple": api.KeyFormat("wsbench's 6-tuple (official edge order, none/skip/1x1/3x3/avg = 0..4)", keys.from_tuple,
                                   auto=False),
        }  # fmt: skip

    def decode_key(self, key: Any, key_format: str = "auto") -> Arch:
        """As ``Space.decode_key``; a 6-integer key without a named format is refused (two conventions exist)."""
        if key_format == "auto":
            from spaces.nb201.keys import refuse_ambiguous

            refuse_ambiguous(key)
        return super().decode_key(key, key_format)

    def isomorphism_classes(self) -> list[list[Arch]]:
        """Cells grouped by canonical form; classes ordered by their smallest member."""
        return [list(c) for c in _classes()]

    def unique_representatives(self) -> list[Arch]:
        """One cell per isomorphism class: its smallest member in lexicographic order."""
        return [c[0] for c in _classes()]

    def network_config(self, config: Mapping[str, Any], where: str = "network") -> dict[str, Any]:
        """C and N as the base checks them (positive integers), plus the boolean cell keys, each kept only when set
        to a value other than its default (``cell_defaults``)."""
        unknown_keys = sorted(set(config) - set(self.network_defaults) - set(self.cell_defaults))
        if unknown_keys:
            raise WsbenchError(
                f"{where}: unknown key(s) {', '.join(unknown_keys)} for space {self.name!r}; "
                f"known: {', '.join([*self.network_defaults, *self.cell_defaults])}"
            )
        out = super().network_config({k: v for k, v in config.items() if k in self.network_defaults}, where)
        for key, default in self.cell_defaults.items():
            value = config.get(key, default)
            if not isinstance(value, bool):
                raise WsbenchError(f"{where}.{key}: must be true or false for space {self.name!r}, got {value!r}")
            if value != default:
                out[key] = value
        return out

    def build_supernet(self, network: Mapping[str, Any], task: api.TaskSpec, seed: int) -> Any:
        """The weight-sharing supernet of the standard NB201 network, initialised from ``seed``."""
        from spaces.nb201.supernet import NB201Supernet

        net = self.network_config(network)
        return NB201Supernet(C=net["C"], N=net["N"], num_classes=task.outputs, seed=seed, cell=_cell_settings(net))

    def build_network(self, arch: Arch | str, C: int = 16, N: int = 5, num_classes: int = 10, seed: int = 0, **cell: bool) -> Any:
        """The stand-alone network of one cell, initialised from ``seed``; ``cell``: the cell keys of ``cell_defaults``."""
        from spaces.nb201.supernet import NB201Network

        settings = _cell_settings(self.network_config(cell, where="build_network"))
        return NB201Network(encoding.as_arch(arch), C, N, num_classes, seed=seed, cell=settings)

    def cost(self, arch: Arch | str, **network: Any) -> Any:
        """FLOPs and parameters of the official stand-alone network of a cell (``network``: C, N, num_classes;
        defaults 16, 5, 10). The cell keys do not change it: costs are the benchmark's, whatever the supernet's BN."""
        from spaces.nb201.cost import arch_cost

        return arch_cost(encoding.as_arch(arch), **{k: v for k, v in network.items() if k not in self.cell_defaults})

    def describe_arch(self, arch: Arch | str) -> dict[str, Any]:
        """Human-readable facts about one cell (for ``wsbench arch``)."""
        from spaces.nb201.isomorphism import canonical, representative
        from spaces.nb201.official_order import official_index

        a = encoding.as_arch(arch)
        cost = self.cost(a)
        return {
            "arch string": self.arch_id(a),
            "tuple": a,
            "official index": official_index(a),
            "isomorphism class": canonical(a),
            "class representative": self.arch_id(representative(a)),
            "params (M, C=16 N=5)": round(cost.params_m, 6),
            "FLOPs (M, C=16 N=5)": round(cost.flops_m, 6),
        }


def _cell_settings(net: Mapping[str, Any]) -> Any:
    """The ``CellSettings`` a resolved network config names (defaults where a key is absent)."""
    from spaces.nb201.ops import CellSettings

    d = NB201Space.cell_defaults
    return CellSettings(
        bn_affine=net.get("cell_bn_affine", d["cell_bn_affine"]),
        bn_track=net.get("cell_bn_track", d["cell_bn_track"]),
        dead_ops=net.get("cell_dead_ops", d["cell_dead_ops"]),
    )


@lru_cache(maxsize=1)
def _classes() -> tuple[tuple[Arch, ...], ...]:
    from spaces.nb201.isomorphism import canonical

    groups: dict[str, list[Arch]] = {}
    for arch in encoding.enumerate_archs():
        groups.setdefault(canonical(arch), []).append(arch)
    return tuple(sorted((tuple(g) for g in groups.values()), key=lambda g: encoding.lex_index(g[0])))


SPACE = NB201Space()
