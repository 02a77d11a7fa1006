"""Picking the best vs pruning the worst, ranking inside a pruned space, and the best-found architecture.

Per strategy group and ground truth, from each run's final snapshot (mean ± sd over seeds in
``OverRuns``), every number from ``harness.metrics``:

* picking vs pruning over ``K_GRID``: hit@k (share of the true top k the estimator also puts in
  its top k) beside P@bottom-k (the same for the bottom k), BR@k beside WR@k (best / worst
  normalized true rank among the estimator's top k; 0 = true best). Chance is what a constant
  estimator scores under the metrics' exact tie expectation, i.e. a uniformly random pick
  (about k/n for the two shares, true ties included exactly).
* tau inside the space pruned by the estimator: keep the estimator's top x (every architecture
  scoring at least its ceil-x-th value, so boundary ties stay in) and compute Kendall tau there;
  beside it the tau inside ``RANDOM_DRAWS`` random subsets of the same size (generator seeded
  with ``CONTROL_SEED``), inside the TRUE top x (``kendall_tau_top``: the subset an oracle
  would keep) and over the full set. A subset narrows the range of true values, which alone
  lowers tau; the random control has the same size, so pruned vs random isolates what pruning
  by the estimator does.
* the best-found architecture (Zhang et al. 2020, "Deeper Insights into Weight Sharing in Neural
  Architecture Search": its variance across runs, not only tau's): the true normalized rank of
  the estimator's argmax at every snapshot of every run. Ties at the top: the exact expectation
  over a uniformly random tie-break (``br_at_k`` with k = 1), i.e. the mean over all tied.
  Architectures not scored at an earlier snapshot (NaN) cannot be picked there, but ranks stay
  relative to the whole archset, so every snapshot's value is on the same scale.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from harness import metrics as M
from harness.analysis.bias import OverRuns, final_vectors, finite_pair, require_archs
from harness.analysis.groups import GroupScores
from harness.api.errors import WsbenchError

#: Fractions k of the archset at which picking and pruning are compared. Not 50 %: there the bottom
#: half is the complement of the top half, so P@bottom equals hit@k by construction (no ties).
K_GRID = (0.01, 0.02, 0.05, 0.10, 0.20, 0.30)
#: Kept fractions of the pruned-space tau.
KEEP_GRID = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
#: Random same-size subsets per run and kept fraction (the control), and their generator's seed.
RANDOM_DRAWS = 20
CONTROL_SEED = 0
#: The k and kept fraction the one-line findings quote.
FINDING_K = 0.10
FINDING_KEEP = 0.5


# --------------------------------------------------------------------------- picking vs pruning


@dataclass(frozen=True)
class PickPrune:
    """hit@k, P@bottom-k, BR@k and WR@k over ``ks``, with what chance scores."""

    truth: str
    n_archs: int
    ks: tuple[float, ...]
    counts: tuple[int, ...]  # each k as a count of the archset
    hit: tuple[OverRuns, ...]
    bottom: tuple[OverRuns, ...]
    br: tuple[OverRuns, ...]
    wr: tuple[OverRuns, ...]
    chance_hit: tuple[float, ...]
    chance_bottom: tuple[float, ...]
    chance_br: tuple[float, ...]
    chance_wr: tuple[float, ...]

    def at(self, k: float) -> int:
        """Position of ``k`` in ``ks``."""
        if k not in self.ks:
            raise WsbenchError(f"k={k} is not on the grid {self.ks}")
        return self.ks.index(k)


#: The set metrics compared, by their field name in ``PickPrune``.
_SET_METRICS = {"hit": M.top_k_hit_rate, "bottom": M.p_at_bottom_k, "br": M.br_at_k, "wr": M.wr_at_k}


def _over_runs(metric: Callable[..., float], runs: list[tuple[np.ndarray, np.ndarray]], k: float) -> OverRuns:
    """``metric`` at ``k`` for each run."""
    return OverRuns.of([metric(e, t, k) for e, t in runs])


def _chance(metric: Callable[..., float], true: np.ndarray, k: float) -> float:
    """The metric of a constant estimator: its exact tie expectation is a uniformly random pick."""
    return metric(np.zeros_like(true), true, k)


def picking_vs_pruning(group: GroupScores, ks: Sequence[float] = K_GRID) -> list[PickPrune]:
    """One ``PickPrune`` per ground truth of ``group``."""
    require_archs(group, "picking vs pruning")
    out = []
    for label, true in group.truths.items():
        runs = [finite_pair(e, true) for e in final_vectors(group)]
        metrics = {name: [_over_runs(fn, runs, k) for k in ks] for name, fn in _SET_METRICS.items()}
        chance = {name: [_chance(fn, true[np.isfinite(true)], k) for k in ks] for name, fn in _SET_METRICS.items()}
        out.append(
            PickPrune(
                truth=label,
                n_archs=len(group.archs),
                ks=tuple(ks),
                counts=tuple(M.resolve_k(k, true.size) for k in ks),
                hit=tuple(metrics["hit"]),
                bottom=tuple(metrics["bottom"]),
                br=tuple(metrics["br"]),
                wr=tuple(metrics["wr"]),
                chance_hit=tuple(chance["hit"]),
                chance_bottom=tuple(chance["bottom"]),
                chance_br=tuple(chance["br"]),
                chance_wr=tuple(chance["wr"]),
            )
        )
    return out


def _gap_qualifier(gaps: OverRuns) -> str:
    """How much the seeds agree on a per-run difference."""
    if len(gaps.finite) < 2:
        return " (one run: no spread over seeds)"
    return " (the gap is within one sd over seeds)" if abs(gaps.mean) <= gaps.sd else " (by more than one sd over seeds)"


def pruning_finding(pp: PickPrune, k: float = FINDING_K) -> str:
    """One line: is the estimator better at pruning the worst than at picking the best, each vs chance?"""
    i = pp.at(k)
    hit, bottom = pp.hit[i], pp.bottom[i]
    lift_hit = np.asarray(hit.values) - pp.chance_hit[i]
    lift_bottom = np.asarray(bottom.values) - pp.chance_bottom[i]
    gaps = OverRuns.of(lift_bottom - lift_hit)
    numbers = (
        f"P@bottom{k:.0%} {_pm(bottom)} (chance {pp.chance_bottom[i]:.3f}) vs hit@{k:.0%} {_pm(hit)} "
        f"(chance {pp.chance_hit[i]:.3f})"
    )
    if np.nanmean(lift_hit) <= 0 and np.nanmean(lift_bottom) <= 0:
        return f"{numbers}: no better than chance at either"
    if gaps.mean > 0:
        verdict = "better at pruning the worst than at picking the best"
    elif gaps.mean < 0:
        verdict = "better at picking the best than at pruning the worst"
    else:
        verdict = "as good at pruning the worst as at picking the best"
    return f"{numbers}: {verdict}{_gap_qualifier(gaps)}"


def _pm(v: OverRuns) -> str:
    """mean ± sd over seeds (the mean alone for one run)."""
    return f"{v.mean:.3f}" if not np.isfinite(v.sd) else f"{v.mean:.3f} ± {v.sd:.3f}"


# --------------------------------------------------------------------------- pruned-space tau


@dataclass(frozen=True)
class PrunedTau:
    """Kendall tau inside the estimator's top x, inside random subsets of that size, inside the true top x."""

    truth: str
    n_archs: int
    keep: tuple[float, ...]
    pruned: tuple[OverRuns, ...]
    random: tuple[OverRuns, ...]  # per run: the mean over RANDOM_DRAWS subsets
    oracle: tuple[OverRuns, ...]  # kendall_tau_top: inside the true top x
    full: OverRuns

    def at(self, x: float) -> int:
        """Position of ``x`` in ``keep``."""
        if x not in self.keep:
            raise WsbenchError(f"kept fraction {x} is not on the grid {self.keep}")
        return self.keep.index(x)


