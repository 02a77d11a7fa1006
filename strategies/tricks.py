"""Training tricks of Zhang, Zhang and Yang, "How Does Supernet Help in Neural Architecture Search?" (2020).

The paper's public code (github.com/matluster/anonymous-2102, folder ``tricks/``) trains a
supernet on a *reduced* space in three ways; here each is a strategy at SPOS's compute (one
uniformly drawn path per step), so its ranking can be set beside SPOS's:

- ``omniscience`` -- paths are drawn only from a fixed subset of the architectures a ground truth
  covers: ``subset="top"`` the truly best ``fraction`` of them (the paper: 0.33 of the NB201 cells
  sorted by mean accuracy over the benchmark's seeds), or ``subset="random"``, the control: a random
  subset of the same size (fixed by ``subset_seed``, the same in every run). The top subset is an
  oracle: it asks what a supernet gains from training only on a well-pruned space.
- ``trainsplit`` -- the space is cut into ``folds`` and every fold trains its own copy of the
  supernet: ``by="shuffle"`` a fixed random partition, ``by="structure"`` one fold per op on one
  edge, ``by="accuracy"`` bands of the ground truth (fold 0 the worst, an oracle as in the paper).
  The paper trains one fold per run with a full schedule; here one uniform path per step is routed
  to its fold's copy, so all folds together cost what SPOS costs.
- ``focusbranch`` -- progressive pruning: at the ``prune_at`` points of the run every branch
  (one option of one choice) is scored from shared-weight estimates and the space is narrowed.
  The paper's rule (``rule="fix-best"``) fixes the best-scoring branch's choice to that option;
  ``rule="drop-worst"`` instead removes the worst-scoring option of a choice (never its last one).
  Scores (``metric``): ``"nondominated"`` (the paper's default) is the fraction of (with-branch,
  without-branch) pairs where the with-branch path has fewer parameters *and* a higher accuracy;
  ``"accuracy"`` is the mean accuracy of the paths with the branch. Branches seen on fewer than
  ``min_paths`` paths, or taken by every path, are not scored (the paper: 10 architectures).

Where these differ from the paper (stated, not hidden):

- The paper's pools are its converted benchmark files; NB201's drops the cells whose output is
  unreachable from the input. Here a pool is what the ground-truth table covers (on NB201 all
  15,625 strings: the disconnected ones sit at the bottom and only enter a random subset).
- The paper's random control and shuffle split use Python's ``random``; here the subset is drawn
  with a NumPy generator seeded by ``subset_seed``, and a shuffle fold is a keyed crc32 hash of the
  arch id (so every architecture of any space has a fold; sizes equal up to hashing noise).
  Accuracy bands put every table row in a band (the paper drops the ``len % folds`` remainder).
- The paper scores focus-branch branches by evaluating 150 architectures of the current space with
  the supernet (BN recalibrated, validation images). The harness gives a strategy no evaluation
  pass, so the estimates are the ``observe`` feedback: the training-batch accuracy of each trained
  path, over the last ``window`` paths since the previous prune point (noisier, and measured while
  the weights move). Parameters are the space's ``cost(arch).params_m`` of the benchmark network.
- The paper rebuilds its optimizer and scheduler (loading their states) at each prune point, i.e.
  training just continues; so does this. Its cosine restarts are the protocol's ``lr_restarts``.
"""

from __future__ import annotations

import hashlib
import zlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from harness.api.errors import WsbenchError
from harness.api.ground_truth import GroundTruthQuery
from harness.api.options import Option
from harness.api.space import GRID, GROUND_TRUTH_ARCHS, GTSpec
from harness.api.strategy import Strategy, StrategyOption, rule_words
from harness.catalog import GROUND_TRUTHS, load_ground_truth
from strategies.partitioned import _Partitioned

# -- the ground truth a trick ranks by ------------------------------------------------------------


@dataclass(frozen=True)
class RankedPool:
    """The architectures a ground truth covers, from the truly best to the worst (ties: by arch id)."""

    archs: list[Any]
    ids: list[str]
    values: np.ndarray  # the table's values, in the same order
    label: str  # the query, e.g. nb201/analog:cifar10/test/accuracy@as-published
    fingerprint: str  # the table's content fingerprint

    def __len__(self) -> int:
        return len(self.archs)


