"""Tests for harness.metrics: scipy agreement, hand-worked tie cases, brute-force tie expectations."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
import scipy.stats

from harness import metrics as M
from harness.api.errors import UnknownNameError, WsbenchError


def _pair(n: int, seed: int, noise: float = 1.0, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    true = rng.normal(size=n)
    est = true + noise * rng.normal(size=n)
    if ties:  # coarse rounding puts many exact ties on both sides
        true, est = np.round(true * 2) / 2, np.round(est * 2) / 2
    return est, true


# --------------------------------------------------------------------------- brute force


def _tie_breaks(e: np.ndarray, k: int):
    """Yield the estimator's top-k index set for every tie-break order (all permutations)."""
    n = e.size
    for perm in itertools.permutations(range(n)):
        # Sort by score descending, ties by the permutation's position: every order is one
        # equally likely uniform tie-break, so averaging over them gives the expectation.
        order = sorted(range(n), key=lambda i: (-e[i], perm[i]))
        yield order[:k]


def _brute_hit(e, t, k):
    kth = np.sort(t)[::-1][k - 1]
    true_set = {i for i in range(t.size) if t[i] >= kth}
    vals = [len(true_set.intersection(s)) / k for s in _tie_breaks(e, k)]
    return float(np.mean(vals))


def _brute_rank(t):
    n = t.size
    return np.array([sum(t[j] > t[i] for j in range(n)) / (n - 1) for i in range(n)])


def _brute_br_wr(e, t, k):
    r = _brute_rank(t)
    sets = list(_tie_breaks(e, k))
    return float(np.mean([r[s].min() for s in sets])), float(np.mean([r[s].max() for s in sets]))


@pytest.mark.parametrize("seed", range(6))
def test_set_metrics_equal_brute_force_expectation_over_tie_breaks(seed):
    rng = np.random.default_rng(100 + seed)
    n = 6
    e = rng.integers(0, 3, size=n).astype(float)  # heavy ties on both sides
    t = rng.integers(0, 4, size=n).astype(float)
    for k in range(1, n + 1):
        assert M.top_k_hit_rate(e, t, k) == pytest.approx(_brute_hit(e, t, k), abs=1e-12)
        assert M.p_at_bottom_k(e, t, k) == pytest.approx(_brute_hit(-e, -t, k), abs=1e-12)
        br, wr = _brute_br_wr(e, t, k)
        assert M.br_at_k(e, t, k) == pytest.approx(br, abs=1e-12)
        assert M.wr_at_k(e, t, k) == pytest.approx(wr, abs=1e-12)


# --------------------------------------------------------------------------- correlations vs scipy


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_correlations_match_scipy(ties, seed):
    est, true = _pair(300, seed, ties=ties)
    if ties:
        assert np.unique(est).size < 50 and np.unique(true).size < 50
    assert M.kendall_tau(est, true) == pytest.approx(scipy.stats.kendalltau(est, true, variant="b").statistic, abs=1e-12)
    assert M.spearman_rho(est, true) == pytest.approx(scipy.stats.spearmanr(est, true).statistic, abs=1e-12)
    assert M.pearson_r(est, true) == pytest.approx(scipy.stats.pearsonr(est, true).statistic, abs=1e-12)


def test_kendall_tau_b_hand_worked_with_ties():
    # Pairs: 4 concordant, 0 discordant, 1 tied only in est, 1 tied only in true, of 6:
    # tau_b = (4 - 0) / sqrt((6 - 1) * (6 - 1)) = 0.8.
    assert M.kendall_tau([1, 2, 2, 3], [1, 2, 3, 3]) == pytest.approx(0.8)
    # Spearman by hand: average ranks [1, 2.5, 2.5, 4] vs [1, 2, 3.5, 3.5].
    assert M.spearman_rho([1, 2, 2, 3], [1, 2, 3, 3]) == pytest.approx(np.corrcoef([1, 2.5, 2.5, 4], [1, 2, 3.5, 3.5])[0, 1])


def test_constant_input_gives_nan_without_warning():
    with np_warnings_as_errors():
        assert np.isnan(M.kendall_tau([1, 1, 1], [1, 2, 3]))
        assert np.isnan(M.spearman_rho([1, 2, 3], [5, 5, 5]))
        assert np.isnan(M.pearson_r([1, 1, 1], [1, 2, 3]))


class np_warnings_as_errors:
    def __enter__(self):
        import warnings

        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("error")

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


# --------------------------------------------------------------------------- hand-worked set metrics


