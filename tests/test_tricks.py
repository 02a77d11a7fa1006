"""The seed paper's training tricks: omniscience subsets, train-split folds, focus-branch pruning, cosine restarts."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from conftest import needs_data

from harness.api.errors import WsbenchError
from harness.api.space import TaskSpec
from harness.catalog import PROTOCOLS, SPACES, load_ground_truth
from harness.engine.schedule import cosine_lr
from harness.seeding import numpy_stream
from strategies.tricks import FocusBranch, Omniscience, TrainSplit, ids_fingerprint

SPACE = SPACES.get("nb201")
GT = ("analog", "cifar10", "test", "accuracy", "as-published")  # NB201's first default ground truth


def _make(cls, seed: int = 0, space=SPACE, **opts):
    return cls(space, numpy_stream(seed, "arch"), **opts)


@pytest.fixture(scope="module")
def truth() -> dict[str, float]:
    table = load_ground_truth("nb201", *GT)
    return dict(zip(table.arch_ids, table.values.tolist()))


# ------------------------------------------------------------------------------------- options

BAD_OPTIONS = [
    (Omniscience, {"subset": "best"}, "unknown omniscience subset 'best'"),
    (Omniscience, {"fraction": 0}, "fraction must be a number in"),
    (Omniscience, {"fraction": 1.5}, "fraction must be a number in"),
    (Omniscience, {"fraction": True}, "fraction must be a number in"),
    (Omniscience, {"subset_seed": -1}, "subset_seed must be an integer >= 0"),
    (Omniscience, {"ground_truth": ["analog", "cifar10"]}, "ground_truth must be 5 strings"),
    (Omniscience, {"ground_truth": ["analog", "cifar10", "test", "loss", "as-published"]}, "unknown metric"),
    (Omniscience, {"ground_truth": ["nope", "cifar10", "test", "accuracy", "mean"]}, "unknown ground-truth source"),
    (TrainSplit, {"by": "edges"}, "unknown trainsplit 'by' 'edges'"),
    (TrainSplit, {"folds": 1}, "folds must be an integer >= 2"),
    (TrainSplit, {"folds": 2.5}, "folds must be an integer >= 2"),
    (TrainSplit, {"by": "structure", "edge": 6}, r"edge must be an integer in 0\.\.5"),
    (TrainSplit, {"by": "structure", "folds": 3}, "one fold per option of choice 0 .5 options.; set folds = 5"),
    (TrainSplit, {"split_seed": "a"}, "split_seed must be an integer >= 0"),
    (FocusBranch, {"prune_at": [0.5, 0.25]}, "prune_at must be increasing fractions"),
    (FocusBranch, {"prune_at": [0.0]}, "prune_at must be increasing fractions"),
    (FocusBranch, {"prune_at": [1.0]}, "prune_at must be increasing fractions"),
    (FocusBranch, {"prune_at": 0.5}, "prune_at must be increasing fractions"),
    (FocusBranch, {"rule": "keep"}, "unknown focusbranch rule 'keep'"),
    (FocusBranch, {"metric": "loss"}, "unknown focusbranch metric 'loss'"),
    (FocusBranch, {"min_paths": 0}, "min_paths must be a positive integer"),
    (FocusBranch, {"window": 1.5}, "window must be a positive integer"),
]


@pytest.mark.parametrize("cls, opts, match", BAD_OPTIONS, ids=lambda v: str(v) if isinstance(v, dict) else None)
def test_bad_options_are_one_line_errors(cls, opts, match):
    with pytest.raises(WsbenchError, match=match) as e:
        _make(cls, **opts)
    assert "\n" not in str(e.value)


def test_focusbranch_and_structure_split_need_a_grid_space():
    nb101 = SPACES.get("nb101")
    for cls, opts in ((FocusBranch, {}), (TrainSplit, {"by": "structure"})):
        with pytest.raises(WsbenchError, match=f"strategy '{cls.name}' needs grid, which space 'nb101' does not provide"):
            _make(cls, space=nb101, **opts)
    _make(TrainSplit, space=nb101)  # the shuffle split routes by a hash of the id: any space


# ---------------------------------------------------------------------------------- omniscience


@needs_data()
def test_top_subset_is_the_true_top_third(truth):
    s = _make(Omniscience)
    ids = s.member_ids()
    assert len(ids) == len(set(ids)) == int(len(truth) / 3) == 5208
    inside = np.array([truth[a] for a in ids])
    outside = np.array([v for a, v in truth.items() if a not in set(ids)])
    assert inside.min() >= outside.max()  # nothing outside beats anything inside
    assert s.describe()["subset"] == {
        "size": 5208,
        "pool": 15625,
        "fingerprint": ids_fingerprint(ids),
        "ground_truth": "nb201/analog:cifar10/test/accuracy@as-published",
        "ground_truth_fingerprint": load_ground_truth("nb201", *GT).fingerprint,
    }


@needs_data()
def test_top_subset_of_a_lower_is_better_truth_takes_the_lowest():
    ptb = SPACES.get("ptb")
    s = _make(Omniscience, space=ptb, fraction=0.25)
    table = load_ground_truth("ptb", *ptb.default_ground_truths[0])
    assert not table.higher_is_better
    ids = set(s.member_ids())
    assert len(ids) == int(len(table) * 0.25)
    inside = [v for a, v in zip(table.arch_ids, table.values) if a in ids]
    outside = [v for a, v in zip(table.arch_ids, table.values) if a not in ids]
    assert max(inside) <= min(outside)


@needs_data()
def test_random_control_has_the_same_size_and_is_fixed_across_runs(truth):
    a = _make(Omniscience, seed=0, subset="random")
    b = _make(Omniscience, seed=5, subset="random")  # another run seed: the same subset
    other = _make(Omniscience, subset="random", subset_seed=1)
    top = _make(Omniscience)
    assert a.member_ids() == b.member_ids() and len(a.member_ids()) == len(top.member_ids())
    assert set(a.member_ids()) != set(other.member_ids()) and set(a.member_ids()) != set(top.member_ids())
    # A random third: its mean truth sits well below the top third's, near the whole pool's.
    mean = float(np.mean([truth[i] for i in a.member_ids()]))
    assert mean < float(np.mean([truth[i] for i in top.member_ids()]))
    assert abs(mean - float(np.mean(list(truth.values())))) < 2.0


@needs_data()
@pytest.mark.parametrize("subset", ["top", "random"])
def test_paths_come_only_from_the_subset_and_cover_it_uniformly(subset):
    s = _make(Omniscience, subset=subset, fraction=0.01)
    members = set(s.member_ids())
    drawn = [SPACE.arch_id(a) for step in range(3000) for a in s.paths(step)]
    assert set(drawn) <= members
    counts = np.bincount([sorted(members).index(a) for a in drawn])
    assert len(counts) == len(members) and counts.min() > 0  # 156 members, ~19 draws each


@needs_data()
def test_omniscience_resumes_and_refuses_a_checkpoint_of_another_subset():
    s = _make(Omniscience, subset="random")
    [s.paths(i) for i in range(50)]
    state = copy.deepcopy(s.state_dict())
    fresh = _make(Omniscience, seed=9, subset="random")
    fresh.load_state_dict(state)
    assert [fresh.paths(i) for i in range(50, 100)] == [s.paths(i) for i in range(50, 100)]
    with pytest.raises(WsbenchError, match="another subset") as e:
        _make(Omniscience, subset="top").load_state_dict(state)
    assert "\n" not in str(e.value)


# ----------------------------------------------------------------------------------- train split


def test_shuffle_folds_partition_the_space_and_are_stable():
    archs = SPACE.all_archs()
    a, b = _make(TrainSplit, seed=0), _make(TrainSplit, seed=3)
    folds = [a.route(x) for x in archs]
    assert folds == [b.route(x) for x in archs]  # the run seed does not move an architecture
    sizes = np.bincount(folds, minlength=5)
    assert len(sizes) == 5 and sizes.sum() == len(archs) and sizes.min() > 0.9 * len(archs) / 5
    moved = [_make(TrainSplit, split_seed=1).route(x) for x in archs[:500]]
    assert moved != folds[:500]


def test_structure_folds_are_the_op_on_the_chosen_edge():
    s = _make(TrainSplit, by="structure", edge=3)
    assert s.num_parts() == 5
    assert all(s.route(x) == x[3] for x in SPACE.all_archs()[::97])


@needs_data()
def test_accuracy_folds_are_quantile_bands_of_the_truth(truth):
    s = _make(TrainSplit, by="accuracy", folds=3)
    bands = [[] for _ in range(3)]
    for x in SPACE.all_archs():
        bands[s.route(x)].append(truth[SPACE.arch_id(x)])
    assert [len(b) for b in bands] == [5209, 5208, 5208] == s.describe()["fold_sizes"]
    assert max(bands[0]) <= min(bands[1]) and max(bands[1]) <= min(bands[2])  # fold 0 the worst
    s._band.pop(SPACE.arch_id((0,) * 6))
    with pytest.raises(WsbenchError, match="not in ground truth") as e:
        s.route((0,) * 6)
    assert "\n" not in str(e.value)


@needs_data()
def test_accuracy_split_draws_from_the_table_and_the_supernet_routes_by_fold():
    s = _make(TrainSplit, by="accuracy")
    model = s.bind(SPACE.build_supernet({"C": 2, "N": 1}, TaskSpec(10), seed=0), steps_per_epoch=4, epochs=1)
    assert len(model.parts) == 5 and model.split_done  # every fold its own copy from the start
    for step in range(40):
        (arch,) = s.paths(step)
        assert model.part_of(arch) == s.route(arch) == _make(TrainSplit, by="accuracy").route(arch)


def test_trainsplit_compute_is_one_path_per_step():
    s = _make(TrainSplit)
    assert s.paths_per_step == 1.0 and all(len(s.paths(i)) == 1 for i in range(20))


# --------------------------------------------------------------------------------- focus branch


def _feedback(arch: tuple[int, ...], step: int) -> float:
    """Synthetic batch accuracy: op 3 best on every edge, op 0 worst, plus a little step noise."""
    return 40.0 + 10.0 * arch.count(3) - 3.0 * arch.count(0) + (step % 5)


def _drive(s: FocusBranch, start: int, stop: int) -> list[tuple[int, ...]]:
    out = []
    for step in range(start, stop):
        for arch in s.paths(step):
            s.observe(step, arch, 1.0, _feedback(arch, step))
            out.append(arch)
    return out


def _bound(steps: int = 400, **opts) -> FocusBranch:
    s = _make(FocusBranch, **opts)
    s.bind(torch.nn.Identity(), steps_per_epoch=steps // 10, epochs=10)
    return s


def test_fix_best_prunes_at_the_stated_points_and_paths_follow():
    s = _bound(metric="accuracy")
    assert s.prune_steps == (100, 200, 300)
    paths = _drive(s, 0, 400)
    assert [h["step"] for h in s.history] == [100, 200, 300]
    fixed = [h["choice"] for h in s.history]
    assert len(set(fixed)) == 3 and all(h["option"] == 3 for h in s.history)  # the rewarded op
    for step, arch in enumerate(paths):
        done = [h for h in s.history if h["step"] <= step]
        assert all(arch[h["choice"]] == h["option"] for h in done)
    assert sum(len(a) == 1 for a in s.allowed) == 3 and all(len(a) == 5 for a in s.allowed if len(a) > 1)
    # The pick: fixed choices keep their option; open ones take their best-scoring option.
    assert s.selected() == (3,) * 6


def test_drop_worst_removes_one_option_per_point_and_never_empties_a_choice():
    points = [round(0.02 * k, 2) for k in range(1, 50)]  # 49 prune points, more than 6 x 4 removable options
    s = _bound(2500, rule="drop-worst", metric="accuracy", prune_at=points)  # 50 paths per window
    _drive(s, 0, 2500)
    removed = [h for h in s.history if h["action"] == "drop-worst"]
    assert len(removed) == 6 * 4 and all(len(a) == 1 for a in s.allowed)
    assert all(h["option"] != 3 for h in removed)  # the best op survives everywhere
    assert s.allowed == [[3]] * 6
    assert all(h["action"] == "skipped" for h in s.history if h not in removed)


def test_fix_best_never_empties_a_choice_and_skips_when_nothing_can_be_scored():
    s = _bound(metric="accuracy", prune_at=[0.001, 0.5], min_paths=1000)
    _drive(s, 0, 400)
    assert [h["action"] for h in s.history] == ["skipped", "skipped"]
    assert all(len(a) == 5 for a in s.allowed)


def test_nondominated_score_on_a_hand_made_window():
    s = _make(FocusBranch, min_paths=1)
    s._params = {(0,) * 6: 1.0, (1,) * 6: 2.0, (2,) * 6: 3.0}
    for arch, acc in (((0,) * 6, 50.0), ((1,) * 6, 40.0), ((2,) * 6, 60.0)):
        s.observe(0, arch, 1.0, acc)
    scores = {(b.choice, b.option): b.score for b in s.branch_scores()}
    # Op 0 (1.0M, 50 %) beats op 1 (fewer params, more accurate) but not op 2: 1 of 2 pairs.
    assert scores[(0, 0)] == 0.5 and scores[(0, 1)] == 0.0 and scores[(0, 2)] == 0.0
    assert len(scores) == 6 * 3


def test_focusbranch_resumes_across_a_prune_point():
    s = _bound()
    _drive(s, 0, 130)  # past the first prune (step 100), mid-window
    state = copy.deepcopy(s.state_dict())
    fresh = _bound()
    fresh.rng = numpy_stream(7, "arch")
    fresh.load_state_dict(state)
    assert _drive(fresh, 130, 400) == _drive(s, 130, 400)
    assert fresh.history == s.history and fresh.allowed == s.allowed


# ------------------------------------------------------------------------------- cosine restarts

QUICK = PROTOCOLS.get("quick")


def test_restarts_split_the_cosine_into_equal_cycles():
    p = QUICK.replace(epochs=4, snapshot_epochs=(4,), lr=0.1, lr_min=0.001, lr_restarts=3)
    f = cosine_lr(p, 400)
    starts = [0, 100, 200, 300]
    assert all(f(s) == pytest.approx(1.0) for s in starts)
    assert all(f(s + 50) == pytest.approx((0.001 + 0.5 * 0.099) / 0.1) for s in starts)  # mid-cycle
    assert all(f(s + 99) < 0.02 for s in starts) and f(400) == pytest.approx(0.01) and f(10_000) == pytest.approx(0.01)
    assert all(f(k) > f(k + 1) for k in range(399) if k + 1 not in starts)  # falls within each cycle


def test_no_restarts_is_the_single_cosine_bit_for_bit():
    p = QUICK.replace(epochs=10, snapshot_epochs=(10,), lr=0.1, lr_min=0.001, warmup_epochs=2)
    f = cosine_lr(p, 1000)
    warmup, span = 200, 800
    for step in (0, 199, 200, 333, 999, 1000, 1500):
        if step < warmup:
            expected = (step + 1) / warmup
        else:
            t = min(step - warmup, span) / span
            expected = (0.001 + 0.5 * (0.1 - 0.001) * (1 + math.cos(math.pi * t))) / 0.1
        assert f(step) == expected


def test_restarts_after_a_warmup_and_the_field_hashes_only_when_set():
    p = QUICK.replace(epochs=10, snapshot_epochs=(10,), warmup_epochs=2, lr_restarts=1)
    f = cosine_lr(p, 1000)
    assert f(199) == 1.0 and f(200) == pytest.approx(1.0) and f(600) == pytest.approx(1.0) and f(599) < 0.05
    assert "lr_restarts" not in QUICK.to_dict() and p.to_dict()["lr_restarts"] == 1


@pytest.mark.parametrize("bad", [-1, 1.5, True, 20])
def test_bad_lr_restarts_are_one_line_errors(bad):
    with pytest.raises(WsbenchError, match="lr_restarts") as e:
        QUICK.replace(lr_restarts=bad)  # quick: 20 epochs, so at most 19 restarts
    assert "\n" not in str(e.value)