def resolve_ground_truth(space: Any, option: Any, who: str) -> GTSpec:
    """The (source, dataset, split, metric, seed_reduction) an option names, checked against its source.

    ``None`` takes the space's first default ground truth. Only the query is checked here; the table
    itself is loaded when first needed (listing strategies must stay cheap).
    """
    if option is None:
        if not space.default_ground_truths:
            raise WsbenchError(f"{who}: space {space.name!r} has no default ground truth; set the ground_truth option")
        return tuple(space.default_ground_truths[0])  # type: ignore[return-value]
    if not isinstance(option, (list, tuple)) or len(option) != 5 or not all(isinstance(v, str) for v in option):
        raise WsbenchError(
            f"{who}: ground_truth must be 5 strings [source, dataset, split, metric, seed_reduction], got {option!r}"
        )
    source, dataset, split, metric, reduction = option
    GROUND_TRUTHS.get(f"{space.name}/{source}")().validate(
        GroundTruthQuery(space.name, source, dataset, split, metric, reduction)
    )
    return (source, dataset, split, metric, reduction)


def ranked_pool(space: Any, spec: GTSpec) -> RankedPool:
    """Load the table and order the architectures it covers from best to worst.

    Spaces that list their ground-truth architectures (NB101, DARTS, ...) give the pool; others
    parse the table's arch ids (NB201: every official string).
    """
    table = load_ground_truth(space.name, *spec)
    if space.supports(GROUND_TRUTH_ARCHS):
        covered = set(table.arch_ids)
        archs = [a for a in space.ground_truth_archs(spec[0]) if space.arch_id(a) in covered]
    else:
        archs = [space.parse(a) for a in table.arch_ids]
    if not archs:
        raise WsbenchError(f"ground truth {table.query.label()} covers no architecture of space {space.name!r}")
    ids = [space.arch_id(a) for a in archs]
    values = table.lookup(ids)
    goodness = values if table.higher_is_better else -values
    order = sorted(range(len(ids)), key=lambda i: (-goodness[i], ids[i]))
    return RankedPool([archs[i] for i in order], [ids[i] for i in order], values[order], table.query.label(), table.fingerprint)


def ids_fingerprint(ids: Sequence[str]) -> str:
    """A short SHA-256 of a set of arch ids (order-free), to tell subsets apart in provenance."""
    h = hashlib.sha256()
    for arch_id in sorted(ids):
        h.update(arch_id.encode() + b"\n")
    return h.hexdigest()[:16]


#: The ground truth a trick ranks by: 5 strings, checked against the source when the strategy is built.
GROUND_TRUTH_OPTION = Option(
    None,
    tuple,
    item=str,
    nullable=True,
    help="[source, dataset, split, metric, seed_reduction]; unset: the space's first default",
)


# -- omniscience ----------------------------------------------------------------------------------


