"""Ranking metrics that compare estimator scores with ground truth over the same architectures.

Conventions shared by every metric here:

* ``est`` and ``true`` are 1-D float arrays of equal length ``n >= 2``, element ``i`` of each
  describing the same architecture, and both are oriented so that HIGHER IS BETTER. Callers
  holding losses, errors or latencies must negate them first (``-loss``).
* Ties mean exactly equal floats. Correlations use the standard tie corrections (tau-b,
  average ranks for Spearman). The set metrics (hit rate, P@bottom, BR, WR) treat ties on the
  two sides differently, on purpose:

  - Ties in ``true`` are architectures that are equally good, so all of them belong to the
    true top-k: the true top-k set is every architecture whose true value is >= the k-th
    largest true value (it can hold more than k members).
  - Ties in ``est`` mean the estimator cannot decide, so its top-k is a uniformly random
    choice among the architectures tied at its k-th place, and the metric reports the EXACT
    EXPECTATION over that choice. The result is deterministic, never depends on array order
    or on a sort implementation, and a constant estimator scores what chance would.

* ``k`` is an int count in ``[1, n]`` or a float fraction in ``(0, 1]``; a fraction becomes
  ``k = max(1, floor(frac * n + 0.5))`` (round half up, not Python's round-half-even).
* A correlation involving a constant input is undefined and returns ``nan`` (no warning),
  so one degenerate estimator does not abort a whole results table.

Each metric is declared once, as a ``MetricSpec`` in ``_SPECS``: its function and fixed kwargs, its
direction and description, how its per-run values aggregate over seeds and snapshots (``Over``) and
where it shows (``shows``: places from ``PLACES``, each read by one consumer: the report's summary
columns, table, figures and intervals, the regression check, ``wsbench gt``). Consumers ask
``shown_in(place)``; adding a metric is adding one spec.

This module sits below the engine and the analyses: it imports numpy, scipy and the error types only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import scipy.stats

from harness.api.errors import WsbenchError, unknown

__all__ = [
    "METRICS",
    "PLACES",
    "STANDARD_METRICS",
    "MetricSpec",
    "Over",
    "bootstrap_ci",
    "br_at_k",
    "compute_all",
    "headline",
    "kendall_tau",
    "kendall_tau_top",
    "mean_offdiag",
    "mean_sd",
    "names_shown",
    "p_at_bottom_k",
    "pairwise_kendall",
    "pearson_r",
    "resolve_k",
    "shown_in",
    "spearman_rho",
    "top_k_hit_rate",
    "wr_at_k",
]

Array = np.ndarray
K = int | float

# Bootstrap resamples scored at once by the batched correlations; bounds memory to
# roughly _BATCH_ELEMS * 8 bytes per temporary array.
_BATCH_ELEMS = 4_000_000


# --------------------------------------------------------------------------- validation


def _as_scores(x: Any, name: str) -> Array:
    """``x`` as a 1-D float array of finite scores, or a one-line error naming ``name``."""
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise WsbenchError(f"{name} must be numeric scores, could not convert: {exc}") from None
    if arr.ndim != 1:
        raise WsbenchError(f"{name} must be a 1-D array of scores, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise WsbenchError(
            f"{name} has a non-finite value ({arr[bad]}) at index {bad}; drop or impute those architectures before scoring"
        )
    return arr


def _check_pair(est: Any, true: Any) -> tuple[Array, Array]:
    """Both score vectors checked: finite, 1-D, the same length, at least 2."""
    e, t = _as_scores(est, "est"), _as_scores(true, "true")
    if e.shape != t.shape:
        raise WsbenchError(f"est has {e.size} scores but true has {t.size}; pass one score per architecture in each")
    if e.size < 2:
        raise WsbenchError(f"ranking metrics need at least 2 architectures, got {e.size}")
    return e, t


def resolve_k(k: K, n: int) -> int:
    """Turn an int count or a float fraction of ``n`` (round half up, at least 1) into a count."""
    if isinstance(k, (bool, np.bool_)):
        raise WsbenchError(f"k must be an int count or a float fraction, got bool {k!r}")
    if isinstance(k, (int, np.integer)):
        if not 1 <= k <= n:
            raise WsbenchError(f"k={int(k)} is out of range for {n} architectures; use 1 <= k <= {n}")
        return int(k)
    if isinstance(k, (float, np.floating)):
        if not (math.isfinite(k) and 0.0 < k <= 1.0):
            raise WsbenchError(f"a float k is a fraction and must lie in (0, 1], got {k!r}; pass an int for a count")
        # The tiny epsilon keeps products such as 0.29 * 100 = 28.999999999999996 from
        # rounding the wrong way at exact halves; it cannot move any other value.
        return max(1, min(n, math.floor(float(k) * n + 0.5 + 1e-9)))
    raise WsbenchError(f"k must be an int count or a float fraction, got {type(k).__name__}")


# --------------------------------------------------------------------------- correlations


def _pearson_rows(x: Array, y: Array) -> Array:
    """Row-wise Pearson r of two (m, n) arrays; nan for rows where either side is constant."""
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    denom = np.sqrt(np.einsum("ij,ij->i", xc, xc) * np.einsum("ij,ij->i", yc, yc))
    num = np.einsum("ij,ij->i", xc, yc)
    # Exact constancy, not a small variance, is what makes the correlation undefined.
    const = (np.ptp(x, axis=1) == 0) | (np.ptp(y, axis=1) == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.clip(num / denom, -1.0, 1.0)
    r[const] = np.nan
    return r


def _spearman_rows(x: Array, y: Array) -> Array:
    """Row-wise Spearman rho: Pearson r of the average ranks."""
    return _pearson_rows(
        scipy.stats.rankdata(x, axis=1, method="average"),
        scipy.stats.rankdata(y, axis=1, method="average"),
    )


def pearson_r(est: Any, true: Any) -> float:
    """Pearson linear correlation of ``est`` and ``true`` (nan when either is constant)."""
    e, t = _check_pair(est, true)
    return float(_pearson_rows(e[None, :], t[None, :])[0])


def spearman_rho(est: Any, true: Any) -> float:
    """Spearman rank correlation: Pearson r of the average ranks (ties share their mean rank)."""
    e, t = _check_pair(est, true)
    return float(_spearman_rows(e[None, :], t[None, :])[0])


def _tau_b(e: Array, t: Array) -> float:
    """Kendall tau-b of two checked vectors (nan when either is constant)."""
    if np.ptp(e) == 0 or np.ptp(t) == 0:
        return float("nan")
    return float(scipy.stats.kendalltau(e, t, variant="b").statistic)


def kendall_tau(est: Any, true: Any) -> float:
    """Kendall tau-b (scipy's variant 'b'): (C - D) / sqrt((P - Te)(P - Tt)) over all pairs.

    C / D count concordant / discordant pairs, P = n(n-1)/2, and Te / Tt count pairs tied in
    ``est`` / ``true``. Runs in O(n log n). nan when either input is constant.
    """
    e, t = _check_pair(est, true)
    return _tau_b(e, t)


# --------------------------------------------------------------------------- set metrics


def _true_top_mask(t: Array, k: int) -> Array:
    """Members of the true top-k, ties at the k-th value included (so possibly more than k)."""
    kth = np.partition(t, t.size - k)[t.size - k]
    return t >= kth


def _est_top(e: Array, k: int) -> tuple[Array, Array, int]:
    """Split the estimator's top-k into sure members, tied candidates, and how many to draw."""
    kth = np.partition(e, e.size - k)[e.size - k]
    sure = e > kth
    tied = e == kth
    return sure, tied, k - int(sure.sum())


def _est_inclusion(e: Array, k: int) -> Array:
    """Probability that each architecture is in the estimator's top-k under random tie-breaks."""
    sure, tied, draw = _est_top(e, k)
    return sure + tied * (draw / tied.sum())


def top_k_hit_rate(est: Any, true: Any, k: K) -> float:
    """Fraction of the true top-k that the estimator also puts in its top-k, in [0, 1].

    Equals ``E|S_est ∩ S_true| / k``: ``S_true`` holds every architecture whose true value is
    at least the k-th largest (true ties all count as hits); ``S_est`` is the estimator's
    top-k with ties at its k-th place broken uniformly at random, and the expectation over
    that choice is computed exactly. ``k``: int count or float fraction (see ``resolve_k``).
    """
    e, t = _check_pair(est, true)
    kk = resolve_k(k, e.size)
    return float(_est_inclusion(e, kk)[_true_top_mask(t, kk)].sum() / kk)


def p_at_bottom_k(est: Any, true: Any, k: K) -> float:
    """Fraction of the true bottom-k that the estimator also puts in its bottom-k (mirror of hit rate)."""
    e, t = _check_pair(est, true)
    return top_k_hit_rate(-e, -t, k)


def _normalized_true_rank(t: Array) -> Array:
    """Share of the other n-1 architectures strictly better in truth: 0 = best, 1 = sole worst."""
    # searchsorted on the ascending values counts, for each value, how many are <= it.
    not_better = np.searchsorted(np.sort(t), t, side="right")
    return (t.size - not_better) / (t.size - 1)


def _expected_min_of_topk(values: Array, e: Array, k: int) -> float:
    """E[min of ``values`` over the estimator's top-k], ties in ``e`` broken uniformly at random."""
    sure, tied, draw = _est_top(e, k)
    fixed = values[sure].min() if sure.any() else np.inf
    w = np.sort(values[tied])
    m = w.size
    if draw == m:
        return float(min(fixed, w[0]))
    # For a uniform draw of `draw` items out of m, P(smallest drawn has sorted position >= j)
    # is C(m-j+1, draw) / C(m, draw); successive ratios are (m-j+1-draw)/(m-j+1), so a
    # cumulative product gives the whole survival curve without huge binomials.
    j = np.arange(1, m)
    ratios = np.maximum(m - j + 1 - draw, 0) / (m - j + 1)
    survival = np.concatenate(([1.0], np.cumprod(ratios), [0.0]))
    prob = survival[:-1] - survival[1:]
    return float(np.dot(prob, np.minimum(w, fixed)))


def br_at_k(est: Any, true: Any, k: K) -> float:
    """Best normalized true rank among the estimator's top-k (0 = it found the true best).

    Normalized true rank of architecture i = #{j : true_j > true_i} / (n - 1), so 0 is the
    true best (all tied-best share 0) and 1 the unique true worst. Ties in ``est`` at the
    k-th place: exact expectation over uniformly random tie-breaks. Lower is better.
    """
    e, t = _check_pair(est, true)
    kk = resolve_k(k, e.size)
    return _expected_min_of_topk(_normalized_true_rank(t), e, kk)


def wr_at_k(est: Any, true: Any, k: K) -> float:
    """Worst normalized true rank among the estimator's top-k (definitions as in ``br_at_k``)."""
    e, t = _check_pair(est, true)
    kk = resolve_k(k, e.size)
    return -_expected_min_of_topk(-_normalized_true_rank(t), e, kk)


def kendall_tau_top(est: Any, true: Any, frac: float = 0.1) -> float:
    """Kendall tau-b restricted to the true top ``frac`` of architectures.

    The subset is the true top-k with k = max(2, floor(frac * n + 0.5)) (at least one pair),
    true ties at the k-th value included. nan when ``est`` is constant on that subset.
    """
    e, t = _check_pair(est, true)
    if isinstance(frac, (bool, np.bool_)) or not isinstance(frac, (float, np.floating)):
        raise WsbenchError(f"frac must be a float fraction in (0, 1], got {frac!r}")
    kk = max(2, resolve_k(frac, e.size))
    keep = _true_top_mask(t, kk)
    return _tau_b(e[keep], t[keep])


# --------------------------------------------------------------------------- bootstrap


def _resampled_avg_ranks(x: Array, idx: Array) -> Array:
    """Average ranks of each row of ``x[idx]`` without sorting every resample.

    A resample only repeats original values, so counting how often each distinct original
    value is drawn (one offset bincount over all rows) gives every rank in O(n) per row.
    """
    uniq, dense = np.unique(x, return_inverse=True)
    u = uniq.size
    rows = idx.shape[0]
    codes = dense[idx] + (np.arange(rows) * u)[:, None]
    counts = np.bincount(codes.ravel(), minlength=rows * u).reshape(rows, u)
    below = np.cumsum(counts, axis=1) - counts
    avg = (below + (counts + 1) / 2.0).ravel()
    return avg[codes]


def _spearman_resampled(e: Array, t: Array, idx: Array) -> Array:
    """Spearman rho of every resample (rows of ``idx``)."""
    return _pearson_rows(_resampled_avg_ranks(e, idx), _resampled_avg_ranks(t, idx))


def _pearson_resampled(e: Array, t: Array, idx: Array) -> Array:
    """Pearson r of every resample (rows of ``idx``)."""
    return _pearson_rows(e[idx], t[idx])


#: Up to this many architectures the bootstrap computes Kendall tau from pair-sign matrices, many
#: resamples at once; above it scipy's O(n log n) per resample is the faster.
_PAIRWISE_TAU_MAX_N = 300


def _kendall_resampled(e: Array, t: Array, idx: Array) -> Array:
    """Kendall tau-b of every resample: sum(sign products) / sqrt(untied pairs in e x untied pairs in t)."""
    n = idx.shape[1]
    if n > _PAIRWISE_TAU_MAX_N:
        return np.array([_tau_b(e[i], t[i]) for i in idx])
    out = np.empty(idx.shape[0])
    rows = max(1, _BATCH_ELEMS // (n * n))
    for start in range(0, idx.shape[0], rows):
        ei, ti = e[idx[start : start + rows]], t[idx[start : start + rows]]
        se = np.sign(ei[:, :, None] - ei[:, None, :])
        st = np.sign(ti[:, :, None] - ti[:, None, :])
        # Both sums run over ordered pairs (each pair twice), so the factor 2 cancels.
        num = (se * st).sum(axis=(1, 2))
        den = np.sqrt(np.count_nonzero(se, axis=(1, 2)).astype(float) * np.count_nonzero(st, axis=(1, 2)))
        out[start : start + rows] = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return out


# Metrics with a batched bootstrap path: (est, true, index rows) -> one value per row.
_BATCHED: dict[Callable[..., float], Callable[[Array, Array, Array], Array]] = {
    pearson_r: _pearson_resampled,
    spearman_rho: _spearman_resampled,
    kendall_tau: _kendall_resampled,
}


def _estimator_rows(est: Any, true: Any) -> tuple[Array, Array]:
    """``est`` as rows (one per run) checked against ``true``; a 1-D ``est`` is one row."""
    try:
        arr = np.asarray(est, dtype=float)
    except (TypeError, ValueError):
        arr = None  # not numeric (or ragged): _check_pair says what is wrong
    if arr is not None and arr.ndim == 2 and arr.shape[0] >= 1:
        pairs = [_check_pair(row, true) for row in arr]
        return np.stack([p[0] for p in pairs]), pairs[0][1]
    e, t = _check_pair(est, true)
    return e[None, :], t


def bootstrap_ci(
    metric: Callable[..., float] | MetricSpec,
    est: Any,
    true: Any,
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    **kwargs: Any,
) -> tuple[float, float]:
    """Percentile bootstrap (1 - alpha) interval of ``metric`` over resampled architectures.

    Each resample draws n architectures with replacement (``numpy.random.default_rng(seed)``,
    its own stream, so the same seed gives the same interval). ``kwargs`` go to ``metric``;
    a fraction k is re-resolved on each resample, which has the same n, so it equals the
    original k. Duplicated architectures are exact ties, handled as each metric documents.
    Resamples where the metric is undefined (nan, e.g. a constant resample) are dropped.

    ``est`` may also be 2-D (runs x architectures, e.g. one row per seed): each resample then draws
    the same architectures for every run and the statistic is the mean of the runs' metrics (runs
    where it is undefined left out), so the interval covers a seed mean.
    """
    runs, t = _estimator_rows(est, true)
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 2:
        raise WsbenchError(f"n_resamples must be an int >= 2, got {n_resamples!r}")
    if not (isinstance(alpha, (float, int)) and 0.0 < alpha < 1.0):
        raise WsbenchError(f"alpha must lie in (0, 1), e.g. 0.05 for a 95% interval, got {alpha!r}")
    rng = np.random.default_rng(seed)
    n = t.size
    fn: Callable[..., float] = metric
    if isinstance(metric, MetricSpec):  # a registry entry: its function and fixed kwargs
        fn, kwargs = metric.function, {**metric.kwargs, **kwargs}
    # Identity lookup: only the plain functions are batched.
    batched = None if kwargs else next((b for f, b in _BATCHED.items() if f is fn), None)
    stats = np.empty(int(n_resamples))
    rows = max(1, _BATCH_ELEMS // n)
    for start in range(0, int(n_resamples), rows):
        stop = min(start + rows, int(n_resamples))
        # Index draws are made chunk by chunk in a fixed order, so the values depend only on
        # the seed and n_resamples, not on whether the metric is batched.
        idx = rng.integers(0, n, size=(stop - start, n))
        if batched is not None:
            per_run = np.stack([batched(e, t, idx) for e in runs])
        else:
            per_run = np.array([[fn(e[i], t[i], **kwargs) for i in idx] for e in runs])
        stats[start:stop] = _mean_defined(per_run)
    stats = stats[~np.isnan(stats)]
    if stats.size == 0:
        return float("nan"), float("nan")
    low, high = np.percentile(stats, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(low), float(high)


def _mean_defined(per_run: Array) -> Array:
    """Column means over the runs whose value is defined; nan where none is."""
    defined = ~np.isnan(per_run)
    total = np.where(defined, per_run, 0.0).sum(axis=0)
    count = defined.sum(axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


# --------------------------------------------------------------------------- stability


def pairwise_kendall(rankings: Sequence[Any]) -> Array:
    """Symmetric (m, m) matrix of Kendall tau-b between m score vectors (e.g. epochs or seeds)."""
    if len(rankings) < 1:
        raise WsbenchError("pairwise_kendall needs at least one score vector")
    vecs = [_as_scores(r, f"rankings[{i}]") for i, r in enumerate(rankings)]
    n = vecs[0].size
    for i, v in enumerate(vecs):
        if v.size != n:
            raise WsbenchError(f"rankings[{i}] has {v.size} scores but rankings[0] has {n}; score the same architectures")
    if n < 2:
        raise WsbenchError(f"ranking metrics need at least 2 architectures, got {n}")
    m = len(vecs)
    out = np.empty((m, m))
    for i in range(m):
        out[i, i] = 1.0 if np.ptp(vecs[i]) > 0 else np.nan
        for j in range(i + 1, m):
            out[i, j] = out[j, i] = _tau_b(vecs[i], vecs[j])
    return out


def mean_offdiag(matrix: Any) -> float:
    """Mean of the off-diagonal entries of a square matrix (nan propagates, by design)."""
    a = np.asarray(matrix, dtype=float)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < 2:
        raise WsbenchError(f"mean_offdiag needs a square matrix of size >= 2, got shape {a.shape}")
    return float(a[~np.eye(a.shape[0], dtype=bool)].mean())


# --------------------------------------------------------------------------- declarations


def mean_sd(values: Any) -> tuple[float, float]:
    """Mean and sample sd (ddof=1; nan for fewer than 2 values) of a sequence."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else float("nan")


@dataclass(frozen=True)
class Over:
    """How a metric's per-run values become a report's numbers."""

    #: Final snapshot, across seeds: (centre, spread) of the per-run values (the summary table's mean and sd).
    seeds: Callable[[Any], tuple[float, float]] = mean_sd
    #: Also within each run over its last K snapshots: ``seeds`` per run, both averaged over the runs.
    last_k: bool = False
    #: Also at every snapshot epoch across seeds (mean, sd, min, max): the report's ``<column>-vs-epoch`` figure.
    epochs: bool = False


#: The final snapshot only.
FINAL = Over()
#: The final snapshot, the last K within a run, and every epoch.
TRACKED = Over(last_k=True, epochs=True)

# Where a metric shows: each place is read by exactly one consumer, named here.
HEADLINE = "headline"
SUMMARY = "summary"
TABLE = "table"
HIT_PLOT = "hit_plot"
INTERVAL = "interval"
REGRESSION = "regression"
GT = "gt"
GT_INTERVAL = "gt_interval"
GT_BASELINE = "gt_baseline"
GT_BASELINE_INTERVAL = "gt_baseline_interval"

#: Every place a spec may name in ``shows``, with what it means there.
PLACES: Mapping[str, str] = MappingProxyType(
    {
        HEADLINE: "the report's main metric (exactly one, also in summary): the first columns of its table and CSV, "
        "the verdicts against params, the tau of the score-vs-truth figure (harness.analysis.report, plots)",
        SUMMARY: "<column>_mean / <column>_sd of the stability table and report CSV, for supernets, baselines, params "
        "and ceiling rows (harness.analysis.summary_rows)",
        TABLE: "a column of the report's Markdown table, mean ± sd over seeds (harness.analysis.summary_table)",
        HIT_PLOT: "a bar group of the report's hit-rate figure (harness.analysis.plots)",
        INTERVAL: "a 95 % bootstrap interval in the report's interval section and CSV (harness.analysis.analyses.intervals)",
        REGRESSION: "tracked per seed by `wsbench regression` (harness.run.regression)",
        GT: "a column of `wsbench gt`'s agreement table; columns go correlations, metrics at a count k, metrics at a "
        "fraction k (harness.analysis.gt_report)",
        GT_INTERVAL: "with a bootstrap interval in that table (one stream per metric: seed, seed + 1, ...)",
        GT_BASELINE: "a column of `wsbench gt --baselines`' table, ordered as the agreement table",
        GT_BASELINE_INTERVAL: "with a bootstrap interval in that table",
    }
)
#: A place that builds on another needs that one too (the report's table and figures read the summary columns).
_NEEDS = {HEADLINE: SUMMARY, TABLE: SUMMARY, HIT_PLOT: SUMMARY, GT_INTERVAL: GT, GT_BASELINE_INTERVAL: GT_BASELINE}


@dataclass(frozen=True)
class MetricSpec:
    """A named metric: its function and fixed kwargs, direction, description, aggregation and where it shows."""

    name: str
    function: Callable[..., float]
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    higher_is_better: bool = True
    description: str = ""
    over: Over = FINAL
    shows: frozenset[str] = frozenset()
    column: str = ""  # prefix of its report CSV columns (default: the name)
    header: str = ""  # its Markdown column header (default: the name)

    def __call__(self, est: Any, true: Any) -> float:
        """Evaluate the metric on one pair of score vectors."""
        return self.function(est, true, **self.kwargs)

    def count_k(self) -> int | None:
        """The integer k of a count-based metric (to skip it when k >= n), else None."""
        k = self.kwargs.get("k")
        return int(k) if isinstance(k, (int, np.integer)) and not isinstance(k, bool) else None

    def shown_in(self, place: str) -> bool:
        """Whether the spec declares ``place``."""
        return place in self.shows


def _spec(
    name: str,
    fn: Callable[..., float],
    desc: str,
    hib: bool = True,
    over: Over = FINAL,
    shows: Sequence[str] = (),
    column: str = "",
    header: str = "",
    **kw: Any,
) -> MetricSpec:
    """One declaration; ``kw`` are the function's fixed kwargs."""
    return MetricSpec(name, fn, MappingProxyType(dict(kw)), hib, desc, over, frozenset(shows), column or name, header or name)


_REPORT = (SUMMARY, TABLE, HIT_PLOT)  # a hit rate's three places in the report

_SPECS = [
    _spec("kendall_tau", kendall_tau, "Kendall tau-b over all architectures", over=TRACKED, column="tau", header="Kendall tau",
          shows=(HEADLINE, SUMMARY, INTERVAL, REGRESSION, GT, GT_INTERVAL, GT_BASELINE, GT_BASELINE_INTERVAL)),
    _spec("spearman_rho", spearman_rho, "Spearman rank correlation", header="Spearman",
          shows=(SUMMARY, INTERVAL, REGRESSION, GT, GT_BASELINE)),
    _spec("pearson_r", pearson_r, "Pearson linear correlation of the raw scores"),
    _spec("hit@1%", top_k_hit_rate, "share of the true top 1% also in the estimator's top 1%", k=0.01, shows=_REPORT),
    _spec("hit@5%", top_k_hit_rate, "share of the true top 5% also in the estimator's top 5%", k=0.05,
          shows=(*_REPORT, INTERVAL, GT)),
    _spec("hit@10%", top_k_hit_rate, "share of the true top 10% also in the estimator's top 10%", k=0.10,
          shows=(*_REPORT, INTERVAL, REGRESSION, GT, GT_BASELINE)),
    _spec("hit@10", top_k_hit_rate, "share of the true top 10 also in the estimator's top 10", k=10, shows=(GT,)),
    _spec("hit@50", top_k_hit_rate, "share of the true top 50 also in the estimator's top 50", k=50, shows=(GT,)),
    _spec("hit@100", top_k_hit_rate, "share of the true top 100 in the estimator's top 100", k=100, shows=(GT, GT_INTERVAL)),
    _spec("p_bottom@10%", p_at_bottom_k, "share of the true bottom 10% in the estimator's bottom 10%", k=0.10,
          shows=(INTERVAL,)),
    _spec("br@1%", br_at_k, "best normalized true rank in the estimator's top 1%", False, k=0.01, header="BR@1%",
          shows=(SUMMARY, TABLE, INTERVAL, REGRESSION, GT, GT_BASELINE)),
    _spec("wr@1%", wr_at_k, "worst normalized true rank in the estimator's top 1%", False, k=0.01),
    _spec("tau_top10%", kendall_tau_top, "Kendall tau-b within the true top 10%", frac=0.10, header="tau top10%",
          shows=(SUMMARY, TABLE)),
]  # fmt: skip


def _check_declarations(specs: Sequence[MetricSpec]) -> None:
    """Refuse declarations no consumer can follow (a programming error, raised at import)."""
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate metric names in {names}")
    for s in specs:
        unknown_places = sorted(s.shows - set(PLACES))
        if unknown_places:
            raise ValueError(f"metric {s.name!r} shows in unknown places {unknown_places}; known: {sorted(PLACES)}")
        for place, needed in _NEEDS.items():
            if place in s.shows and needed not in s.shows:
                raise ValueError(f"metric {s.name!r} shows in {place!r}, which needs {needed!r} too")
    heads = [s.name for s in specs if HEADLINE in s.shows]
    if len(heads) != 1:
        raise ValueError(f"exactly one metric must be the headline, got {heads}")


_check_declarations(_SPECS)

#: Every known metric by its stable name (names are table column headers elsewhere).
METRICS: Mapping[str, MetricSpec] = MappingProxyType({s.name: s for s in _SPECS})
#: The default set and column order used by ``compute_all``.
STANDARD_METRICS: tuple[str, ...] = tuple(s.name for s in _SPECS)


def shown_in(place: str) -> tuple[MetricSpec, ...]:
    """The specs that declare ``place``, in declaration order."""
    if place not in PLACES:
        raise unknown("metric place", place, PLACES)
    return tuple(s for s in _SPECS if place in s.shows)


def names_shown(place: str) -> tuple[str, ...]:
    """The names of the specs that declare ``place``, in declaration order."""
    return tuple(s.name for s in shown_in(place))


def headline() -> MetricSpec:
    """The report's main metric (the one spec declaring ``HEADLINE``)."""
    return shown_in(HEADLINE)[0]


def compute_all(est: Any, true: Any, names: Sequence[str] | None = None) -> dict[str, float]:
    """Compute the named metrics (default: ``STANDARD_METRICS``) in order, as {name: value}.

    With the default set, count metrics whose k >= n (e.g. ``hit@100`` on 50 architectures)
    are skipped, since they would be trivially 1; naming one explicitly raises instead.
    """
    e, t = _check_pair(est, true)
    if isinstance(names, str):
        names = [names]
    explicit = names is not None
    chosen = list(names) if names is not None else list(STANDARD_METRICS)
    for name in chosen:
        if name not in METRICS:
            raise unknown("metric", name, METRICS)
    out: dict[str, float] = {}
    for name in chosen:
        spec = METRICS[name]
        k = spec.count_k()
        if not explicit and k is not None and k >= e.size:
            continue
        out[name] = spec(e, t)
    return out