def test_hit_rate_hand_worked():
    # est top-2 = {0, 1}; true top-2 = {1, 2}; overlap 1.
    assert M.top_k_hit_rate([4, 3, 2, 1], [1, 4, 3, 2], 2) == 0.5
    assert M.top_k_hit_rate([4, 3, 2, 1], [1, 4, 3, 2], 4) == 1.0
    # Estimator three-way tie at the top: each tied one is picked with prob 1/3 (k=1), 2/3 (k=2).
    assert M.top_k_hit_rate([1, 1, 1, 0], [3, 2, 1, 0], 1) == pytest.approx(1 / 3)
    assert M.top_k_hit_rate([1, 1, 1, 0], [3, 2, 1, 0], 2) == pytest.approx(2 / 3)
    # True three-way tie at the top: picking any of them is a hit.
    assert M.top_k_hit_rate([3, 2, 1, 0], [5, 5, 5, 0], 1) == 1.0
    assert M.top_k_hit_rate([0, 1, 2, 3], [5, 5, 5, 0], 1) == 0.0
    # Tie result does not depend on which positions the tied architectures occupy.
    assert M.top_k_hit_rate([0, 1, 1, 1], [0, 1, 2, 3], 1) == pytest.approx(1 / 3)


def test_p_at_bottom_hand_worked():
    # est bottom-1 = {3}, true bottom-1 = {1}; bottom-2: {2, 3} vs {1, 3}.
    assert M.p_at_bottom_k([4, 3, 2, 1], [4, 1, 3, 2], 1) == 0.0
    assert M.p_at_bottom_k([4, 3, 2, 1], [4, 1, 3, 2], 2) == 0.5
    assert M.p_at_bottom_k([0, 0, 5, 6], [1, 2, 3, 4], 1) == pytest.approx(0.5)


def test_br_wr_hand_worked():
    true = [0, 4, 3, 2, 1]  # normalized ranks: [1, 0, 1/4, 2/4, 3/4]
    est = [4, 3, 2, 1, 0]
    assert M.br_at_k(est, true, 1) == 1.0 and M.wr_at_k(est, true, 1) == 1.0
    assert M.br_at_k(est, true, 2) == 0.0 and M.wr_at_k(est, true, 2) == 1.0
    assert M.br_at_k(est, true, 5) == 0.0 and M.wr_at_k(est, true, 5) == 1.0
    # Estimator ties over archs {0, 1, 2} with ranks {1, 0, 1/4}.
    tied = [1, 1, 1, 0, 0]
    assert M.br_at_k(tied, true, 1) == pytest.approx((1 + 0 + 0.25) / 3)
    assert M.wr_at_k(tied, true, 1) == pytest.approx((1 + 0 + 0.25) / 3)
    # k=2 draws pairs {0,1}, {0,2}, {1,2}: min 0, 1/4, 0; max 1, 1, 1/4.
    assert M.br_at_k(tied, true, 2) == pytest.approx(0.25 / 3)
    assert M.wr_at_k(tied, true, 2) == pytest.approx(2.25 / 3)
    # True ties share the better rank: two tied-best archs both have rank 0.
    assert M.br_at_k([0, 1, 0, 0], [2, 2, 1, 0], 1) == 0.0
    assert M.wr_at_k([0, 0, 1, 0], [2, 2, 1, 0], 1) == pytest.approx(2 / 3)


def test_kendall_tau_top_hand_worked():
    # True top half = archs {0, 1, 2}: est [1, 0, 5] vs true [5, 4, 3]: 1 concordant, 2 discordant.
    assert M.kendall_tau_top([1, 0, 5, 4, 3, 2], [5, 4, 3, 2, 1, 0], 0.5) == pytest.approx(-1 / 3)
    # The subset has at least 2 architectures even when frac * n rounds to 1.
    assert M.kendall_tau_top([1, 0, 5, 4, 3, 2], [5, 4, 3, 2, 1, 0], 0.1) == pytest.approx(1.0)
    # Checks against scipy on the explicit subset.
    est, true = _pair(500, 7)
    top = np.argsort(-true)[:50]
    assert M.kendall_tau_top(est, true, 0.1) == pytest.approx(scipy.stats.kendalltau(est[top], true[top]).statistic, abs=1e-12)