class Omniscience(Strategy):
    """SPOS over a fixed subset: the true top ``fraction`` of the space, or a random subset of its size."""

    name = "omniscience"
    kind = "trick"
    version = 1
    option_specs = {
        "subset": Option("top", str, choices=("top", "random"), help="the true top, or a random subset of its size"),
        "fraction": StrategyOption(
            1 / 3, float, above=0, rule="a number in (0, 1]", help="of the ground truth's pool (the paper: 0.33)"
        ),
        "subset_seed": Option(0, int, min=0, help="draws the random subset"),
        "ground_truth": GROUND_TRUTH_OPTION,
    }
    paths_per_step = 1.0

    def __init__(self, space: Any, rng: np.random.Generator, **options: Any) -> None:
        super().__init__(space, rng, **options)
        self.subset_kind, self.fraction, self.subset_seed = (self.options[k] for k in ("subset", "fraction", "subset_seed"))
        self.gt = resolve_ground_truth(space, self.options["ground_truth"], "omniscience")
        self._pool: RankedPool | None = None
        self._members: list[Any] | None = None
        self._member_ids: list[str] = []

    def check_rules(self) -> None:
        """A fraction of the pool is at most all of it."""
        if self.options["fraction"] > 1:
            raise WsbenchError(f"omniscience option fraction must be a number in (0, 1], got {self.options['fraction']!r}")

    def pool(self) -> RankedPool:
        """The ground truth's architectures, best first (loaded on first use)."""
        if self._pool is None:
            self._pool = ranked_pool(self.space, self.gt)
        return self._pool

    def members(self) -> list[Any]:
        """The architectures paths are drawn from, in pool order (best first)."""
        if self._members is None:
            pool = self.pool()
            size = max(1, int(len(pool) * self.fraction))
            if self.subset_kind == "top":
                index = np.arange(size)
            else:
                # Its own generator, not the run's: the control subset is the same for every seed.
                gen = np.random.default_rng(np.random.SeedSequence([self.subset_seed, zlib.crc32(b"omniscience")]))
                index = np.sort(gen.choice(len(pool), size=size, replace=False))
            self._members = [pool.archs[i] for i in index]
            self._member_ids = [pool.ids[i] for i in index]
        return self._members

    def member_ids(self) -> list[str]:
        """Arch ids of the subset."""
        self.members()
        return list(self._member_ids)

    def bind(self, model: nn.Module, steps_per_epoch: int, epochs: int) -> nn.Module:
        self.members()  # load the ground truth before the first step, so a missing table fails early
        return model

    def paths(self, step: int) -> list[Any]:
        members = self.members()
        return [members[int(self.rng.integers(len(members)))]]

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        pool = self.pool()
        d["subset"] = {
            "size": len(self.members()),
            "pool": len(pool),
            "fingerprint": ids_fingerprint(self.member_ids()),
            "ground_truth": pool.label,
            "ground_truth_fingerprint": pool.fingerprint,
        }
        return d

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state, "subset": ids_fingerprint(self.member_ids())}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("subset", ids_fingerprint(self.member_ids())) != ids_fingerprint(self.member_ids()):
            raise WsbenchError(
                "omniscience: the checkpoint was trained on another subset (the ground-truth table or options changed); "
                "delete the cell's checkpoint.pt to start over"
            )
        self.rng.bit_generator.state = state["rng"]


# -- train split ----------------------------------------------------------------------------------


