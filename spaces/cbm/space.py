"""The two Channel-Bench-Macro width spaces as the harness sees them: 7 layers x 4 widths, a grid."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from harness.api import space as api
from harness.api.errors import WsbenchError
from harness.seeded_init import build_seeded
from spaces.cbm import encoding

Arch = encoding.Arch


class CBMSpace(api.Space):
    """Channel-Bench-Macro (BCNet, Su et al. CVPR 2021): 16,384 width configurations of one backbone.

    Every configuration is its own network, so the isomorphism classes are the configurations
    themselves (declared so the ``sample`` archset can draw from them). The network config is
    ``width_pct`` (the maximum widths in percent: 100 = the benchmark's), and the supernet's
    channel-sharing ``rule`` (``left`` | ``bcnet`` | ``cafenet``, see ``spaces.cbm.sharing``) and ``bn``
    (``shared`` | ``switchable``). Width options are ordered smallest first (``ORDERED``).
    """

    version = 1
    capabilities = frozenset({api.ENUMERABLE, api.ISOMORPHISM, api.GRID, api.HAS_BN, api.HAS_FLOPS, api.STANDALONE, api.ORDERED})
    default_task = "cifar10"
    network_defaults = {"width_pct": 100}
    smoke_network = {"width_pct": 6}
    smoke_protocol = "cbm-smoke"
    #: Zero-cost proxies build the CPU profile's quarter-width networks (full width: seconds per jacob_cov on a CPU).
    proxy_network = {"width_pct": 25}
    num_archs = encoding.NUM_ARCHS
    default_ground_truths = (
        ("cbm", "cifar10", "test", "best-accuracy", "mean"),
        ("cbm", "cifar10", "test", "best-accuracy", "run:0"),
        ("cbm", "cifar10", "test", "best-accuracy", "run:1"),  # independent of run 0: its ceiling
    )

    def __init__(self, backbone: str) -> None:
        self.backbone = backbone
        self.name = f"cbm-{backbone}"  # type: ignore[misc]

    def choices(self) -> tuple[api.Choice, ...]:
        """One choice per searchable layer: its four widths (25, 50, 75, 100 % of the maximum)."""
        return tuple(
            api.Choice(f"layer {i}: {encoding.LAYER_NAMES[self.backbone][i]}", tuple(f"{d}/4 x {m}" for d in encoding.DIGITS))
            for i, m in enumerate(encoding.MAX_WIDTHS[self.backbone])
        )

    def sample(self, rng: np.random.Generator) -> Arch:
        """One configuration uniformly (one uniform width per layer)."""
        return tuple(int(v) for v in rng.integers(0, len(encoding.DIGITS), size=encoding.LAYERS))

    def parse(self, arch: Any) -> Arch:
        """A key (``"4432214"``) or a tuple of 7 indices in 0..3."""
        return encoding.as_arch(arch)

    def arch_id(self, arch: Any) -> str:
        """The benchmark's 7-digit key."""
        return encoding.to_key(self.parse(arch))

    def all_archs(self) -> list[Arch]:
        """All 16,384 configurations in key order."""
        return encoding.enumerate_archs()

    def isomorphism_classes(self) -> list[list[Arch]]:
        """Each configuration alone: no two width configurations are the same network."""
        return [[a] for a in encoding.enumerate_archs()]

    def unique_representatives(self) -> list[Arch]:
        """Every configuration."""
        return encoding.enumerate_archs()

    def network_config(self, config: Mapping[str, Any], where: str = "network") -> dict[str, Any]:
        """``width_pct`` (a positive integer); the supernet's ``rule`` and ``bn``; cafenet's ``offset`` and ``candidates``."""
        from spaces.cbm.sharing import DEFAULT_CANDIDATES, DEFAULT_OFFSET
        from spaces.cbm.supernet import BN_MODES, RULES

        rest = dict(config)
        extra = {key: rest.pop(key) for key in ("rule", "bn", "offset", "candidates") if key in rest}
        out = super().network_config(rest, where)
        for key, allowed, default in (("rule", RULES, "left"), ("bn", BN_MODES, "shared")):
            if key in extra:
                if extra[key] not in allowed:
                    raise WsbenchError(
                        f"{where}.{key}: must be one of {', '.join(allowed)} for space {self.name!r}, got {extra[key]!r}"
                    )
                if extra[key] != default:  # the default stays out, so cells keep their hash
                    out[key] = extra[key]
        for key, default_value, valid in (
            ("offset", DEFAULT_OFFSET, lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1),
            ("candidates", DEFAULT_CANDIDATES, lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1),
        ):
            if key not in extra:
                continue
            if out.get("rule") != "cafenet":
                raise WsbenchError(f'{where}.{key}: only the cafenet sharing rule takes it (set rule = "cafenet")')
            if not valid(extra[key]):
                raise WsbenchError(
                    f"{where}.{key}: must be {'a fraction in (0, 1]' if key == 'offset' else 'a positive integer'}, got {extra[key]!r}"
                )
            if extra[key] != default_value:
                out[key] = extra[key]
        return out

    def build_supernet(self, network: Mapping[str, Any], task: api.TaskSpec, seed: int) -> Any:
        """The maximum-width weight-sharing supernet, initialised from ``seed``."""
        from spaces.cbm.sharing import DEFAULT_CANDIDATES, DEFAULT_OFFSET
        from spaces.cbm.supernet import WidthSupernet

        net = self.network_config(network)
        return WidthSupernet(
            self.backbone,
            net["width_pct"] / 100,
            task.outputs,
            net.get("rule", "left"),
            net.get("bn", "shared"),
            seed=seed,
            offset=net.get("offset", DEFAULT_OFFSET),
            candidates=net.get("candidates", DEFAULT_CANDIDATES),
        )

    def build_network(self, arch: Any, width_pct: int = 100, num_classes: int = 10, seed: int = 0, **_: Any) -> Any:
        """The stand-alone network of one configuration, initialised from ``seed``."""
        from spaces.cbm.network import WidthNetwork

        widths = encoding.widths(self.parse(arch), self.backbone, width_pct / 100)
        return build_seeded(lambda: WidthNetwork(self.backbone, widths, num_classes), seed)

    def cost(self, arch: Any, width_pct: int = 100, num_classes: int = 10, **_: Any) -> Any:
        """Parameters and FLOPs (closed form; equal to the benchmark's columns at 100 %)."""
        from spaces.cbm.cost import arch_cost

        return arch_cost(self.parse(arch), self.backbone, width_pct / 100, num_classes)

    def describe(self) -> dict[str, Any]:
        """Name, version and backbone for provenance."""
        return {"name": self.name, "version": self.version, "backbone": self.backbone}


MOBILENET = CBMSpace("mobilenet")
RESNET = CBMSpace("resnet")