def estimator_top(est: np.ndarray, frac: float) -> np.ndarray:
    """Mask of the estimator's top ``frac``: every architecture scoring at least the k-th value (ties stay in)."""
    k = M.resolve_k(frac, est.size)
    kth = np.partition(est, est.size - k)[est.size - k]
    return est >= kth


def _tau_inside(est: np.ndarray, true: np.ndarray, mask: np.ndarray) -> float:
    """Kendall tau over the masked architectures (NaN with fewer than 2)."""
    return M.kendall_tau(est[mask], true[mask]) if mask.sum() >= 2 else float("nan")


def _random_tau(est: np.ndarray, true: np.ndarray, size: int, rng: np.random.Generator) -> float:
    """Mean tau inside ``RANDOM_DRAWS`` uniformly random subsets of ``size`` architectures."""
    taus = []
    for _ in range(RANDOM_DRAWS):
        mask = np.zeros(est.size, dtype=bool)
        mask[rng.choice(est.size, size=size, replace=False)] = True
        taus.append(_tau_inside(est, true, mask))
    return float(np.nanmean(taus)) if np.isfinite(taus).any() else float("nan")


def pruned_tau(group: GroupScores, keep: Sequence[float] = KEEP_GRID) -> list[PrunedTau]:
    """One ``PrunedTau`` per ground truth of ``group``."""
    require_archs(group, "pruned-space tau")
    out = []
    for label, true in group.truths.items():
        # One generator per (group, truth), seeded: the control does not depend on what ran before.
        rng = np.random.default_rng(CONTROL_SEED)
        runs = [finite_pair(e, true) for e in final_vectors(group)]
        pruned, random, oracle = [], [], []
        for x in keep:
            masks = [estimator_top(e, x) for e, _ in runs]
            pruned.append(OverRuns.of([_tau_inside(e, t, m) for (e, t), m in zip(runs, masks)]))
            random.append(OverRuns.of([_random_tau(e, t, int(m.sum()), rng) for (e, t), m in zip(runs, masks)]))
            oracle.append(OverRuns.of([M.kendall_tau_top(e, t, float(x)) for e, t in runs]))
        out.append(
            PrunedTau(
                truth=label,
                n_archs=len(group.archs),
                keep=tuple(keep),
                pruned=tuple(pruned),
                random=tuple(random),
                oracle=tuple(oracle),
                full=OverRuns.of([M.kendall_tau(e, t) for e, t in runs]),
            )
        )
    return out