class TrainSplit(_Partitioned):
    """One supernet copy per fold of the space; one uniform path per step, trained by its fold's copy."""

    name = "trainsplit"
    kind = "trick"
    version = 1
    option_specs = {
        "by": StrategyOption(
            "shuffle",
            str,
            choices=("shuffle", "structure", "accuracy"),
            label="trainsplit 'by'",
            help="how the space is cut into folds",
        ),
        "folds": Option(5, int, min=2, help="the number of folds (the paper's NB201 default: 5)"),
        "edge": Option(0, int, min=0, help="by structure: the choice whose option makes the fold"),
        "split_seed": Option(0, int, min=0, help="keys the shuffle"),
        "ground_truth": GROUND_TRUTH_OPTION,
    }

    def __init__(self, space: Any, rng: np.random.Generator, **options: Any) -> None:
        super().__init__(space, rng, **options)
        self.by, self.folds, self.split_seed = (self.options[k] for k in ("by", "folds", "split_seed"))
        self.gt = resolve_ground_truth(space, self.options["ground_truth"], "trainsplit") if self.by == "accuracy" else None
        self._pool: RankedPool | None = None
        self._band: dict[str, int] = {}

    def requirements(self) -> frozenset[str]:
        return frozenset({GRID}) if self.options.get("by") == "structure" else frozenset()

    def check_rules(self) -> None:
        """A structure split makes one fold per option of one of the space's choices."""
        if self.options["by"] != "structure":
            return
        sizes, edge, folds = self.space.grid_shape(), self.options["edge"], self.options["folds"]
        if edge >= len(sizes):
            raise WsbenchError(f"trainsplit option edge must be an integer in 0..{len(sizes) - 1}, got {edge!r}")
        if sizes[edge] != folds:
            raise WsbenchError(
                f"trainsplit: by='structure' makes one fold per option of choice {edge} ({sizes[edge]} options); "
                f"set folds = {sizes[edge]}"
            )

    def pool(self) -> RankedPool:
        """The ground truth's architectures, best first (by='accuracy' only; loaded on first use)."""
        if self._pool is None:
            if self.gt is None:
                raise AssertionError("only by='accuracy' ranks a pool")
            self._pool = ranked_pool(self.space, self.gt)
            n = len(self._pool)
            # Rank from the worst (0) up: band k holds ranks [k n / folds, (k + 1) n / folds).
            self._band = {arch_id: (n - 1 - i) * self.folds // n for i, arch_id in enumerate(self._pool.ids)}
        return self._pool

    def num_parts(self) -> int:
        return self.folds

    def route(self, arch: Any) -> int:
        if self.by == "structure":
            return int(arch[self.options["edge"]])
        arch_id = self.space.arch_id(arch)
        if self.by == "shuffle":
            # A stable hash keyed by the split seed (not Python's salted hash()): the same folds in every run.
            return zlib.crc32(f"{self.split_seed}:{arch_id}".encode()) % self.folds
        self.pool()
        if arch_id not in self._band:
            raise WsbenchError(
                f"trainsplit: {arch_id} is not in ground truth {self.pool().label}; by='accuracy' trains and scores "
                "only the architectures the table covers (use an archset of that table)"
            )
        return self._band[arch_id]

    def bind(self, model: nn.Module, steps_per_epoch: int, epochs: int) -> nn.Module:
        if self.by == "accuracy":
            self.pool()  # load the ground truth before the first step, so a missing table fails early
        return super().bind(model, steps_per_epoch, epochs)

    def paths(self, step: int) -> list[Any]:
        if self.by != "accuracy":
            return [self.space.sample(self.rng)]
        archs = self.pool().archs
        return [archs[int(self.rng.integers(len(archs)))]]

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        if self.by == "accuracy":
            pool = self.pool()
            d["ground_truth"] = {"label": pool.label, "fingerprint": pool.fingerprint}
            d["fold_sizes"] = np.bincount(list(self._band.values()), minlength=self.folds).tolist()
        return d


# -- focus branch ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Branch:
    """One option of one choice, with its score over the observed paths."""

    score: float
    choice: int
    option: int


class FocusBranch(Strategy):
    """Progressive pruning from shared-weight feedback: at stated points, fix the best branch (or drop the worst)."""

    name = "focusbranch"
    kind = "trick"
    version = 1
    option_specs = {
        "prune_at": StrategyOption(
            [0.25, 0.5, 0.75], tuple, item=float, rule="increasing fractions of the run strictly between 0 and 1",
            help="when the space is narrowed, as fractions of the run's steps (the paper: every 500 of 2000 epochs)",
        ),
        "rule": Option("fix-best", str, choices=("fix-best", "drop-worst"), help="fix the best branch, or drop the worst"),
        "metric": Option("nondominated", str, choices=("nondominated", "accuracy"), help="how a branch is scored"),
        "min_paths": Option(10, int, min=1, help="least paths a branch is scored on"),
        "window": Option(1000, int, min=1, help="the most recent trained paths (since the last prune) that are scored"),
    }  # fmt: skip
    requires = frozenset({GRID})
    wants_feedback = True
    paths_per_step = 1.0

    def __init__(self, space: Any, rng: np.random.Generator, **options: Any) -> None:
        super().__init__(space, rng, **options)
        self.prune_at = tuple(float(f) for f in self.options["prune_at"])
        self.rule, self.metric = self.options["rule"], self.options["metric"]
        self.min_paths, self.window = self.options["min_paths"], self.options["window"]
        self.sizes = space.grid_shape()
        #: The options each choice may still take (pruning only ever removes).
        self.allowed: list[list[int]] = [list(range(n)) for n in self.sizes]
        self.prune_steps: tuple[int, ...] = ()  # known once bound to a run's length
        self.done = 0  # prune points passed
        self.history: list[dict[str, Any]] = []
        self._seen: deque[tuple[tuple[int, ...], float]] = deque(maxlen=self.window)
        self._params: dict[tuple[int, ...], float] = {}

    def check_rules(self) -> None:
        """Prune points are increasing fractions strictly inside the run."""
        points = list(self.options["prune_at"])
        if not all(0 < f < 1 for f in points) or points != sorted(set(points)):
            raise WsbenchError(f"focusbranch option prune_at must be {rule_words(self.option_specs['prune_at'])}, got {points!r}")

    def bind(self, model: nn.Module, steps_per_epoch: int, epochs: int) -> nn.Module:
        total = steps_per_epoch * epochs
        self.prune_steps = tuple(max(1, round(f * total)) for f in self.prune_at)
        return model

    def paths(self, step: int) -> list[tuple[int, ...]]:
        while self.done < len(self.prune_steps) and step >= self.prune_steps[self.done]:
            self.prune(self.prune_steps[self.done])
            self.done += 1
        picks = self.rng.integers(0, [len(a) for a in self.allowed])
        return [tuple(self.allowed[c][int(k)] for c, k in enumerate(picks))]

    def observe(self, step: int, arch: tuple[int, ...], loss: float, accuracy: float) -> None:
        self._seen.append((tuple(int(o) for o in arch), float(accuracy)))

    # -- the pruning rule ----------------------------------------------------------------------

    def branch_scores(self) -> list[Branch]:
        """Every branch of a still-open choice that enough of the observed paths took (and not all of them)."""
        if not self._seen:
            return []
        archs = np.array([a for a, _ in self._seen], dtype=np.int64)
        acc = np.array([v for _, v in self._seen])
        params = np.array([self._params_of(a) for a, _ in self._seen]) if self.metric == "nondominated" else None
        out = []
        for c, options in enumerate(self.allowed):
            if len(options) < 2:
                continue  # fixed: every path takes it, nothing to compare
            for o in options:
                mask = archs[:, c] == o
                if self.min_paths <= mask.sum() < len(mask):
                    out.append(Branch(self._score(mask, acc, params), c, o))
        return out

    def _score(self, mask: np.ndarray, acc: np.ndarray, params: np.ndarray | None) -> float:
        if params is None:
            return float(acc[mask].mean())
        # Pairs (with the branch, without it) where the first has fewer parameters and a higher accuracy.
        fewer = params[mask][:, None] < params[~mask][None, :]
        better = acc[mask][:, None] > acc[~mask][None, :]
        return float((fewer & better).mean())

    def _params_of(self, arch: tuple[int, ...]) -> float:
        if arch not in self._params:
            self._params[arch] = float(self.space.cost(arch).params_m)
        return self._params[arch]

    def prune(self, step: int) -> None:
        """Narrow the space once by the rule; skipped (and recorded) when no branch could be scored."""
        scores = self.branch_scores()
        entry: dict[str, Any] = {"step": step, "paths": len(self._seen)}
        if not scores:
            self.history.append({**entry, "action": "skipped"})
            return
        # Ties go to the lowest (choice, option): deterministic.
        if self.rule == "fix-best":
            pick = max(scores, key=lambda b: (b.score, -b.choice, -b.option))
            self.allowed[pick.choice] = [pick.option]
        else:
            pick = min(scores, key=lambda b: (b.score, b.choice, b.option))
            self.allowed[pick.choice] = [o for o in self.allowed[pick.choice] if o != pick.option]
        self.history.append({**entry, "action": self.rule, "choice": pick.choice, "option": pick.option, "score": pick.score})
        # The paper scores each round on the current space only: start the next window afresh.
        self._seen.clear()

    def selected(self) -> tuple[int, ...] | None:
        """The pruned space's pick now: each choice's fixed option, or its best-scoring one (first if unscored)."""
        best: dict[int, Branch] = {}
        for b in self.branch_scores():
            if b.choice not in best or (b.score, -b.option) > (best[b.choice].score, -best[b.choice].option):
                best[b.choice] = b
        return tuple(best[c].option if c in best else options[0] for c, options in enumerate(self.allowed))

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["prune_steps"] = list(self.prune_steps)
        return d

    def state_dict(self) -> dict[str, Any]:
        return {
            "rng": self.rng.bit_generator.state,
            "allowed": [list(a) for a in self.allowed],
            "done": self.done,
            "history": [dict(h) for h in self.history],
            "seen": [(list(a), v) for a, v in self._seen],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.allowed = [list(a) for a in state["allowed"]]
        self.done = int(state["done"])
        self.history = [dict(h) for h in state["history"]]
        self._seen = deque(((tuple(a), float(v)) for a, v in state["seen"]), maxlen=self.window)


#: Registered by ``harness.catalog`` (this module describes itself).
PLUGINS = {"strategy": {"omniscience": Omniscience, "trainsplit": TrainSplit, "focusbranch": FocusBranch}}
