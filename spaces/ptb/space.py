"""The DARTS recurrent-cell space on Penn Treebank as the harness sees it: a grid of 16 choices."""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from harness.api import space as api
from harness.api.errors import WsbenchError
from spaces.grid import Grid, GridSpace
from spaces.ptb import encoding

_SEEDPAPER = ("seedpaper", "ptb", "valid", "perplexity")
#: The seed paper's dropouts (its ``configs/ptb.py``: DARTS's final-training values).
PAPER_DROPOUTS = {"dropout": 0.75, "dropout_h": 0.25, "dropout_x": 0.75, "dropout_i": 0.2, "dropout_e": 0.1}
#: Network keys added after cells were hashed, with their defaults: a resolved network holds one only
#: when it is set to another value, so every earlier cell keeps its hash. ``init_range``: weights are
#: drawn uniform in [-init_range, init_range] (the seed's ``configs/ptb.py``: 0.04, as was fixed here).
LATER_KEYS = {"init_range": 0.04}


class PtbSpace(GridSpace):
    """DARTS's recurrent cell (Liu et al., ICLR 2019) as the seed paper uses it, on Penn Treebank.

    An architecture is 16 option indices: per step ``i`` (0-7) its activation (tanh, relu, sigmoid,
    identity) and the earlier state it reads (``i + 1`` options: s0 .. s_i), so every index tuple is
    a valid cell. Choice 0 is step 0's activation, so ``fewshot`` with ``edge=0`` splits the
    supernet on it into 4 sub-supernets; FairNAS's fairness covers the activation choices (the
    inputs are drawn uniformly). The mixed forward (DARTS, GDAS) weighs 36 candidate edges x 5 ops
    (``none`` first); ``derive`` keeps, per step, the edge with the strongest non-``none`` op.

    The space has 4^8 x 8! = 2,642,411,520 cells. Every cell has the same weights (one matrix per
    step whatever it reads or applies), so parameter count and FLOPs are *equal for all cells*:
    the ``params`` baseline cannot rank here (its tau is undefined), and the report says so.
    Network config: ``hidden`` (embedding = hidden, tied decoder; the paper: 850), the five
    dropouts (probabilities; defaults the paper's) and ``init_range`` (default the paper's 0.04).
    """

    name = "ptb"
    version = 1
    capabilities = frozenset({api.GRID, api.MIXED_FORWARD, api.GROUND_TRUTH_ARCHS})
    default_task = "ptb"
    network_defaults = {"hidden": 850, **PAPER_DROPOUTS}
    smoke_network = {"hidden": 8}
    smoke_protocol = "ptb-smoke"
    num_archs = encoding.space_size()
    default_ground_truths = (
        ("seedpaper", "ptb", "valid", "perplexity", "seed:42"),
        ("seedpaper", "ptb", "test", "perplexity", "seed:42"),
        ("seedpaper", "ptb", "valid", "perplexity", "mean-of-seeds"),
        ("seedpaper", "ptb", "test", "perplexity", "mean-of-seeds"),
        ("seedpaper", "ptb", "valid", "perplexity", "seed:43"),  # the independent run: the ceiling for seed 42
    )
    codec: ClassVar[ModuleType] = encoding
    arch_noun = "recurrent cell"
    parse_errors = (TypeError, ValueError, SyntaxError)  # Genotype text is read with ast.literal_eval
    title = "PTB"
    #: Archset pools: every seed-42 cell, or only the 93 trained with both seeds.
    pools = {"seedpaper": (*_SEEDPAPER, "seed:42"), "seedpaper:both-seeds": (*_SEEDPAPER, "mean-of-seeds")}

    def choices(self) -> tuple[api.Choice, ...]:
        """Per step: its activation, then the state it reads."""
        out = []
        for i in range(encoding.STEPS):
            out.append(api.Choice(f"step {i}: activation", encoding.ACTIVATIONS))
            out.append(api.Choice(f"step {i}: input", tuple(f"s{j}" for j in range(i + 1)), kind="inputs"))
        return tuple(out)

    def network_config(self, config: Mapping[str, Any], where: str = "network") -> dict[str, Any]:
        """``hidden`` (a positive integer), the dropouts (probabilities in [0, 1); defaults the paper's)
        and ``init_range`` (a positive number; present only when it differs from the default)."""
        from spaces.ptb.supernet import DROPOUT_KEYS

        unknown_keys = sorted(set(config) - set(self.network_defaults) - set(LATER_KEYS))
        if unknown_keys:  # named here so that the list of known keys holds the later ones too
            known = ", ".join(sorted({*self.network_defaults, *LATER_KEYS}))
            raise WsbenchError(f"{where}: unknown key(s) {', '.join(unknown_keys)} for space {self.name!r}; known: {known}")
        out, given = self.network_options(config, where, (*DROPOUT_KEYS, *LATER_KEYS))
        for key, value in given.items():
            if key in LATER_KEYS:
                value = _positive(value, where, key)
                if value != LATER_KEYS[key]:
                    out[key] = value
            else:
                out[key] = self.probability(value, where, key)
        return out

    def build_supernet(self, network: Mapping[str, Any], task: api.TaskSpec, seed: int) -> Any:
        """The recurrent supernet (its weights are those of every cell), initialised from ``seed``."""
        from spaces.ptb.supernet import DROPOUT_KEYS, RecurrentSupernet

        net = {**LATER_KEYS, **self.network_config(network)}
        dropouts = {k: net[k] for k in DROPOUT_KEYS}
        return RecurrentSupernet(task.outputs, net["hidden"], dropouts, init_range=net["init_range"], seed=seed)

    def cost(self, arch: Any, hidden: int = 850, vocab: int = 10_000, **_: Any) -> Any:
        """Parameters and multiply-accumulates per token of the network (the same for every cell)."""
        self.parse(arch)
        cell = (2 * hidden) * (2 * hidden) + encoding.STEPS * hidden * (2 * hidden)
        return api.NetworkCost(params=vocab * hidden + vocab + cell, flops=cell + hidden * vocab)

    def mixed_shape(self) -> tuple[int, int]:
        """[36 candidate edges (step i reads s0..s_i), 5 ops (``none`` first)]: DARTS's RNN relaxation."""
        from spaces.ptb.supernet import MIXED_SHAPE

        return MIXED_SHAPE

    def derive(self, weights: Any) -> Grid:
        """DARTS's RNN discretisation: per step the input edge with the strongest non-``none`` op, and that op."""
        from spaces.ptb.supernet import edge_offset

        w = np.asarray(weights, dtype=np.float64)
        pairs = []
        for i in range(encoding.STEPS):
            rows = w[edge_offset(i) : edge_offset(i) + i + 1, 1:]  # drop ``none``
            src = int(np.argmax(rows.max(axis=1)))
            pairs.append((encoding.ACTIVATIONS[int(np.argmax(rows[src]))], src))
        return encoding.to_grid(encoding.canonical(pairs))

    def describe_arch(self, arch: Any) -> dict[str, Any]:
        """Facts about one cell (for ``wsbench arch``)."""
        g = self.parse(arch)
        cost = self.cost(g)
        return {
            "arch id": self.arch_id(g),
            "genotype": self.format(g),
            "seed-paper JSON": encoding.to_json(encoding.from_grid(g)),
            "grid": g,
            "params (M, hidden 850, every cell)": round(cost.params_m, 6),
        }


def _positive(value: Any, where: str, key: str) -> float:
    """``value`` as a finite positive number, else a one-line error."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    if not ok:
        raise WsbenchError(f"{where}.{key}: must be a positive number for space 'ptb', got {value!r}")
    return float(value)


SPACE = PtbSpace()
