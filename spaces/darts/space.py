"""The DARTS CIFAR-10 cell space as the harness sees it: a grid of 24 choices, freely combinable."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from harness.api import space as api
from harness.api.errors import WsbenchError
from spaces.darts import encoding

Grid = tuple[int, ...]
#: Archset pools: every seed-42 architecture, or only the 101 trained with both seeds.
POOLS = ("seedpaper", "seedpaper:both-seeds")


class DartsSpace(api.Space):
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
    supernet and ground-truth network, 20 cells, C=36; DARTS's search network is 8 cells, C=16), and
    optionally ``drop_path`` (a probability) for supernet training.
    """

    name = "darts"
    version = 1
    capabilities = frozenset({api.GRID, api.MIXED_FORWARD, api.HAS_BN, api.HAS_FLOPS, api.STANDALONE, api.GROUND_TRUTH_ARCHS})
    default_task = "cifar10"
    network_defaults = {"C": 36, "layers": 20}
    smoke_network = {"C": 4, "layers": 3}
    #: Zero-cost proxies (synflow, jacob_cov) build DARTS's search network: the 20-cell C=36 one costs
    #: ~22 s per jacob_cov on one CPU core (8 cells, C=16: ~2.5 s).
    proxy_network = {"C": 16, "layers": 8}
    num_archs = encoding.space_size()
    default_ground_truths = (
        ("seedpaper", "cifar10", "test", "accuracy", "seed:42"),
        ("seedpaper", "cifar10", "test", "accuracy", "mean-of-seeds"),
        ("seedpaper", "cifar10", "test", "accuracy", "seed:43"),  # the independent run: the ceiling for seed 42
    )

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

    def sample(self, rng: np.random.Generator) -> Grid:
        """Uniform over the space: one uniform index per choice (the grid is a bijection)."""
        return tuple(int(v) for v in rng.integers(0, self.grid_shape()))

    def parse(self, arch: Any) -> Grid:
        """The grid tuple of a grid tuple, a nested (normal, reduce) form, the seed paper's JSON, Genotype text or arch id."""
        if isinstance(arch, (tuple, list, np.ndarray)) and len(arch) and all(isinstance(v, (int, np.integer)) for v in arch):
            return encoding.to_grid(encoding.from_grid(arch))
        if not isinstance(arch, (str, dict, tuple, list)):
            raise WsbenchError(f"not a DARTS architecture: {type(arch).__name__} {str(arch)[:60]!r}")
        try:
            return encoding.to_grid(encoding.parse(arch))
        except (TypeError, ValueError) as e:
            raise WsbenchError(f"not a DARTS architecture: {str(arch)[:60]!r} ({e})") from None

    def arch_id(self, arch: Any) -> str:
        """The canonical id (``normal:0~op,1~op|...;reduce:...``) ground-truth tables are keyed by."""
        return encoding.arch_id(encoding.from_grid(self.parse(arch)))

    def format(self, arch: Any) -> str:
        """The ``Genotype(...)`` text DARTS-family code prints."""
        return encoding.to_genotype(encoding.from_grid(self.parse(arch)))

    def network_config(self, config: Mapping[str, Any], where: str = "network") -> dict[str, Any]:
        """``C`` and ``layers`` (positive integers) and an optional ``drop_path`` probability in [0, 1)."""
        rest = dict(config)
        drop = rest.pop("drop_path", None)
        out = super().network_config(rest, where)
        if drop is not None:
            ok = isinstance(drop, (int, float)) and not isinstance(drop, bool) and math.isfinite(drop) and 0 <= drop < 1
            if not ok:
                raise WsbenchError(f"{where}.drop_path: must be a probability in [0, 1) for space 'darts', got {drop!r}")
            if drop:
                out["drop_path"] = float(drop)
        return out

    def build_supernet(self, network: Mapping[str, Any], task: api.TaskSpec, seed: int) -> Any:
        """The weight-sharing supernet (every candidate op of every candidate edge), initialised from ``seed``."""
        from spaces.darts.supernet import DartsSupernet

        net = self.network_config(network)
        return DartsSupernet(net["C"], net["layers"], task.outputs, net.get("drop_path", 0.0), seed=seed)

    def build_network(self, arch: Any, C: int = 36, layers: int = 20, num_classes: int = 10, seed: int = 0, **_: Any) -> Any:
        """The stand-alone evaluation network of one architecture (no auxiliary head), initialised from ``seed``."""
        import torch

        from spaces.darts.network import DartsNetwork
        from spaces.nb201.supernet import _init_parameters

        with torch.random.fork_rng(devices=[]):
            net = DartsNetwork(encoding.from_grid(self.parse(arch)), C=C, layers=layers, num_classes=num_classes)
        _init_parameters(net, seed)
        return net

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

    def ground_truth_archs(self, source: str = "seedpaper") -> list[Grid]:
        """The seed paper's architectures in id order: all 377 (``seedpaper``) or the 101 trained twice."""
        from harness.api.errors import unknown
        from spaces.darts.ground_truth import seed_table

        if source not in POOLS:
            raise unknown("DARTS ground-truth pool for an archset", source, POOLS)
        ids = set(seed_table(42)[0])
        if source == "seedpaper:both-seeds":
            ids &= set(seed_table(43)[0])
        return [self.parse(a) for a in sorted(ids)]

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
