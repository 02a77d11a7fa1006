"""The Space contract: what the engine, strategies and baselines may ask of a search space.

An architecture is made of named **choices**, each with its own options (NNI's search-space spec
idea), so an NB201 cell (6 edges x 5 ops), a width vector (7 layers x 4 widths) and a recurrent
cell (8 steps x activation and input) are all described the same way. A space declares what it
can do as **capabilities**; callers ask ``space.supports(...)`` / ``space.require(...)`` and never
the space's name, and an unsupported pair is refused with a one-line reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from harness.api.errors import WsbenchError

# -- capabilities ---------------------------------------------------------------------------------
#: Every architecture can be listed (``all_archs``).
ENUMERABLE = "enumerable"
#: Isomorphism classes are known (``isomorphism_classes`` / ``unique_representatives``).
ISOMORPHISM = "isomorphism"
#: Architectures are tuples of option indices, one per ``choices()`` entry, freely combinable:
#: strategies that act per choice (FairNAS, MdeNAS, few-shot splits, DARTS) need this.
GRID = "grid"
#: The supernet's forward accepts per-choice option weights (a [choices, options] tensor).
MIXED_FORWARD = "mixed_forward"
#: The networks have batch normalization (scoring recalibrates it).
HAS_BN = "has_bn"
#: ``cost(arch)`` has ``flops_m`` besides ``params_m``.
HAS_FLOPS = "has_flops"
#: ``build_network(arch, ...)`` builds a stand-alone network (zero-cost baselines need it).
STANDALONE = "standalone"
#: ``ground_truth_archs(source)`` lists the architectures a ground truth covers (an archset pool).
GROUND_TRUTH_ARCHS = "ground_truth_archs"

#: A GRID space whose every choice lists its options from the smallest network to the largest
#: (widths): the all-first-options path is the smallest, the all-last the largest (sandwich rule).
ORDERED = "ordered_options"

#: The supernet's forward also takes one architecture per cell position (a sequence of ``model.cell_positions``).
PER_POSITION = "per_position"

#: The supernet has a masked forward, whose shapes and kernel launches do not depend on the path:
#: ``path_mask(arch)`` (a 0/1 float tensor: 1 for each candidate op a forward of ``arch`` computes),
#: ``forward_masked(x, mask)`` (every candidate op computed and scaled by its mask entry: for
#: ``path_mask(arch)`` the function of ``forward(x, arch)``, off ops adding exact zeros) and
#: ``masked_members()`` (name -> flat mask index of each parameter and buffer of a candidate op; the
#: rest are on every path). The static step and stacked replicas (``harness.engine``) ask the model.
MASKED_FORWARD = "masked_forward"
#: The methods a supernet of a ``MASKED_FORWARD`` space has.
MASKED_METHODS = ("path_mask", "forward_masked", "masked_members")

CAPABILITIES = (
    ENUMERABLE,
    ISOMORPHISM,
    GRID,
    MIXED_FORWARD,
    HAS_BN,
    HAS_FLOPS,
    STANDALONE,
    GROUND_TRUTH_ARCHS,
    ORDERED,
    PER_POSITION,
    MASKED_FORWARD,
)

#: (source, dataset, split, metric, seed_reduction): one explicit ground-truth query.
GTSpec = tuple[str, str, str, str, str]


@dataclass(frozen=True)
class Choice:
    """One decision an architecture makes: a name and its options (e.g. an edge and its ops)."""

    name: str
    options: tuple[str, ...]
    #: What the choice selects: ``op`` (a candidate operation, with its own weights) or another kind
    #: (e.g. ``inputs``: which earlier states a node reads). FairNAS's fairness is over op choices.
    kind: str = "op"

    @property
    def size(self) -> int:
        """Number of options."""
        return len(self.options)


@dataclass(frozen=True)
class KeyFormat:
    """One way other code bases write an architecture key in their score files.

    ``auto`` formats are tried, in order, when a file does not name its format; a format whose
    keys look like another's (two 6-tuple conventions on NB201) is not ``auto`` and must be named.
    """

    description: str
    decode: Callable[[Any], Any]
    auto: bool = True


@dataclass(frozen=True)
class NetworkCost:
    """Parameters and FLOPs (multiply-accumulates) of one stand-alone network, as integers."""

    params: int
    flops: int

    @property
    def params_m(self) -> float:
        """Parameters in millions."""
        return self.params / 1e6

    @property
    def flops_m(self) -> float:
        """FLOPs in millions."""
        return self.flops / 1e6


@dataclass(frozen=True)
class TaskSpec:
    """What a network needs to know of its task: how many outputs (classes, vocabulary) it has."""

    outputs: int


class Space:
    """Base class of search spaces (registered in ``spaces.SPACES``).

    Required: ``choices``, ``sample``, ``parse``, ``arch_id``, ``cost``, ``build_supernet``.
    Optional, each behind its capability: ``all_archs`` (enumerable), ``isomorphism_classes``
    (isomorphism), ``build_network`` (standalone), ``ground_truth_archs`` (ground_truth_archs).
    """

    name: ClassVar[str]
    version: ClassVar[int]
    capabilities: ClassVar[frozenset[str]] = frozenset()
    #: The task a protocol of this space runs unless it names another (a ``harness.tasks`` name).
    default_task: ClassVar[str] = "cifar10"
    #: Ground truths a run scores against by default.
    default_ground_truths: ClassVar[tuple[GTSpec, ...]] = ()
    #: Network config keys and their defaults (the benchmark-scale network); ``network_config`` checks them.
    #: Positive integers, unless the space's ``network_config`` reads other numbers (PTB's dropouts).
    network_defaults: ClassVar[Mapping[str, int | float]] = {}
    #: The network zero-cost proxies build when none is named (empty: ``network_defaults``).
    proxy_network: ClassVar[Mapping[str, Any]] = {}
    #: The smallest sensible network config: contract tests and smoke runs train it.
    smoke_network: ClassVar[Mapping[str, int]] = {}
    #: The protocol (declared beside the space, in its folder) of the smallest cell that trains and
    #: ranks end to end: the contract tests run it, and it is a user's first run.
    smoke_protocol: ClassVar[str] = ""
    #: Number of architectures in the space (strings, before isomorphism).
    num_archs: int = 0

    # -- what every space provides --------------------------------------------------------------
    def choices(self) -> tuple[Choice, ...]:
        """The named choices an architecture is made of."""
        raise NotImplementedError

    def sample(self, rng: np.random.Generator) -> Any:
        """One valid architecture drawn with ``rng``."""
        raise NotImplementedError

    def parse(self, arch: Any) -> Any:
        """The internal form of an architecture given in any accepted form; bad input is a one-line error."""
        raise NotImplementedError

    def format(self, arch: Any) -> str:
        """The official text form of an architecture (by default its id)."""
        return self.arch_id(arch)

    def arch_id(self, arch: Any) -> str:
        """The canonical id ground-truth tables are keyed by."""
        raise NotImplementedError

    def key_formats(self) -> dict[str, KeyFormat]:
        """The key formats score files may use: ``id`` (anything ``parse`` reads) and the space's foreign ones."""
        return {"id": KeyFormat(f"what {self.name}'s parse() reads: its arch id or official form", self.parse)}

    def decode_key(self, key: Any, key_format: str = "auto") -> Any:
        """The internal architecture of a score file's key, in ``key_format`` or the first ``auto`` one that reads it."""
        formats = self.key_formats()
        if key_format != "auto":
            if key_format not in formats:
                from harness.api.errors import unknown

                raise unknown(f"key format of space {self.name!r}", key_format, ["auto", *formats])
            return formats[key_format].decode(key)
        tried = [name for name, f in formats.items() if f.auto]
        for name in tried:
            try:
                return formats[name].decode(key)
            except WsbenchError:
                continue
        raise WsbenchError(
            f"key {str(key)[:80]!r} is no {self.name} architecture in any automatic format ({', '.join(tried)}); "
            f"name the format with --key-format (known: {', '.join(formats)})"
        )

    def cost(self, arch: Any, **network: Any) -> Any:
        """``params_m`` (and ``flops_m`` with HAS_FLOPS) of the stand-alone network."""
        raise NotImplementedError

    def build_supernet(self, network: Mapping[str, Any], task: TaskSpec, seed: int) -> Any:
        """The weight-sharing supernet for a checked network config, initialised from ``seed``."""
        raise NotImplementedError

    def describe_arch(self, arch: Any) -> dict[str, Any]:
        """Human-readable facts about one architecture (for ``wsbench arch``)."""
        a = self.parse(arch)
        facts: dict[str, Any] = {"arch id": self.arch_id(a), "official form": self.format(a)}
        cost = self.cost(a)
        facts["params (M, benchmark network)"] = round(float(cost.params_m), 6)
        if self.supports(HAS_FLOPS):
            facts["FLOPs (M, benchmark network)"] = round(float(cost.flops_m), 6)
        return facts

    def describe(self) -> dict[str, Any]:
        """Name and version for provenance (hashed into every cell)."""
        return {"name": self.name, "version": self.version}

    # -- network config -------------------------------------------------------------------------
    def network_config(self, config: Mapping[str, Any], where: str = "network") -> dict[str, Any]:
        """``config`` checked against ``network_defaults`` (known keys, positive integers), defaults filled in."""
        unknown_keys = sorted(set(config) - set(self.network_defaults))
        if unknown_keys:
            raise WsbenchError(
                f"{where}: unknown key(s) {', '.join(unknown_keys)} for space {self.name!r}; "
                f"known: {', '.join(sorted(self.network_defaults)) or 'none'}"
            )
        out = dict(self.network_defaults)
        for key, value in config.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise WsbenchError(f"{where}.{key}: must be a positive integer for space {self.name!r}, got {value!r}")
            out[key] = value
        return out

    # -- capabilities ---------------------------------------------------------------------------
    def supports(self, capability: str) -> bool:
        """Whether the space declares ``capability``."""
        return capability in self.capabilities

    def missing(self, capabilities: Iterable[str]) -> list[str]:
        """The capabilities of ``capabilities`` the space does not declare."""
        return sorted(set(capabilities) - set(self.capabilities))

    def require(self, capabilities: Iterable[str], who: str) -> None:
        """A one-line error naming what ``who`` needs and this space lacks."""
        lacking = self.missing(capabilities)
        if lacking:
            raise UnsupportedError(
                f"{who} needs {', '.join(lacking)}, which space {self.name!r} does not provide "
                f"(it provides: {', '.join(sorted(self.capabilities)) or 'nothing optional'})"
            )

    def grid_shape(self) -> tuple[int, ...]:
        """Options per choice of a GRID space (architectures are tuples of these indices)."""
        self.require([GRID], "a per-choice strategy")
        return tuple(c.size for c in self.choices())

    # -- the continuous relaxation (MIXED_FORWARD) ------------------------------------------------
    def mixed_shape(self) -> tuple[int, int]:
        """Shape [rows, ops] of the op-weight tensor the supernet's mixed forward takes.

        By default the grid itself (one row per choice; all choices need the same number of
        options). A space whose relaxation differs from its grid (DARTS: every candidate edge of a
        cell weighted, two kept per node) overrides this and ``derive``.
        """
        self.require([MIXED_FORWARD], "a differentiable strategy")
        sizes = self.grid_shape()
        if len(set(sizes)) != 1:
            raise WsbenchError(
                f"space {self.name!r}: its choices have different option counts {sorted(set(sizes))}; define mixed_shape"
            )
        return len(sizes), sizes[0]

    def derive(self, weights: Any) -> Any:
        """The architecture op weights [rows, ops] discretise to: by default the argmax of every row
        (ties: the lower option index)."""
        return tuple(int(k) for k in np.argmax(np.asarray(weights), axis=1))


class UnsupportedError(WsbenchError):
    """A strategy, baseline or archset asked a space for something it does not declare."""
