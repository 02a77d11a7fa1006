"""The ProxylessNAS space as the harness sees it: a grid of 21 layer choices, freely combinable."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.api import space as api
from harness.api.errors import WsbenchError
from harness.seeded_init import build_seeded, global_rng_forked
from spaces.grid import GridSpace
from spaces.proxyless import encoding

#: torch's BatchNorm epsilon (``spaces.proxyless.network.BN_EPS``), what wsbench has always built.
BN_EPS = 1e-5


class ProxylessSpace(GridSpace):
    """ProxylessNAS's MobileNetV2-like space (Cai et al., ICLR 2019) as the seed paper samples it.

    21 layers; each stage's first layer picks one of 6 MBConv blocks, the other 15 also ``zero``
    (skipped through the identity shortcut), so every index tuple is valid and per-choice strategies
    apply: 6^6 x 7^15 = 221,502,229,807,900,608 (~2.2e17) architectures. ``sample`` draws each layer
    uniformly among its own options (uniform over the space). The network config is ``width_pct``
    (the width multiplier in percent; 135 is the ground truth's) and ``resolution`` (the input
    side FLOPs are counted at; the networks themselves take any size), and the supernet's
    ``dropout_pct`` before the classifier. No mixed forward: the zero option exists only where a
    shortcut does, so the relaxation is not one [layers, ops] grid.
    """

    name = "proxyless"
    version = 1
    capabilities = frozenset({api.GRID, api.HAS_BN, api.HAS_FLOPS, api.STANDALONE, api.GROUND_TRUTH_ARCHS, api.MASKED_FORWARD})
    default_task = "imagenet"
    default_ground_truths = (
        ("seedpaper", "imagenet", "val", "top1", "as-published"),
        ("seedpaper", "imagenet", "val", "top5", "as-published"),
    )
    network_defaults = {"width_pct": 135, "resolution": 224}
    smoke_network = {"width_pct": 10, "resolution": 32}
    smoke_protocol = "proxyless-smoke"
    num_archs = encoding.space_size()
    title = "ProxylessNAS"
    #: Archset pool: the seed paper's 36 architectures.
    pools = {"seedpaper": ("seedpaper", "imagenet", "val", "top1", "as-published")}

    def choices(self) -> tuple[api.Choice, ...]:
        """One choice per layer: its MBConv options, plus zero where a shortcut exists."""
        return tuple(api.Choice(key, encoding.OPS[: encoding.options_at(i)]) for i, key in enumerate(encoding.KEYS))

    def parse(self, arch: Any) -> encoding.Arch:
        """An id (``"4063-3642-4614-5656-1550-3"``), the seed paper's JSON (dict or text) or 21 indices."""
        return encoding.as_arch(arch)

    def arch_id(self, arch: Any) -> str:
        """The per-stage digit groups ground-truth tables are keyed by."""
        return encoding.arch_id(self.parse(arch))

    def format(self, arch: Any) -> str:
        """The seed paper's JSON form."""
        return encoding.to_json(self.parse(arch))

    def network_config(self, config: Mapping[str, Any], where: str = "network") -> dict[str, Any]:
        """``width_pct`` and ``resolution`` (positive integers); an optional ``dropout_pct`` in 0..99, ``bn_eps``
        (a positive number, torch's 1e-5 unless set) and ``init`` (``torch``, ``he_fout``, ``he_fin``), each kept
        only when it differs from its default, so older configs and cell hashes are unchanged."""
        out, extra = self.network_options(config, where, ("dropout_pct", "bn_eps", "init"))
        out.update(_weight_keys(extra, where))
        dropout = extra.get("dropout_pct")
        if dropout is not None:
            if isinstance(dropout, bool) or not isinstance(dropout, int) or not 0 <= dropout < 100:
                raise WsbenchError(
                    f"{where}.dropout_pct: must be an integer percentage in 0..99 for space 'proxyless', got {dropout!r}"
                )
            if dropout:
                out["dropout_pct"] = dropout
        return out

    def build_supernet(self, network: Mapping[str, Any], task: api.TaskSpec, seed: int) -> Any:
        """Every layer's six MBConv blocks with their own weights, initialised from ``seed``."""
        from spaces.proxyless.network import ProxylessSupernet

        net = self.network_config(network)
        eps, init = net.get("bn_eps", BN_EPS), net.get("init", "torch")
        return ProxylessSupernet(net["width_pct"], task.outputs, net.get("dropout_pct", 0) / 100, seed=seed, eps=eps, init=init)

    def build_network(
        self, arch: Any, width_pct: int = 135, num_classes: int = 1000, seed: int = 0, bn_eps: float = BN_EPS,
        init: str = "torch", **_: Any,
    ) -> Any:  # fmt: skip
        """The stand-alone network of one architecture, initialised from ``seed`` (``bn_eps``, ``init``: network keys)."""
        from spaces.proxyless.network import ProxylessNetwork, initialise

        layers = self.parse(arch)
        if init == "torch":  # as it always was built
            return build_seeded(lambda: ProxylessNetwork(layers, width_pct, num_classes, eps=bn_eps), seed)
        with global_rng_forked():
            net = ProxylessNetwork(layers, width_pct, num_classes, eps=bn_eps)
        initialise(net, seed, init)
        return net

    def cost(self, arch: Any, width_pct: int = 135, resolution: int = 224, num_classes: int = 1000, **_: Any) -> Any:
        """Parameters and FLOPs (closed form; the seed paper's columns at width 135, resolution 224)."""
        from spaces.proxyless.cost import arch_cost

        return arch_cost(self.parse(arch), width_pct, resolution, num_classes)

    def describe_arch(self, arch: Any) -> dict[str, Any]:
        """Facts about one architecture (for ``wsbench arch``)."""
        a = self.parse(arch)
        cost = self.cost(a)
        return {
            "arch id": self.arch_id(a),
            "seed-paper JSON": self.format(a),
            "layers": " ".join(encoding.OPS[v] for v in a),
            "params (M, width 1.35, 1000 classes)": round(cost.params_m, 6),
            "FLOPs (M MACs, width 1.35, 224 x 224)": round(cost.flops_m, 6),
        }


def _weight_keys(extra: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``bn_eps`` and ``init`` checked, kept where they differ from what wsbench always built."""
    from spaces.proxyless.network import INITS

    out: dict[str, Any] = {}
    eps = extra.get("bn_eps", BN_EPS)
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or eps <= 0:
        raise WsbenchError(f"{where}.bn_eps: must be a positive number for space 'proxyless', got {eps!r}")
    if eps != BN_EPS:
        out["bn_eps"] = float(eps)
    init = extra.get("init", "torch")
    if init not in INITS:
        raise WsbenchError(f"{where}.init: must be one of {', '.join(INITS)} for space 'proxyless', got {init!r}")
    if init != "torch":
        out["init"] = init
    return out


SPACE = ProxylessSpace()
