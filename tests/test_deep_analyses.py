"""Bias, picking-vs-pruning and best-found analyses on synthetic groups whose structure is known; the analysis plugins."""

import math

import numpy as np
import pytest

from harness.analysis import bias as B
from harness.analysis import picking as P
from harness.analysis.analyses import ANALYSES, complexity_bias, ordered, picking_vs_pruning, run_all
from harness.analysis.analyses.base import AnalysisPlugin, Groups
from harness.analysis.groups import GroupScores, RunScores
from harness.api.errors import WsbenchError
from harness.catalog import SPACES
from spaces.nb201.isomorphism import canonical

NB201 = SPACES.get("nb201")
TRUTH = "nb201/synthetic:cifar10/test/accuracy@mean"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _group(archs, finals, truth=None, space="nb201", label="spos", earlier=None):
    """A group with one run per final vector (seed = position); ``earlier``: {epoch: vectors} before it."""
    runs = []
    for seed, final in enumerate(finals):
        snaps = {e: np.asarray(v[seed], dtype=float) for e, v in (earlier or {}).items()}
        snaps[100] = np.asarray(final, dtype=float)
        runs.append(RunScores(seed, f"cell{seed}", snaps))
    truths = {} if truth is None else {TRUTH: np.asarray(truth, dtype=float)}
    return GroupScores(space, "p", label, "accuracy", list(archs), runs, truths)


@pytest.fixture(scope="module")
def reps():
    """600 NB201 cells spread over the space, one per isomorphism class, and their parameter counts."""
    archs = [NB201.arch_id(a) for a in NB201.unique_representatives()[::10][:600]]
    return archs, B.arch_costs("nb201", archs)


def _z(x):
    return (x - x.mean()) / x.std()


# --------------------------------------------------------------------------- complexity bias


def test_an_estimator_penalising_size_overrates_small_cells_and_holding_params_raises_its_tau(reps):
    archs, costs = reps
    rng = np.random.default_rng(0)
    size = _z(costs["params"])
    truth = size + rng.normal(0, 1, len(archs))
    finals = [truth - 1.5 * size + rng.normal(0, 0.3, len(archs)) for _ in range(3)]
    (c,) = B.complexity_bias(_group(archs, finals, truth), costs)
    assert c.error_vs_params.mean < -0.2 and c.pooled_error_vs_params < -0.2
    assert c.est_params_given_truth.mean < -0.2  # the lean is the estimator's own, not regression to the mean
    assert c.partial_tau.mean > c.tau.mean + 0.1
    assert c.stratified_tau.mean > c.tau.mean
    assert len(c.tau.values) == 3 and np.isfinite(c.tau.sd)
    assert c.error_vs_flops is not None and c.flops_same_order  # NB201's FLOPs order cells exactly as params


def test_an_estimator_favouring_size_overrates_large_cells(reps):
    archs, costs = reps
    rng = np.random.default_rng(1)
    size = _z(costs["params"])
    truth = size + rng.normal(0, 1, len(archs))
    (c,) = B.complexity_bias(_group(archs, [truth + 1.5 * size + rng.normal(0, 0.3, len(archs))], truth), costs)
    assert c.error_vs_params.mean > 0.2 and c.est_params_given_truth.mean > 0.2
    assert c.partial_tau.mean < c.tau.mean


def test_partial_kendall_follows_kendalls_formula():
    assert B.partial_kendall(0.5, 0.0, 0.6) == pytest.approx(0.5 / math.sqrt(1 - 0.36))
    assert B.partial_kendall(0.5, 0.4, 0.6) == pytest.approx((0.5 - 0.24) / math.sqrt(0.84 * 0.64))
    assert math.isnan(B.partial_kendall(0.5, 1.0, 0.2))  # z determines x: nothing is left to correlate
    assert math.isnan(B.partial_kendall(float("nan"), 0.1, 0.2))


def test_stratified_tau_sees_an_estimator_exact_within_params_strata_but_wrong_across():
    n = 500
    truth = np.arange(n, dtype=float)
    z = np.floor(truth / (n / 5))  # five equal params levels, larger = truly better
    est = truth - 10 * n * z  # right order inside each level, levels reversed
    assert B.stratified_tau(est, truth, z) == pytest.approx(1.0)
    from harness.metrics import kendall_tau

    assert kendall_tau(est, truth) < 0


