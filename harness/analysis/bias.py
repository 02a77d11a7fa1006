"""Biases of a supernet's ranking: toward small cells, toward some ops, and between isomorphic cells.

Every analysis reads a ``GroupScores`` (one strategy group) and uses each run's FINAL snapshot;
per-run values are aggregated over seeds as mean ± sd (ddof=1) in ``OverRuns``. Every correlation
is ``harness.metrics.kendall_tau`` (tau-b), on vectors oriented higher-is-better; pairs
where either side is NaN are dropped first.

Ranks. ``normalized_rank(x)`` is the average rank of each value scaled to [0, 1] with 1 = best
(ties share their mean rank). The estimator's **error** on an architecture is its normalized
estimator rank minus its normalized true rank: positive = overrated, negative = underrated.

Complexity bias (Zhang et al. 2021, "How Does Supernet Help in Neural Architecture Search?": supernets
favour small, parameter-free cells):

* ``tau(error, params)`` (and FLOPs where the space counts them): < 0 means smaller cells are
  overrated. Caveat: where params correlates with the truth, ANY noisy estimator underrates the
  truly best (regression to the mean) and so shows a negative value here without any size
  preference of its own. Hence also ``tau(est, params | truth)``, the partial tau of the estimator
  with params given the truth: how much the estimator follows size beyond what the truth does.
* Partial Kendall tau (Kendall 1942), x = estimator, y = truth, z = params:
  ``tau_xy.z = (t_xy - t_xz * t_yz) / sqrt((1 - t_xz^2) * (1 - t_yz^2))``,
  the estimator's tau with the truth once params is held fixed (nan where a tau is undefined or
  a denominator is 0). It assumes the pairwise-concordance structure behaves like a linear one,
  so a second, assumption-light view is given too:
* stratified tau: architectures are split into ``N_STRATA`` params-quantile bins (equal params
  always share a bin), tau is computed inside each bin with at least 2 architectures and a
  defined tau, and the bins are averaged weighted by their number of pairs, n_b (n_b - 1) / 2.

Op bias (GRID spaces): for each (choice, option), the mean error over the architectures that use
that option at that choice, i.e. their mean normalized estimator rank minus their mean normalized
true rank; > 0: the supernet overrates cells using it. Per op, the mean over the choices of kind
``op`` that offer it (unweighted: each choice counts once).

Isomorphism (spaces with isomorphism classes): whether isomorphic cells among the scored
architectures get equal scores. Only classes with more than one member in the archset can say
anything; an archset holding one member per class (NB201's published archset is a sample of
classes) makes the check impossible, and ``IsomorphismCheck.measurable`` is False.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import numpy as np
import scipy.stats

from harness import metrics as M
from harness.analysis.groups import GroupScores
from harness.api.errors import WsbenchError
from harness.api.space import GRID, HAS_FLOPS, ISOMORPHISM

#: Fewer architectures than this and rank statistics over subsets say nothing.
MIN_ARCHS = 10
#: Params-quantile bins of the stratified tau.
N_STRATA = 5
#: Why a group without a ground truth gets no bias analysis.
NO_TRUTH = "no ground truth: bias analyses need one"


# --------------------------------------------------------------------------- shared helpers


@dataclass(frozen=True)
class OverRuns:
    """One statistic over a group's runs: the per-run values (run order), their mean and sd (ddof=1)."""

    values: tuple[float, ...]

    @classmethod
    def of(cls, values: Iterable[float]) -> OverRuns:
        """From any sequence of numbers."""
        return cls(tuple(float(v) for v in values))

    @property
    def finite(self) -> np.ndarray:
        """The defined values (a run whose statistic is undefined does not count)."""
        v = np.asarray(self.values, dtype=float)
        return v[np.isfinite(v)]

    @property
    def mean(self) -> float:
        """Mean of the defined values (nan when none)."""
        v = self.finite
        return float(v.mean()) if v.size else float("nan")

    @property
    def sd(self) -> float:
        """Sample sd of the defined values (nan for fewer than 2)."""
        v = self.finite
        return float(v.std(ddof=1)) if v.size > 1 else float("nan")