def test_fraction_k_rounds_half_up():
    assert M.resolve_k(0.05, 10) == 1  # 0.5 -> 1 (round-half-even would give 0, clamped anyway)
    assert M.resolve_k(0.25, 10) == 3  # 2.5 -> 3, Python round() would give 2
    assert M.resolve_k(0.29, 100) == 29  # 28.999999999999996 must not become 28
    assert M.resolve_k(0.001, 10) == 1  # at least one
    assert M.resolve_k(1.0, 7) == 7
    assert M.resolve_k(0.01, 15625) == 156
    assert M.resolve_k(np.int64(3), 5) == 3


# --------------------------------------------------------------------------- properties


ALL_SCALAR = {
    "kendall_tau": lambda e, t: M.kendall_tau(e, t),
    "spearman_rho": lambda e, t: M.spearman_rho(e, t),
    "hit": lambda e, t: M.top_k_hit_rate(e, t, 0.1),
    "hit_count": lambda e, t: M.top_k_hit_rate(e, t, 7),
    "bottom": lambda e, t: M.p_at_bottom_k(e, t, 0.1),
    "br": lambda e, t: M.br_at_k(e, t, 0.05),
    "wr": lambda e, t: M.wr_at_k(e, t, 0.05),
    "tau_top": lambda e, t: M.kendall_tau_top(e, t, 0.2),
}


@pytest.mark.parametrize("name", sorted(ALL_SCALAR))
@pytest.mark.parametrize("ties", [False, True])
def test_invariant_under_monotone_transform_and_permutation(name, ties):
    fn = ALL_SCALAR[name]
    est, true = _pair(200, 3, ties=ties)
    base = fn(est, true)
    assert fn(np.exp(est), true) == pytest.approx(base, abs=1e-12)
    assert fn(est, 5 * true**3 + 2) == pytest.approx(base, abs=1e-12)
    perm = np.random.default_rng(9).permutation(est.size)
    assert fn(est[perm], true[perm]) == pytest.approx(base, abs=1e-12)


def test_pearson_is_not_rank_invariant():
    est, true = _pair(200, 3)
    assert M.pearson_r(np.exp(3 * est), true) != pytest.approx(M.pearson_r(est, true), abs=1e-3)


@pytest.mark.parametrize("ties", [False, True])
def test_perfect_and_reversed_estimators(ties):
    _, true = _pair(400, 5, ties=ties)
    res = M.compute_all(true, true)
    for name, value in res.items():
        spec = M.METRICS[name]
        if spec.higher_is_better:
            assert value == pytest.approx(1.0), name
    assert res["br@1%"] == 0.0
    if not ties:
        rev = M.compute_all(-true, true)
        assert rev["kendall_tau"] == pytest.approx(-1.0)
        assert rev["spearman_rho"] == pytest.approx(-1.0)
        assert rev["pearson_r"] == pytest.approx(-1.0)
        assert rev["tau_top10%"] == pytest.approx(-1.0)
        for name in ("hit@1%", "hit@5%", "hit@10%", "hit@10", "hit@50", "hit@100", "p_bottom@10%"):
            assert rev[name] == 0.0, name
        assert rev["br@1%"] > 0.98 and rev["wr@1%"] == 1.0


def test_constant_estimator_scores_chance():
    _, true = _pair(1000, 11)
    const = np.zeros_like(true)
    assert M.top_k_hit_rate(const, true, 0.1) == pytest.approx(0.1)
    assert M.p_at_bottom_k(const, true, 50) == pytest.approx(0.05)
    # Expected best rank of 10 random picks among 1000: close to 1/(k+1).
    assert M.br_at_k(const, true, 10) == pytest.approx(1 / 11, abs=0.01)


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_contains_point_estimate_and_is_deterministic():
    est, true = _pair(400, 1)
    for metric, kw in [(M.kendall_tau, {}), (M.top_k_hit_rate, {"k": 0.1}), (M.spearman_rho, {})]:
        point = metric(est, true, **kw)
        low, high = M.bootstrap_ci(metric, est, true, n_resamples=200, seed=3, **kw)
        assert low <= point <= high and low < high
        assert M.bootstrap_ci(metric, est, true, n_resamples=200, seed=3, **kw) == (low, high)
        assert M.bootstrap_ci(metric, est, true, n_resamples=200, seed=4, **kw) != (low, high)
    # A MetricSpec works too.
    low, high = M.bootstrap_ci(M.METRICS["hit@10%"], est, true, n_resamples=100)
    assert low <= M.METRICS["hit@10%"](est, true) <= high


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("metric", [M.spearman_rho, M.pearson_r])
def test_bootstrap_batched_matches_generic_loop(metric, ties):
    est, true = _pair(300, 2, ties=ties)
    batched = M.bootstrap_ci(metric, est, true, n_resamples=150, seed=1, alpha=0.3)
    # A lambda is not in the batched table, so this takes the one-resample-at-a-time path.
    looped = M.bootstrap_ci(lambda e, t: metric(e, t), est, true, n_resamples=150, seed=1, alpha=0.3)
    assert batched == pytest.approx(looped, abs=1e-12)