def test_equal_params_always_share_a_stratum():
    z = np.array([1.0] * 60 + [2.0] * 30 + [3.0] * 10)
    labels = B.strata(z, 5)
    for value in np.unique(z):
        assert np.unique(labels[z == value]).size == 1


def test_constant_params_is_refused_with_a_reason(reps):
    archs, _ = reps
    truth = np.arange(len(archs), dtype=float)
    with pytest.raises(WsbenchError, match="same parameter count"):
        B.complexity_bias(_group(archs, [truth], truth), {"params": np.ones(len(archs))})


# --------------------------------------------------------------------------- op bias


def _uses(archs, op):
    index = NB201.choices()[0].options.index(op)
    return np.array([sum(o == index for o in NB201.parse(a)) for a in archs], dtype=float)


def test_an_estimator_that_overrates_one_op_shows_it_positive_at_every_choice(reps):
    archs, _ = reps
    rng = np.random.default_rng(2)
    truth = rng.normal(0, 1, len(archs))
    finals = [truth + 1.0 * _uses(archs, "avg_pool_3x3") + rng.normal(0, 0.2, len(archs)) for _ in range(2)]
    (o,) = B.op_bias(_group(archs, finals, truth), NB201)
    means = {op: v.mean for op, v in o.per_op.items()}
    assert max(means, key=means.__getitem__) == "avg_pool_3x3" and means["avg_pool_3x3"] > 0.1
    assert all(means[op] < 0 for op in means if op != "avg_pool_3x3")
    assert all(o.cells[(c, "avg_pool_3x3")].mean > 0 for c in o.choices)
    assert sum(o.counts[(o.choices[0], opt)] for opt in o.options) == len(archs)


def test_an_unbiased_estimator_shows_no_op_bias(reps):
    archs, _ = reps
    truth = np.random.default_rng(3).normal(0, 1, len(archs))
    (o,) = B.op_bias(_group(archs, [truth * 2 + 5], truth), NB201)
    assert all(v.mean == pytest.approx(0.0, abs=1e-12) for v in o.cells.values())


def test_op_bias_needs_a_grid_space():
    with pytest.raises(WsbenchError, match="not a grid"):
        B.grid_indices(SPACES.get("nb101"), ["anything"])


# --------------------------------------------------------------------------- isomorphism


def _isomorphic_pairs(n_pairs):
    """``n_pairs`` NB201 classes with two members each, as arch ids."""
    pairs = [c[:2] for c in NB201.isomorphism_classes() if len(c) >= 2][:n_pairs]
    return [NB201.arch_id(a) for pair in pairs for a in pair]


def test_isomorphism_check_detects_unequal_scores_of_isomorphic_cells():
    archs = _isomorphic_pairs(40)
    by_class = {k: i for i, k in enumerate(dict.fromkeys(canonical(a) for a in archs))}
    equal = np.array([by_class[canonical(a)] for a in archs], dtype=float)
    same = B.isomorphism_check(_group(archs, [equal], equal), NB201)
    assert same.measurable and same.n_multi == 40 and same.n_in_multi == 80
    assert same.unequal_fraction.mean == 0.0 and same.ratio.mean == 0.0
    unequal = equal.copy()
    unequal[[0, 2, 4, 6]] += 0.5  # first member of the first four classes
    check = B.isomorphism_check(_group(archs, [unequal, equal]), NB201)
    assert check.unequal_fraction.values == (4 / 40, 0.0)
    assert check.ratio.values[0] > 0 and check.truth_ratio == {}


def test_isomorphism_check_is_not_measurable_on_one_member_per_class(reps):
    archs, _ = reps
    scores = np.arange(len(archs), dtype=float)
    check = B.isomorphism_check(_group(archs, [scores]), NB201)
    assert not check.measurable and check.n_classes == len(archs) and check.ratio is None