def pruned_finding(pt: PrunedTau, x: float = FINDING_KEEP) -> str:
    """One line: is the estimator's top x easier or harder to rank than a random subset of that size?"""
    i = pt.at(x)
    pruned, random = pt.pruned[i], pt.random[i]
    gaps = OverRuns.of(np.asarray(pruned.values) - np.asarray(random.values))
    numbers = (
        f"tau inside the estimator's top {x:.0%} {_pm(pruned)} vs a random {x:.0%} {_pm(random)} "
        f"(true top {x:.0%}: {_pm(pt.oracle[i])}; full set {_pm(pt.full)})"
    )
    if not np.isfinite(gaps.mean):
        return f"{numbers}: undefined"
    word = "easier" if gaps.mean > 0 else "harder" if gaps.mean < 0 else "as easy"
    return f"{numbers}: the pruned space is {word} to rank than a random one of the same size{_gap_qualifier(gaps)}"


# --------------------------------------------------------------------------- best-found architecture


@dataclass(frozen=True)
class RunPicks:
    """One run's best-found architecture at each snapshot: its true normalized rank (0 = true best)."""

    seed: int
    epochs: tuple[int, ...]
    ranks: tuple[float, ...]
    tied: tuple[int, ...]  # architectures tied at the estimator's top (the rank is their mean)


@dataclass(frozen=True)
class BestFound:
    """The best-found architecture's true rank across snapshots and seeds."""

    truth: str
    n_archs: int
    runs: tuple[RunPicks, ...]
    chance: float  # a uniformly random pick (mean normalized true rank)
    params_pick: float | None  # the largest network's (the params baseline's pick), for reference

    @property
    def final(self) -> OverRuns:
        """Each run's final-snapshot value (the spread across seeds)."""
        return OverRuns.of([r.ranks[-1] for r in self.runs])

    @property
    def pooled(self) -> tuple[float, ...]:
        """Every (run, snapshot) value."""
        return tuple(v for r in self.runs for v in r.ranks)


def pick_rank(est: np.ndarray, true: np.ndarray) -> float:
    """True normalized rank (0 = true best) of the estimator's argmax over the scored archs; ties: their mean."""
    scored = np.isfinite(est)
    if not scored.any():
        return float("nan")
    # Unscored architectures go below every scored one, so they are never picked while the
    # rank stays relative to the whole archset (comparable across snapshots).
    filled = np.where(scored, est, np.nanmin(est) - 1.0)
    return M.br_at_k(filled, true, 1)


def _tied_at_top(est: np.ndarray) -> int:
    """How many architectures share the estimator's top score."""
    return int((est == np.nanmax(est)).sum()) if np.isfinite(est).any() else 0


def _run_picks(seed: int, snapshots: dict[int, np.ndarray], true: np.ndarray) -> RunPicks:
    """One run's pick at each snapshot, ranked over the architectures with a true value."""
    epochs = tuple(sorted(snapshots))
    finite_true = np.isfinite(true)
    vectors = [np.asarray(snapshots[e], dtype=float)[finite_true] for e in epochs]
    return RunPicks(
        seed=seed,
        epochs=epochs,
        ranks=tuple(pick_rank(v, true[finite_true]) for v in vectors),
        tied=tuple(_tied_at_top(v) for v in vectors),
    )


def best_found(group: GroupScores, params: np.ndarray | None = None) -> list[BestFound]:
    """One ``BestFound`` per ground truth of ``group``; ``params`` (per arch) adds the params pick."""
    require_archs(group, "best-found rank", minimum=2)
    out = []
    for label, true in group.truths.items():
        keep = np.isfinite(true)
        out.append(
            BestFound(
                truth=label,
                n_archs=len(group.archs),
                runs=tuple(_run_picks(r.seed, r.snapshots, true) for r in group.runs),
                chance=M.br_at_k(np.zeros(int(keep.sum())), true[keep], 1),
                params_pick=M.br_at_k(params[keep], true[keep], 1) if params is not None else None,
            )
        )
    return out
