"""The DARTS CIFAR-10 cell space as the harness sees it: a grid of 24 choices, freely combinable."""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import Any, ClassVar

from harness.api import space as api
from harness.api.errors import WsbenchError, did_you_mean
from harness.seeded_init import build_seeded
from spaces.darts import encoding, options
from spaces.grid import Grid, GridSpace

_SEEDPAPER = ("seedpaper", "cifar10", "test", "accuracy")


class DartsSpace(GridSpace):
    """DARTS (Liu et al., ICLR 2019) as the seed paper uses it: 7 ops, normal + reduction cell.

    An architecture is 24 option indices: per cell (normal, reduce) and node (2-5), the op on the
    node's lower input, the op on its higher input, and the (unordered, distinct) input pair -- so
    every index tuple is a valid architecture and per-choice strategies (FairNAS, MdeNAS, few-shot,
    grouping) apply. Choice 0 is the op of the normal cell's candidate edge 0 -> node 2 (node 2
    always reads states 0 and 1), so ``fewshot`` with ``edge=0`` splits on one candidate edge into
    7 sub-supernets. The mixed forward (DARTS, GDAS) weighs all 2 x 14 candidate edges x 8 ops
    (``none`` included) and ``derive`` keeps DARTS's two strongest edges per node.

    The space has 1,076,746,950,455,072,400 architectures (~1.1e18: per cell prod_k C(k,2) 7^2 =
    1.04e9, squared). The network config is ``C`` and ``layers`` (defaults: the seed paper's
    supernet and ground-truth network, 20 cells, C=36; DARTS's search network is 8 cells, C=16),
    optionally ``drop_path`` (a probability) for supernet training, and the supernet options that make
    it the seed paper's (``spaces.darts.options``: slot sharing, auxiliary head, pooling, drop-path
    ramp, drop-path in recalibration, paths on slices of the batch).
    """

    name = "darts"
    version = 1
    capabilities = frozenset({api.GRID, api.MIXED_FORWARD, api.HAS_BN, api.HAS_FLOPS, api.STANDALONE, api.GROUND_TRUTH_ARCHS})
    default_task = "cifar10"
    network_defaults = {"C": 36, "layers": 20}
    smoke_network = {"C": 4, "layers": 3}
    smoke_protocol = "darts-smoke"
    #: Zero-cost proxies (synflow, jacob_cov) build DARTS's search network: the 20-cell C=36 one costs
    #: ~22 s per jacob_cov on one CPU core (8 cells, C=16: ~2.5 s).
    proxy_network = {"C": 16, "layers": 8}
    num_archs = encoding.space_size()
    default_ground_truths = (
        ("seedpaper", "cifar10", "test", "accuracy", "seed:42"),
        ("seedpaper", "cifar10", "test", "accuracy", "mean-of-seeds"),
        ("seedpaper", "cifar10", "test", "accuracy", "seed:43"),  # the independent run: the ceiling for seed 42
    )
    codec: ClassVar[ModuleType] = encoding
    arch_noun = "DARTS architecture"
    title = "DARTS"
    #: Archset pools: every seed-42 architecture, or only the 101 trained with both seeds.
    pools = {"seedpaper": (*_SEEDPAPER, "seed:42"), "seedpaper:both-seeds": (*_SEEDPAPER, "mean-of-seeds")}

    def choices(self) -> tuple[api.Choice, ...]:
        """Per cell and node: op on the lower input, op on the higher input, input pair."""
        out = []
        for cell in encoding.CELLS:
            for k in encoding.NODES:
                out.append(api.Choice(f"{cell} node {k}: op on lower input", encoding.OPS))
                out.append(api.Choice(f"{cell} node {k}: op on higher input", encoding.OPS))
                pairs = tuple(f"{i}+{j}" for i, j in encoding.PAIRS[k])
                out.append(api.Choice(f"{cell} node {k}: inputs", pairs, kind="inputs"))
        return tuple(out)

    def network_config(self, config: Mapping[str, Any], where: str = "network") -> dict[str, Any]:
        """``C`` and ``layers`` (positive integers), an optional ``drop_path`` probability in [0, 1), and the
        supernet options of ``spaces.darts.options`` (each kept only when it differs from its default)."""
        known = (*self.network_defaults, *options.NAMES)
        for key in config:
            if key not in known:
                raise WsbenchError(
                    f"{where}: unknown key {key!r} for space {self.name!r}{did_you_mean(str(key), known)}; known: {', '.join(known)}"
                )
        out, extra = self.network_options(config, where, options.NAMES)
        drop = 0.0
        if extra.get("drop_path") is not None:
            drop = self.probability(extra["drop_path"], where, "drop_path")
            if drop:  # no drop-path stays out of the config, so cells keep their hash
                out["drop_path"] = drop
        extra.pop("drop_path", None)
        out.update(options.checked(extra, drop, where))
        return out

    def build_supernet(self, network: Mapping[str, Any], task: api.TaskSpec, seed: int) -> Any:
        """The weight-sharing supernet (edge- or slot-shared ops, see ``spaces.darts.options``), initialised from ``seed``."""
        from spaces.darts.supernet import DartsSupernet

        net = self.network_config(network)
        extra = {k: v for k, v in net.items() if k in options.NAMES and k != "drop_path"}
        return DartsSupernet(net["C"], net["layers"], task.outputs, net.get("drop_path", 0.0), seed=seed, **extra)

    def build_network(self, arch: Any, C: int = 36, layers: int = 20, num_classes: int = 10, seed: int = 0, **_: Any) -> Any:
        """The stand-alone evaluation network of one architecture (no auxiliary head), initialised from ``seed``."""
        from spaces.darts.network import DartsNetwork

        cells = encoding.from_grid(self.parse(arch))
        return build_seeded(lambda: DartsNetwork(cells, C=C, layers=layers, num_classes=num_classes), seed)

    def cost(self, arch: Any, C: int = 36, layers: int = 20, num_classes: int = 10, **_: Any) -> Any:
        """Parameters and seed-paper FLOPs of the evaluation network (closed form; equal to the paper's columns)."""
        from spaces.darts.cost import arch_cost

        return arch_cost(encoding.from_grid(self.parse(arch)), C=C, layers=layers, num_classes=num_classes)

    def mixed_shape(self) -> tuple[int, int]:
        """[2 x 14 candidate edges, 8 ops (``none`` first)]: DARTS's relaxation of both cells."""
        from spaces.darts.supernet import MIXED_SHAPE

        return MIXED_SHAPE

    def derive(self, weights: Any) -> Grid:
        """DARTS's discretisation: per node the two strongest incoming edges, each with its strongest non-``none`` op."""
        from spaces.darts.supernet import derive

        return encoding.to_grid(derive(weights))

    def describe_arch(self, arch: Any) -> dict[str, Any]:
        """Facts about one architecture (for ``wsbench arch``)."""
        g = self.parse(arch)
        cost = self.cost(g)
        return {
            "arch id": self.arch_id(g),
            "genotype": self.format(g),
            "grid": g,
            "params (M, 20 cells C=36)": round(cost.params_m, 6),
            "FLOPs (M, 20 cells C=36, seed-paper convention)": round(cost.flops_m, 6),
        }


SPACE = DartsSpace()