def test_isomorphism_needs_the_capability():
    with pytest.raises(WsbenchError, match="no isomorphism classes"):
        B.isomorphism_classes_of(SPACES.get("nb101"), ["x"])


# --------------------------------------------------------------------------- picking vs pruning


def _half_exact(n, rng, exact_bottom=True):
    """An estimator exact on one half of the truth (0..n-1) and a random order on the other."""
    truth = np.arange(n, dtype=float)
    est = truth.copy()
    half = slice(n // 2, n) if exact_bottom else slice(0, n // 2)
    est[half] = rng.permutation(est[half])
    return est, truth


def test_exact_on_the_bottom_and_random_on_top_is_better_at_pruning():
    rng = np.random.default_rng(4)
    n = 1000
    ests = [_half_exact(n, rng)[0] for _ in range(3)]
    truth = np.arange(n, dtype=float)
    (pp,) = P.picking_vs_pruning(_group([f"a{i}" for i in range(n)], ests, truth))
    i = pp.at(0.10)
    assert pp.bottom[i].mean == 1.0 and pp.hit[i].mean < 0.4
    assert pp.chance_hit[i] == pytest.approx(0.1) and pp.chance_bottom[i] == pytest.approx(0.1)
    assert "better at pruning the worst than at picking the best" in P.pruning_finding(pp)
    assert max(w.mean for w in pp.wr) < 0.5  # the top k (k <= 30 %) never reaches the true bottom half


def test_exact_on_top_and_random_on_the_bottom_is_better_at_picking():
    rng = np.random.default_rng(5)
    n = 1000
    ests = [_half_exact(n, rng, exact_bottom=False)[0] for _ in range(2)]
    (pp,) = P.picking_vs_pruning(_group([f"a{i}" for i in range(n)], ests, np.arange(n, dtype=float)))
    assert pp.hit[pp.at(0.10)].mean == 1.0 and pp.br[0].mean == 0.0
    assert "better at picking the best than at pruning the worst" in P.pruning_finding(pp)


def test_a_constant_estimator_scores_chance_and_the_finding_says_so():
    n = 200
    truth = np.arange(n, dtype=float)
    (pp,) = P.picking_vs_pruning(_group([f"a{i}" for i in range(n)], [np.zeros(n)], truth))
    assert [h.mean for h in pp.hit] == pytest.approx(list(pp.chance_hit))
    assert "no better than chance at either" in P.pruning_finding(pp)


def test_pruned_space_tau_of_a_perfect_estimator_is_one_everywhere():
    n = 300
    truth = np.random.default_rng(6).normal(size=n)
    (pt,) = P.pruned_tau(_group([f"a{i}" for i in range(n)], [np.exp(truth)], truth))
    assert pt.full.mean == 1.0
    assert all(v.mean == pytest.approx(1.0) for v in (*pt.pruned, *pt.random, *pt.oracle))


def test_pruning_by_an_estimator_exact_on_top_leaves_an_easier_space_than_a_random_subset():
    n = 400
    est, truth = _half_exact(n, np.random.default_rng(7), exact_bottom=False)
    (pt,) = P.pruned_tau(_group([f"a{i}" for i in range(n)], [est], truth))
    i = pt.at(0.5)
    assert pt.pruned[i].mean == pytest.approx(1.0) and pt.random[i].mean < 0.8
    assert "the pruned space is easier to rank" in P.pruned_finding(pt)
    again = P.pruned_tau(_group([f"a{i}" for i in range(n)], [est], truth))[0]
    assert again.random == pt.random  # the control's generator is seeded


def test_the_estimators_top_keeps_its_boundary_ties():
    est = np.array([5.0, 4.0, 4.0, 4.0, 1.0, 0.0])
    assert P.estimator_top(est, 2).tolist() == [True, True, True, True, False, False]


# --------------------------------------------------------------------------- best-found architecture


def test_best_found_rank_of_a_perfect_estimator_is_zero_at_every_snapshot_and_seed():
    n = 100
    truth = np.random.default_rng(8).normal(size=n)
    g = _group([f"a{i}" for i in range(n)], [truth, 2 * truth], truth, earlier={50: [truth + 1, truth * 3]})
    (bf,) = P.best_found(g, params=-truth)
    assert bf.pooled == (0.0, 0.0, 0.0, 0.0) and bf.final.values == (0.0, 0.0)
    assert bf.params_pick == 1.0  # -truth picks the true worst
    assert bf.chance == pytest.approx(0.5)


def test_best_found_is_ranked_on_the_whole_archset_when_an_earlier_snapshot_missed_the_best():
    n = 11
    truth = np.arange(n, dtype=float)
    early = truth.copy()
    early[-1] = np.nan  # the true best was not scored at epoch 50
    (bf,) = P.best_found(_group([f"a{i}" for i in range(n)], [truth], truth, earlier={50: [early]}))
    assert bf.runs[0].epochs == (50, 100) and bf.runs[0].ranks == (pytest.approx(0.1), 0.0)


def test_best_found_takes_the_mean_rank_of_the_architectures_tied_at_the_top():
    truth = np.arange(11, dtype=float)  # normalized ranks 1.0 .. 0.0
    est = np.zeros(11)
    est[[10, 8]] = 1.0  # the true best and the third best tie
    (bf,) = P.best_found(_group([f"a{i}" for i in range(11)], [est], truth))
    assert bf.runs[0].ranks == (pytest.approx(0.1),) and bf.runs[0].tied == (2,)


# --------------------------------------------------------------------------- the report sections


def deep_sections(groups, out, name):
    """Every registered analysis on ``groups`` (no intervals): its Markdown lines, and its figures drawn into ``out``."""
    rendered = run_all(Groups(groups, bootstrap=0), name)
    lines = [line for r in rendered for line in r.lines]
    return lines, [f.draw(out / f.file(name)) for r in rendered for f in r.figures]


def test_deep_sections_write_tables_findings_and_one_png_per_analysis(tmp_path):
    rng = np.random.default_rng(9)
    archs = _isomorphic_pairs(150)
    params = B.arch_costs("nb201", archs)["params"]
    truth = _z(params) + rng.normal(0, 1, len(archs))
    finals = [truth - _z(params) + rng.normal(0, 0.5, len(archs)) for _ in range(2)]
    earlier = {50: [f + rng.normal(0, 1, len(archs)) for f in finals]}
    scored = _group(archs, finals, truth, earlier=earlier)
    blind = _group(archs, finals, None, label="no-truth")
    lines, pngs = deep_sections([scored, blind], tmp_path, "deep")
    text = "\n".join(lines)
    for heading in ("## Biases", "### Complexity bias", "### Op bias", "### Isomorphism", "## Picking vs pruning",
                    "## Variance of the best-found architecture"):  # fmt: skip
        assert heading in text, heading
    assert "nb201/no-truth/p: no ground truth: bias analyses need one" in text
    assert "| spos | synthetic:cifar10/test |" in text
    assert "better at" in text and "pruned space is" in text and "final pick lands between" in text
    assert {p.name for p in pngs} == {f"deep-{s}.png" for s in ("complexity-bias", "op-bias", "isomorphism",
                                      "picking-vs-pruning", "pruned-space-tau", "best-found-rank")}  # fmt: skip
    for p in pngs:
        assert p.read_bytes().startswith(PNG_MAGIC) and f"]({p.name})" in text


def test_deep_sections_say_not_measurable_on_one_member_per_class(tmp_path, reps):
    archs, _ = reps
    truth = np.random.default_rng(10).normal(size=len(archs))
    lines, pngs = deep_sections([_group(archs, [truth], truth)], tmp_path, "one")
    text = "\n".join(lines)
    assert "not measurable on this archset" in text and "600 distinct isomorphism classes" in text
    assert not any("isomorphism" in p.name for p in pngs)


def test_an_analysis_that_cannot_run_is_a_note_not_an_exception(reps):
    archs, _ = reps
    tiny = Groups([_group(archs[:5], [np.arange(5.0)], np.arange(5.0))])
    complexity = complexity_bias.compute(tiny)
    picking = picking_vs_pruning.compute(tiny)
    assert not complexity.entries[0].biases and not picking.entries[0].picking
    assert any("fewer than the 10 complexity bias needs" in n for n in complexity.notes)
    assert any("picking vs pruning" in n for n in picking.notes)
    assert "- note: nb201/spos/p: complexity bias: 5 architectures" in "\n".join(complexity_bias.render(complexity, "r").lines)


# --------------------------------------------------------------------------- the plugin contract


def test_the_report_runs_every_registered_analysis_in_its_declared_order():
    assert [name for name, _ in ordered()] == [
        "schedule", "intervals", "agreement", "biases", "complexity_bias", "op_bias", "isomorphism", "picking_vs_pruning",
        "best_found", "fidelity",
    ]  # fmt: skip
    assert all(isinstance(ANALYSES.get(name), AnalysisPlugin) for name in ANALYSES.names())


def test_no_groups_leave_the_biases_heading_with_a_reason_and_nothing_else():
    lines, pngs = deep_sections([], None, "empty")
    assert lines == ["", "", "## Biases", "", "No strategy groups to analyse."] and pngs == []


def test_render_only_describes_figures_and_the_report_draws_them(tmp_path, reps):
    archs, _ = reps
    truth = np.random.default_rng(11).normal(size=len(archs))
    result = picking_vs_pruning.compute(Groups([_group(archs, [truth + 0.1], truth)]))
    rendered = picking_vs_pruning.render(result, "r")
    assert [f.suffix for f in rendered.figures] == ["picking-vs-pruning", "pruned-space-tau"]
    assert "![r-picking-vs-pruning](r-picking-vs-pruning.png)" in rendered.lines and not any(tmp_path.iterdir())
    path = rendered.figures[0].draw(tmp_path / rendered.figures[0].file("r"))
    assert path.read_bytes().startswith(PNG_MAGIC)


TOY_MODULE = """
import pandas as pd

from harness.analysis.analyses.base import AnalysisPlugin, Figure, Rendered


def compute(groups):
    return {g.label: len(g.archs) for g in groups.strategies}


def draw(path):
    path.write_bytes(b"toy")
    return path


def render(result, name):
    lines = ["", "## Toy", "", *(f"- {label}: {n} architectures" for label, n in result.items())]
    figure = Figure("toy", draw)
    return Rendered(lines + figure.link(name), {"toy": pd.DataFrame({"label": list(result)})}, [figure])


PLUGINS = {"analysis": {"toy": AnalysisPlugin(order=35, compute=compute, render=render)}}
"""


@pytest.fixture
def toy_analysis(tmp_path, monkeypatch):
    """A package outside the repository declaring one analysis, found through ``WSBENCH_PLUGINS``."""
    import harness.analysis.analyses as analyses
    from harness.api.registry import Registry

    package = tmp_path / "toyplugins"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "toy.py").write_text(TOY_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("WSBENCH_PLUGINS", "toyplugins")
    monkeypatch.setattr(analyses, "ANALYSES", Registry(analyses.KIND, discover=analyses._fill))
    return analyses


def test_an_analysis_declared_in_a_plugin_package_runs_in_its_place(toy_analysis, tmp_path, reps):
    names = [name for name, _ in toy_analysis.ordered()]
    assert names[names.index("toy") - 1 : names.index("toy") + 2] == ["isomorphism", "toy", "picking_vs_pruning"]  # 33 < 35 < 40
    archs, _ = reps
    truth = np.arange(len(archs), dtype=float)
    rendered = toy_analysis.run_all(Groups([_group(archs, [truth], truth)], bootstrap=0), "r")
    toy = rendered[names.index("toy")]
    assert toy.lines[:4] == ["", "## Toy", "", f"- spos: {len(archs)} architectures"] and "![r-toy](r-toy.png)" in toy.lines
    assert list(toy.frames) == ["toy"] and toy.figures[0].file("r") == "r-toy.png"


def test_a_registered_analysis_must_be_an_analysis_plugin():
    from harness.api.registry import Registry

    registry = Registry("analysis")
    registry.add("odd", object())
    with pytest.raises(WsbenchError, match="not an AnalysisPlugin"):
        ordered(registry)
