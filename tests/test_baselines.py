"""Training-free baselines: random floor, params/FLOPs, synflow and jacob_cov zero-cost proxies."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import needs_data

from harness.api.errors import WsbenchError
from harness.api.ground_truth import GroundTruthQuery, GroundTruthTable
from harness.baselines import BASELINES, baseline_metrics, score_baseline, training_minibatch
from harness.baselines.zero_cost import JACOB_K, jacob_cov_from_rows
from harness.catalog import SPACES
from spaces.nb201.cost import arch_cost

SPACE = SPACES.get("nb201")
ARCHS = [(3, 3, 3, 3, 3, 3), (2, 3, 1, 4, 0, 3), (1, 1, 1, 1, 1, 1), (0, 0, 0, 3, 0, 0), (4, 2, 0, 1, 3, 2)]
# No non-none path from node 0 to node 3: the cell outputs zero whatever its input.
DISCONNECTED = [(0, 0, 0, 0, 0, 0), (3, 0, 0, 0, 0, 0), (1, 0, 3, 0, 0, 0)]
SMALL = {"C": 4, "N": 1}


def _batch(seed: int, n: int = 8) -> torch.Tensor:
    return torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def test_registry_lists_the_baselines():
    assert {"random", "params", "flops", "synflow", "jacob_cov"} <= set(BASELINES.names())


def test_random_is_reproducible_and_differs_by_seed():
    a = score_baseline("random", SPACE, ARCHS, seed=0)
    assert np.array_equal(a, score_baseline("random", "nb201", ARCHS, seed=0))
    assert not np.array_equal(a, score_baseline("random", SPACE, ARCHS, seed=1))
    assert a.shape == (len(ARCHS),) and ((a >= 0) & (a < 1)).all()


@pytest.mark.parametrize("C,N", [(16, 5), (8, 2)])
def test_params_and_flops_reproduce_arch_cost(C, N):
    archs = ARCHS + [SPACE.arch_id(a) for a in DISCONNECTED]  # official strings are accepted too
    params = score_baseline("params", SPACE, archs, seed=0, C=C, N=N)
    flops = score_baseline("flops", SPACE, archs, seed=0, C=C, N=N)
    for a, p, f in zip(archs, params, flops):
        cost = arch_cost(a, C=C, N=N)
        assert p == cost.params_m and f == cost.flops_m


def test_synflow_is_zero_without_an_input_output_path_and_positive_with_one():
    dead = score_baseline("synflow", SPACE, DISCONNECTED, seed=0, **SMALL)
    live = score_baseline("synflow", SPACE, ARCHS, seed=0, **SMALL)
    assert (dead == 0).all()
    assert (live > 0).all() and np.isfinite(live).all()


def test_synflow_ignores_the_minibatch_and_is_deterministic():
    a = score_baseline("synflow", SPACE, ARCHS, seed=0, data=_batch(1), **SMALL)
    b = score_baseline("synflow", SPACE, ARCHS, seed=0, data=(_batch(2), torch.zeros(8)), **SMALL)
    c = score_baseline("synflow", SPACE, ARCHS, seed=0, **SMALL)
    assert np.array_equal(a, b) and np.array_equal(a, c)


def test_synflow_grows_with_depth_of_the_same_cell():
    # More cells of absolute-valued weights multiply the flow: N=2 must exceed N=1.
    one = score_baseline("synflow", SPACE, ARCHS[:2], seed=0, C=4, N=1)
    two = score_baseline("synflow", SPACE, ARCHS[:2], seed=0, C=4, N=2)
    assert (two > one).all()


def test_jacob_cov_is_finite_deterministic_and_depends_on_data_and_seed():
    x = _batch(0)
    a = score_baseline("jacob_cov", SPACE, ARCHS + DISCONNECTED, seed=0, data=x, **SMALL)
    assert np.isfinite(a).all()
    assert np.array_equal(a, score_baseline("jacob_cov", SPACE, ARCHS + DISCONNECTED, seed=0, data=x, **SMALL))
    assert not np.array_equal(a[:2], score_baseline("jacob_cov", SPACE, ARCHS[:2], seed=0, data=_batch(5), **SMALL))
    assert not np.array_equal(a[:2], score_baseline("jacob_cov", SPACE, ARCHS[:2], seed=3, data=x, **SMALL))
    # A disconnected cell gets the floor (every image looks the same), below every live cell.
    floor = jacob_cov_from_rows(np.ones((len(x), 5)))
    assert (a[len(ARCHS) :] == floor).all() and (a[: len(ARCHS)] > floor).all()


def test_jacob_cov_score_rewards_uncorrelated_rows():
    n = 6
    rng = np.random.default_rng(0)
    independent = jacob_cov_from_rows(rng.normal(size=(n, 200)))  # nearly uncorrelated rows
    correlated = jacob_cov_from_rows(rng.normal(size=200) + 0.05 * rng.normal(size=(n, 200)))
    assert independent > correlated > jacob_cov_from_rows(np.ones((n, 200)))
    # Identity correlation: every eigenvalue is 1.
    ortho = np.linalg.qr(rng.normal(size=(40, n)))[0].T
    ortho -= ortho.mean(1, keepdims=True)
    corr_eigs = np.linalg.eigvalsh(np.corrcoef(ortho))
    assert jacob_cov_from_rows(ortho) == pytest.approx(-np.sum(np.log(corr_eigs + JACOB_K) + 1 / (corr_eigs + JACOB_K)))


def test_bad_input_is_a_one_line_error():
    with pytest.raises(WsbenchError, match="did you mean 'synflow'") as e:
        score_baseline("synflo", SPACE, ARCHS, seed=0)
    assert "\n" not in str(e.value)
    with pytest.raises(WsbenchError, match="at least one architecture"):
        score_baseline("params", SPACE, [], seed=0)
    with pytest.raises(WsbenchError, match="seed"):
        score_baseline("random", SPACE, ARCHS, seed=-1)
    with pytest.raises(WsbenchError, match="image tensor"):
        score_baseline("jacob_cov", SPACE, ARCHS, seed=0, data=np.zeros((2, 3)))
    with pytest.raises(WsbenchError, match="arch"):
        score_baseline("params", SPACE, ["|bogus~0|"], seed=0)


@pytest.mark.parametrize("higher", [True, False])
def test_baseline_metrics_rows_match_snapshot_format(higher):
    archs = SPACE.unique_representatives()[:40]
    ids = [SPACE.arch_id(a) for a in archs]
    values = np.array([arch_cost(a).params_m for a in archs]) * (1 if higher else -1)
    table = GroundTruthTable(GroundTruthQuery("nb201", "synthetic", "cifar10", "test", "params", "none"), ids, values, higher)
    rows = baseline_metrics("params", SPACE, archs, [table], seed=0)
    assert {r["epoch"] for r in rows} == {0} and {r["score"] for r in rows} == {"params"}
    assert set(rows[0]) == {"epoch", "ground_truth", "gt_fingerprint", "score", "metric", "value"}
    tau = next(r["value"] for r in rows if r["metric"] == "kendall_tau")
    assert tau == pytest.approx(1.0)  # params ranks a params ground truth perfectly, either orientation


@needs_data()
def test_training_minibatch_is_balanced_fixed_and_seeded():
    a, b, c = training_minibatch(0, 20), training_minibatch(0, 20), training_minibatch(1, 20)
    assert a.shape == (20, 3, 32, 32) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    scores = score_baseline("jacob_cov", SPACE, ARCHS[:2], seed=0, batch_size=10, **SMALL)
    assert np.isfinite(scores).all()


def test_cached_proxy_scores_are_keyed_by_the_proxy_network(tmp_path, monkeypatch):
    from harness.analysis.baseline_cache import cached_baseline
    from harness.catalog import SPACES

    space = SPACES.get("darts")
    calls = []

    def fake(name, space_name, archs, seed):
        calls.append(dict(SPACES.get(space_name).proxy_network))
        return np.arange(len(archs), dtype=np.float64)

    archs = ["a", "b", "c"]
    cached_baseline(tmp_path, "darts", "synflow", archs, 0, fake)
    cached_baseline(tmp_path, "darts", "synflow", archs, 0, fake)  # cached
    monkeypatch.setattr(type(space), "proxy_network", {"C": 8, "layers": 5})
    cached_baseline(tmp_path, "darts", "synflow", archs, 0, fake)  # another network: scored again
    cached_baseline(tmp_path, "darts", "params", archs, 0, fake)
    cached_baseline(tmp_path, "darts", "params", archs, 0, fake)  # not a proxy: keyed by the archs alone
    assert calls == [{"C": 16, "layers": 8}, {"C": 8, "layers": 5}, {"C": 8, "layers": 5}]