def finite_pair(est: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``est`` and ``true`` without the architectures where either is NaN (not scored at that snapshot)."""
    keep = np.isfinite(est) & np.isfinite(true)
    return est[keep], true[keep]


def normalized_rank(x: np.ndarray) -> np.ndarray:
    """Average rank of each value scaled to [0, 1]: 1 = best, 0 = worst, ties share their mean."""
    return (scipy.stats.rankdata(x, method="average") - 1.0) / (x.size - 1)


def rank_error(est: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Normalized estimator rank minus normalized true rank: > 0 overrated, < 0 underrated."""
    return normalized_rank(est) - normalized_rank(true)


def final_vectors(group: GroupScores) -> list[np.ndarray]:
    """Each run's final-snapshot estimator values, in run order."""
    return [np.asarray(r.final, dtype=float) for r in group.runs]


def require_archs(group: GroupScores, what: str, minimum: int = MIN_ARCHS) -> None:
    """Refuse (one-line WsbenchError, the caller names the group) too few architectures or no runs for ``what``."""
    if not group.runs:
        raise WsbenchError(f"no runs, so no {what}")
    if len(group.archs) < minimum:
        raise WsbenchError(f"{len(group.archs)} architectures, fewer than the {minimum} {what} needs")


def space_named(name: str) -> Any:
    """The registered space object ``name``."""
    from harness.catalog import SPACES

    return SPACES.get(name)


@lru_cache(maxsize=16)
def _costs_cached(space: str, archs: tuple[str, ...]) -> tuple[tuple[str, np.ndarray], ...]:
    """(name, values) of params and, where counted, FLOPs (hashable arguments, so the cache can key on them)."""
    from harness.baselines import score_baseline

    out = [("params", score_baseline("params", space, list(archs), seed=0))]
    if space_named(space).supports(HAS_FLOPS):
        out.append(("flops", score_baseline("flops", space, list(archs), seed=0)))
    return tuple(out)


def arch_costs(space: str, archs: Sequence[str]) -> dict[str, np.ndarray]:
    """Params (and FLOPs where the space counts them) of the benchmark network of each arch, by name."""
    # Cached: every strategy group of a (space, protocol) shares one archset, and NB101 parses
    # each cell from its hash (~1.5 s for 500).
    return {name: values.copy() for name, values in _costs_cached(space, tuple(archs))}


# --------------------------------------------------------------------------- complexity bias


def partial_kendall(t_xy: float, t_xz: float, t_yz: float) -> float:
    """Kendall's partial tau of x and y given z: (t_xy - t_xz t_yz) / sqrt((1 - t_xz^2)(1 - t_yz^2))."""
    denom = (1.0 - t_xz**2) * (1.0 - t_yz**2)
    if not all(math.isfinite(v) for v in (t_xy, t_xz, t_yz)) or denom <= 0.0:
        return float("nan")
    return float((t_xy - t_xz * t_yz) / math.sqrt(denom))


def strata(z: np.ndarray, bins: int = N_STRATA) -> np.ndarray:
    """Bin index of each value of ``z`` by its quantiles; equal values always share a bin."""
    edges = np.quantile(z, np.linspace(0.0, 1.0, bins + 1))[1:-1]
    return np.searchsorted(edges, z, side="right")


def stratified_tau(est: np.ndarray, true: np.ndarray, z: np.ndarray, bins: int = N_STRATA) -> float:
    """Kendall tau inside each ``z``-quantile bin, averaged weighted by the bins' pair counts."""
    taus, weights = [], []
    labels = strata(z, bins)
    for b in np.unique(labels):
        inside = labels == b
        n = int(inside.sum())
        tau = M.kendall_tau(est[inside], true[inside]) if n >= 2 else float("nan")
        if math.isfinite(tau):
            taus.append(tau)
            weights.append(n * (n - 1) / 2)
    return float(np.average(taus, weights=weights)) if taus else float("nan")


@dataclass(frozen=True)
class ComplexityBias:
    """Complexity bias of one group against one ground truth (definitions: module docstring)."""

    truth: str
    n_archs: int
    tau: OverRuns  # tau(est, truth)
    params_tau: float  # tau(params, truth): how much size alone explains the truth
    error_vs_params: OverRuns
    error_vs_flops: OverRuns | None  # None where the space counts no FLOPs
    flops_same_order: bool  # FLOPs rank the archs exactly as params do (NB201): the FLOPs numbers repeat params'
    pooled_error_vs_params: float  # tau(seed-mean error, params): the part of the error every seed shares
    est_params_given_truth: OverRuns  # partial tau(est, params | truth)
    partial_tau: OverRuns  # partial tau(est, truth | params)
    stratified_tau: OverRuns


def _complexity_run(est: np.ndarray, true: np.ndarray, params: np.ndarray) -> dict[str, float]:
    """Every per-run complexity statistic of one final snapshot (NaN pairs already dropped)."""
    t_xy = M.kendall_tau(est, true)
    t_xz = M.kendall_tau(est, params)
    t_yz = M.kendall_tau(true, params)
    return {
        "tau": t_xy,
        "error_vs_params": M.kendall_tau(rank_error(est, true), params),
        "partial_tau": partial_kendall(t_xy, t_xz, t_yz),
        "est_params_given_truth": partial_kendall(t_xz, t_xy, t_yz),
        "stratified_tau": stratified_tau(est, true, params),
    }


def same_ranking(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two vectors order the architectures identically, ties included."""
    return bool(np.array_equal(scipy.stats.rankdata(a), scipy.stats.rankdata(b)))


def _error_vs(runs: list[np.ndarray], true: np.ndarray, cost: np.ndarray) -> OverRuns:
    """tau(rank error, ``cost``) of each run, NaN pairs dropped."""
    values = []
    for est in runs:
        keep = np.isfinite(est) & np.isfinite(true)
        values.append(M.kendall_tau(rank_error(est[keep], true[keep]), cost[keep]))
    return OverRuns.of(values)


def _pooled_error(runs: list[np.ndarray], true: np.ndarray, cost: np.ndarray) -> float:
    """tau of the seed-mean error with ``cost``: seed noise averages out, a systematic bias stays."""
    keep = np.logical_and.reduce([np.isfinite(e) for e in runs]) & np.isfinite(true)
    errors = np.mean([rank_error(e[keep], true[keep]) for e in runs], axis=0)
    return M.kendall_tau(errors, cost[keep])


def complexity_bias(group: GroupScores, costs: Mapping[str, np.ndarray]) -> list[ComplexityBias]:
    """One ``ComplexityBias`` per ground truth of ``group``; ``costs`` from ``arch_costs`` (params required)."""
    require_archs(group, "complexity bias")
    if not group.truths:
        raise WsbenchError(NO_TRUTH)
    params = np.asarray(costs["params"], dtype=float)
    if np.ptp(params) == 0:
        raise WsbenchError("every architecture has the same parameter count: no complexity bias to measure")
    runs = final_vectors(group)
    flops = np.asarray(costs["flops"], dtype=float) if "flops" in costs else None
    same_order = flops is not None and same_ranking(params, flops)
    out = []
    for label, true in group.truths.items():
        per_run = []
        for est in runs:
            keep = np.isfinite(est) & np.isfinite(true)
            per_run.append(_complexity_run(est[keep], true[keep], params[keep]))
        out.append(
            ComplexityBias(
                truth=label,
                n_archs=len(group.archs),
                tau=OverRuns.of([r["tau"] for r in per_run]),
                params_tau=M.kendall_tau(*finite_pair(params, true)),
                error_vs_params=OverRuns.of([r["error_vs_params"] for r in per_run]),
                error_vs_flops=_error_vs(runs, true, flops) if flops is not None else None,
                flops_same_order=same_order,
                pooled_error_vs_params=_pooled_error(runs, true, params),
                est_params_given_truth=OverRuns.of([r["est_params_given_truth"] for r in per_run]),
                partial_tau=OverRuns.of([r["partial_tau"] for r in per_run]),
                stratified_tau=OverRuns.of([r["stratified_tau"] for r in per_run]),
            )
        )
    return out


def error_scatter(group: GroupScores, truth: str, costs: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(params, error) of the first run's final snapshot against ``truth``, NaN pairs dropped (for plots)."""
    est, true = np.asarray(group.runs[0].final, dtype=float), group.truths[truth]
    keep = np.isfinite(est) & np.isfinite(true)
    return np.asarray(costs["params"], dtype=float)[keep], rank_error(est[keep], true[keep])


# --------------------------------------------------------------------------- op bias


@dataclass(frozen=True)
class OpBias:
    """Per (choice, option): mean error of the cells using it, over runs; per op: its mean over choices."""

    truth: str
    choices: tuple[str, ...]
    options: tuple[str, ...]  # every option name, in order of first appearance over the choices
    cells: dict[tuple[str, str], OverRuns]  # (choice, option) -> mean error over runs
    counts: dict[tuple[str, str], int]  # (choice, option) -> scored architectures using it
    per_op: dict[str, OverRuns] = field(default_factory=dict)  # op -> mean over its op choices, per run


def grid_indices(space: Any, archs: Sequence[str]) -> np.ndarray:
    """(n_archs, n_choices) option indices of each architecture of a GRID space."""
    if not space.supports(GRID):
        raise WsbenchError(f"space {space.name!r} is not a grid of choices: op bias needs one option per choice")
    return np.array([tuple(space.parse(a)) for a in archs], dtype=int)


def _op_bias_run(error: np.ndarray, idx: np.ndarray, choices: Sequence[Any]) -> dict[tuple[str, str], float]:
    """Mean error per (choice, option) used by at least one architecture."""
    out = {}
    for j, choice in enumerate(choices):
        for o, option in enumerate(choice.options):
            uses = idx[:, j] == o
            if uses.any():
                out[(choice.name, option)] = float(error[uses].mean())
    return out


def _per_op(run: Mapping[tuple[str, str], float], choices: Sequence[Any]) -> dict[str, float]:
    """Each op's mean per-choice error over the ``op`` choices where some scored cell uses it."""
    values: dict[str, list[float]] = {}
    for choice in choices:
        if choice.kind != "op":
            continue
        for option in choice.options:
            if (choice.name, option) in run:
                values.setdefault(option, []).append(run[(choice.name, option)])
    return {op: float(np.mean(v)) for op, v in values.items()}


def op_bias(group: GroupScores, space: Any) -> list[OpBias]:
    """One ``OpBias`` per ground truth of ``group``; ``space`` is the group's space object."""
    require_archs(group, "op bias")
    if not group.truths:
        raise WsbenchError(NO_TRUTH)
    idx = grid_indices(space, group.archs)
    choices = space.choices()
    options = tuple(dict.fromkeys(o for c in choices for o in c.options))
    out = []
    for label, true in group.truths.items():
        runs, counts = [], {}
        for est in final_vectors(group):
            keep = np.isfinite(est) & np.isfinite(true)
            runs.append(_op_bias_run(rank_error(est[keep], true[keep]), idx[keep], choices))
        for j, c in enumerate(choices):
            for o, option in enumerate(c.options):
                counts[(c.name, option)] = int((idx[:, j] == o).sum())
        keys = [k for k in counts if counts[k] > 0]
        per_op = [_per_op(r, choices) for r in runs]
        ops = [op for op in options if any(op in p for p in per_op)]
        out.append(
            OpBias(
                truth=label,
                choices=tuple(c.name for c in choices),
                options=options,
                cells={k: OverRuns.of([r.get(k, float("nan")) for r in runs]) for k in keys},
                counts=counts,
                per_op={op: OverRuns.of([p.get(op, float("nan")) for p in per_op]) for op in ops},
            )
        )
    return out


# --------------------------------------------------------------------------- isomorphism


@dataclass(frozen=True)
class IsomorphismCheck:
    """Do isomorphic cells among the scored architectures get equal scores (final snapshots)?"""

    n_archs: int
    n_classes: int  # isomorphism classes the scored architectures fall in
    n_multi: int  # of those, classes with more than one scored member
    n_in_multi: int  # scored architectures in such classes
    within_sd: OverRuns | None = None  # mean within-class sd of the scores (multi-member classes)
    overall_sd: OverRuns | None = None  # sd of the scores over all scored architectures
    ratio: OverRuns | None = None  # within_sd / overall_sd: 0 = isomorphic cells always score alike
    unequal_fraction: OverRuns | None = None  # share of multi-member classes whose scores are not all equal
    #: ground truth -> the same ratio on its values: how much training noise alone spreads a class.
    truth_ratio: dict[str, float] = field(default_factory=dict)

    @property
    def measurable(self) -> bool:
        """Whether any two scored cells are isomorphic (else nothing can be said)."""
        return self.n_multi > 0


@lru_cache(maxsize=4)
def _class_of(space_name: str) -> dict[str, int]:
    """arch id -> index of its isomorphism class, over the whole space."""
    space = space_named(space_name)
    return {space.arch_id(a): i for i, cls in enumerate(space.isomorphism_classes()) for a in cls}


def isomorphism_classes_of(space: Any, archs: Sequence[str]) -> np.ndarray:
    """The isomorphism-class index of each architecture (by its canonical id)."""
    if not space.supports(ISOMORPHISM):
        raise WsbenchError(f"space {space.name!r} defines no isomorphism classes")
    lookup = _class_of(space.name)
    return np.array([lookup[space.arch_id(a)] for a in archs], dtype=int)


def _spread(values: np.ndarray, classes: np.ndarray, multi: np.ndarray) -> tuple[float, float, float]:
    """(mean within-class sd over ``multi`` classes, overall sd, share of those classes not all equal)."""
    sds, unequal = [], []
    for c in multi:
        inside = values[classes == c]
        sds.append(float(inside.std()))
        unequal.append(float(np.ptp(inside) > 0))
    return float(np.mean(sds)), float(values.std()), float(np.mean(unequal))


def _ratio(within: float, overall: float) -> float:
    """within / overall sd (NaN when nothing varies)."""
    return within / overall if overall > 0 else float("nan")


def isomorphism_check(group: GroupScores, space: Any) -> IsomorphismCheck:
    """Within-class score spread of the group's final snapshots (``space``: the group's space object)."""
    require_archs(group, "isomorphism check", minimum=2)
    classes = isomorphism_classes_of(space, group.archs)
    ids, sizes = np.unique(classes, return_counts=True)
    multi = ids[sizes > 1]
    base = IsomorphismCheck(len(group.archs), int(ids.size), int(multi.size), int(sizes[sizes > 1].sum()))
    if multi.size == 0:
        return base
    finals = final_vectors(group)
    if not all(np.isfinite(v).all() for v in finals):
        # Final snapshots cover every arch by construction (``GroupScores.archs``); a NaN there is damage.
        raise WsbenchError("a final snapshot holds NaN scores: no isomorphism check")
    runs = [_spread(v, classes, multi) for v in finals]
    truth_ratio = {lbl: _ratio(*_spread(t, classes, multi)[:2]) for lbl, t in group.truths.items()}
    return replace(
        base,
        within_sd=OverRuns.of([r[0] for r in runs]),
        overall_sd=OverRuns.of([r[1] for r in runs]),
        ratio=OverRuns.of([_ratio(r[0], r[1]) for r in runs]),
        unequal_fraction=OverRuns.of([r[2] for r in runs]),
        truth_ratio=truth_ratio,
    )