def test_bootstrap_narrows_with_n():
    widths = []
    for n in (100, 3000):
        est, true = _pair(n, 0)
        low, high = M.bootstrap_ci(M.kendall_tau, est, true, n_resamples=200)
        widths.append(high - low)
    assert widths[1] < widths[0] / 3  # ~ 1/sqrt(30) shrink expected


def test_bootstrap_speed_on_full_space_size():
    est, true = _pair(15_625, 0)
    start = time.perf_counter()
    M.bootstrap_ci(M.kendall_tau, est, true, n_resamples=200)
    assert time.perf_counter() - start < 10.0
    start = time.perf_counter()
    M.compute_all(est, true)
    assert time.perf_counter() - start < 1.0


# --------------------------------------------------------------------------- stability


def test_pairwise_kendall_and_mean_offdiag():
    rng = np.random.default_rng(0)
    vecs = [rng.normal(size=50) for _ in range(4)]
    mat = M.pairwise_kendall(vecs)
    assert mat.shape == (4, 4)
    assert np.allclose(mat, mat.T) and np.allclose(np.diag(mat), 1.0)
    assert mat[1, 3] == pytest.approx(scipy.stats.kendalltau(vecs[1], vecs[3]).statistic)
    off = [mat[i, j] for i in range(4) for j in range(4) if i != j]
    assert M.mean_offdiag(mat) == pytest.approx(np.mean(off))
    assert M.mean_offdiag([[1, 0.5], [0.25, 1]]) == pytest.approx(0.375)


# --------------------------------------------------------------------------- registry


def test_compute_all_names_and_skipping():
    est, true = _pair(60, 4)
    res = M.compute_all(est, true)
    assert list(res) == [n for n in M.STANDARD_METRICS if n not in ("hit@100",)]  # 100 >= 60
    assert "hit@50" in res
    assert set(M.STANDARD_METRICS) == {
        "kendall_tau",
        "spearman_rho",
        "pearson_r",
        "hit@1%",
        "hit@5%",
        "hit@10%",
        "hit@10",
        "hit@50",
        "hit@100",
        "p_bottom@10%",
        "br@1%",
        "wr@1%",
        "tau_top10%",
    }
    assert M.compute_all(est, true, ["br@1%", "kendall_tau"]) == {
        "br@1%": M.br_at_k(est, true, 0.01),
        "kendall_tau": M.kendall_tau(est, true),
    }
    assert not M.METRICS["br@1%"].higher_is_better and M.METRICS["hit@10"].higher_is_better
    with pytest.raises(UnknownNameError, match="did you mean 'kendall_tau'"):
        M.compute_all(est, true, ["kendal_tau"])
    with pytest.raises(WsbenchError, match="out of range"):
        M.compute_all(est, true, ["hit@100"])


def test_every_spec_declares_known_places_and_one_headline():
    for spec in M.METRICS.values():
        assert spec.shows <= set(M.PLACES), spec.name
        assert spec.column and spec.header and spec.description
    assert M.headline().name == "kendall_tau" and M.headline().column == "tau"
    assert M.headline().over.last_k and M.headline().over.epochs
    assert M.SUMMARY in M.headline().shows
    # The regression check tracks what it tracked before the declarations existed.
    assert M.names_shown(M.REGRESSION) == ("kendall_tau", "spearman_rho", "hit@10%", "br@1%")
    from harness.run.regression import METRICS as TRACKED

    assert M.names_shown(M.REGRESSION) == TRACKED
    with pytest.raises(UnknownNameError, match="metric place"):
        M.shown_in("tabel")


def test_declarations_no_consumer_can_follow_are_refused():
    ok = M._spec("toy", M.kendall_tau, "a toy", shows=(M.SUMMARY,))
    with pytest.raises(ValueError, match="unknown places"):
        M._check_declarations([*M._SPECS, M._spec("toy", M.kendall_tau, "a toy", shows=("everywhere",))])
    with pytest.raises(ValueError, match="needs 'gt'"):
        M._check_declarations([*M._SPECS, M._spec("toy", M.kendall_tau, "a toy", shows=(M.GT_INTERVAL,))])
    with pytest.raises(ValueError, match="exactly one metric must be the headline"):
        M._check_declarations([*M._SPECS, M._spec("toy", M.kendall_tau, "a toy", shows=(M.HEADLINE, M.SUMMARY))])
    with pytest.raises(ValueError, match="duplicate"):
        M._check_declarations([*M._SPECS, ok, ok])
    M._check_declarations([*M._SPECS, ok])


def test_mean_sd_is_the_sample_sd():
    assert M.mean_sd([1.0, 3.0]) == (2.0, pytest.approx(np.sqrt(2.0)))
    assert M.mean_sd([1.0])[1] != M.mean_sd([1.0])[1]  # nan: one value has no spread
    assert all(np.isnan(v) for v in M.mean_sd([]))


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: M.kendall_tau([1, 2, 3], [1, 2]), "est has 3 scores but true has 2"),
        (lambda: M.kendall_tau([1], [1]), "at least 2"),
        (lambda: M.spearman_rho([1, np.nan], [1, 2]), "non-finite"),
        (lambda: M.pearson_r([1, 2], [np.inf, 2]), "true has a non-finite"),
        (lambda: M.pearson_r([[1, 2]], [[1, 2]]), "1-D"),
        (lambda: M.pearson_r(["a", "b"], [1, 2]), "numeric"),
        (lambda: M.top_k_hit_rate([1, 2, 3], [1, 2, 3], 0), "out of range"),
        (lambda: M.top_k_hit_rate([1, 2, 3], [1, 2, 3], 4), "out of range"),
        (lambda: M.top_k_hit_rate([1, 2, 3], [1, 2, 3], 1.5), r"fraction and must lie in \(0, 1\]"),
        (lambda: M.top_k_hit_rate([1, 2, 3], [1, 2, 3], 0.0), "fraction"),
        (lambda: M.top_k_hit_rate([1, 2, 3], [1, 2, 3], True), "bool"),
        (lambda: M.br_at_k([1, 2, 3], [1, 2, 3], "1"), "int count or a float"),
        (lambda: M.kendall_tau_top([1, 2, 3], [1, 2, 3], 2), "frac"),
        (lambda: M.bootstrap_ci(M.kendall_tau, [1, 2, 3], [1, 2, 3], alpha=1.5), "alpha"),
        (lambda: M.bootstrap_ci(M.kendall_tau, [1, 2, 3], [1, 2, 3], n_resamples=1), "n_resamples"),
        (lambda: M.pairwise_kendall([[1, 2, 3], [1, 2]]), "rankings\\[1\\] has 2"),
        (lambda: M.pairwise_kendall([]), "at least one"),
        (lambda: M.mean_offdiag([[1.0]]), "square"),
    ],
)
def test_bad_input_raises_one_line_wsbench_error(call, match):
    with pytest.raises(WsbenchError, match=match) as info:
        call()
    assert "\n" not in str(info.value)


def test_batched_kendall_resamples_equal_scipy_with_ties_and_constant_resamples():
    rng = np.random.default_rng(4)
    for n in (3, 40, 301):  # 301: above the pair-sign limit, scipy per resample
        e, t = np.round(rng.normal(size=n), 1), np.round(rng.normal(size=n), 1)
        idx = rng.integers(0, n, size=(30, n))
        idx[0] = 0  # a constant resample: undefined
        got = M._kendall_resampled(e, t, idx)
        want = np.array([M.kendall_tau(e[i], t[i]) if np.ptp(e[i]) and np.ptp(t[i]) else np.nan for i in idx])
        assert np.isnan(got[0]) and np.allclose(got[1:], want[1:], atol=1e-12, equal_nan=True)


def test_bootstrap_over_runs_draws_one_resample_for_all_and_averages():
    rng = np.random.default_rng(5)
    t = rng.normal(size=60)
    a, b = t + rng.normal(size=60), t + 2 * rng.normal(size=60)
    same = M.bootstrap_ci(M.kendall_tau, np.stack([a, a]), t, n_resamples=200, seed=1)
    assert same == pytest.approx(M.bootstrap_ci(M.kendall_tau, a, t, n_resamples=200, seed=1))
    low, high = M.bootstrap_ci(M.METRICS["kendall_tau"], np.stack([a, b]), t, n_resamples=200, seed=1)
    mean = (M.kendall_tau(a, t) + M.kendall_tau(b, t)) / 2
    assert low < mean < high
    assert M.bootstrap_ci(M.METRICS["hit@10%"], a, t, n_resamples=50) == M.bootstrap_ci(
        M.top_k_hit_rate, a, t, n_resamples=50, k=0.10
    )
