"""Learning-curve and train-briefly estimators on the NB101 1k curves (harness.analysis.learning_curves)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import needs_data

from harness import metrics as M
from harness.analysis import learning_curves as L
from harness.api.errors import CorruptDataError, DataMissingError, WsbenchError
from harness.catalog import SPACES
from spaces.nb101 import ground_truth as gt
from spaces.nb101.encoding import make_cell

#: One SVR configuration instead of the grid: the protocol is the same, the tests stay fast.
FAST_GRID = {"C": (1.0,), "nu": (0.5,), "gamma_factor": (1.0,)}


@pytest.fixture(scope="module")
def data() -> L.CurveData:
    gt.clear_cache()
    return L.load_curves()


def test_depth_is_the_longest_input_to_output_path() -> None:
    chain = make_cell([[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]], ["conv3x3", "maxpool"])
    assert L.depth(chain) == 3
    skip = make_cell([[0, 1, 1, 1], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]], ["conv3x3", "conv1x1"])
    assert L.depth(skip) == 3 and skip.num_edges == 5
    assert list(L.arch_features(skip, 1000.0)) == [4, 5, 1, 1, 0, 3, 3.0]


@needs_data()
def test_feature_shapes_names_and_determinism(data: L.CurveData) -> None:
    widths = {None: 7, 4: 8, 12: 10, 36: 12}
    for budget, width in widths.items():
        x, names = L.feature_matrix(data, budget)
        assert x.shape == (1000, width) and len(names) == width and np.all(np.isfinite(x))
        assert np.array_equal(x, L.feature_matrix(data, budget)[0])
    x, names = L.feature_matrix(data, 36)
    assert names[-2:] == ("acc@12-acc@4", "acc@36-acc@12")
    assert np.allclose(x[:, -1], data.accuracy[36] - data.accuracy[12])
    with pytest.raises(WsbenchError, match="not one of"):
        L.feature_matrix(data, 108)


@needs_data()
def test_full_training_has_tau_one_and_shorter_runs_rank_worse(data: L.CurveData) -> None:
    truth = data.accuracy[108]
    assert M.kendall_tau(L.reference_estimate(data).scores, truth) == pytest.approx(1.0)
    taus = [M.kendall_tau(L.train_briefly(data, e).scores, truth) for e in L.BUDGETS]
    assert 0 < taus[0] < taus[1] < taus[2] < 1
    # Costs: E/108 of full training, and nothing for the parameter count.
    full = L.full_training_hours(data)
    assert L.train_briefly(data, 12).device_hours == pytest.approx(full * 12 / 108)
    assert L.params_estimate(data).device_hours == 0.0


def test_fold_plan_predicts_every_cell_exactly_once_from_disjoint_training_cells() -> None:
    plan = L.fold_plan(1000, 10, 100, seed=3)
    predicted = np.concatenate([p for _, p in plan])
    assert np.array_equal(np.sort(predicted), np.arange(1000))
    for train, predict in plan:
        assert len(train) == 100 and len(np.unique(train)) == 100
        assert not set(train) & set(predict)
    again = L.fold_plan(1000, 10, 100, seed=3)
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(plan, again))
    assert not np.array_equal(plan[0][1], L.fold_plan(1000, 10, 100, seed=4)[0][1])


def test_bad_protocol_settings_are_one_line_errors() -> None:
    with pytest.raises(WsbenchError, match="train_fraction"):
        L.train_size(1000, 10, 0.95)
    with pytest.raises(WsbenchError, match="train_fraction"):
        L.train_size(1000, 10, 0.0)
    with pytest.raises(WsbenchError, match="folds"):
        L.fold_plan(1000, 1, 100, seed=0)
    with pytest.raises(WsbenchError, match="seed"):
        L.fold_plan(1000, 10, 100, seed=-1)


@needs_data()
def test_svr_is_deterministic_and_the_curve_beats_architecture_alone(data: L.CurveData) -> None:
    truth = data.accuracy[108]
    plan = L.fold_plan(len(data), 3, 100, seed=0)
    with_curve = L.svr_estimate(data, 36, plan, seed=0)
    arch_only = L.svr_estimate(data, None, plan, seed=0)
    # Over seeds 0-3 the gap is 0.20-0.26 in tau (36-epoch curve vs architecture only).
    assert M.kendall_tau(with_curve.scores, truth) > M.kendall_tau(arch_only.scores, truth) + 0.1
    small = data.take(range(150))
    small_plan = L.fold_plan(150, 3, 40, seed=1)
    first = L.svr_estimate(small, 4, small_plan, seed=1).scores
    assert np.array_equal(first, L.svr_estimate(small, 4, small_plan, seed=1).scores)
    # Cost: 100 fully trained cells plus every cell's 4 + 12 + 36 epochs of runs.
    expected = np.mean([L.hours(data.seconds108[t]) for t, _ in plan]) + L.full_training_hours(data) * 52 / 108
    assert with_curve.device_hours == pytest.approx(expected)
    assert arch_only.n_full_trained == 100 and arch_only.epochs_per_cell == 0


@needs_data()
def test_score_files_round_trip_with_module_hash_keys(data: L.CurveData, tmp_path) -> None:
    estimates = [L.train_briefly(data, 4), L.params_estimate(data)]
    paths = L.write_estimator_files(tmp_path / "scores", estimates, data, {"seed": 0})
    assert [p.name for p in paths] == ["nb101-train-4.json", "nb101-params.json"]
    space = SPACES.get("nb101")  # the registry hands back the space instance
    for path, est in zip(paths, estimates):
        doc = json.loads(path.read_text())
        assert doc["wsbench_scores"] == 1 and doc["space"] == "nb101" and doc["label"] == est.label
        assert doc["higher_is_better"] is True and doc["key_format"] == "auto"
        assert doc["cost"]["device"] == L.DEVICE and doc["cost"]["device_hours"] == pytest.approx(est.device_hours)
        keys = list(doc["scores"])
        assert len(keys) == 1000 and all(space.arch_id(k) == k for k in keys)
        assert all(space.parse(k).module_hash == k for k in keys[:20])  # ids of real cells, not just hash-shaped
        assert np.allclose([doc["scores"][k] for k in data.keys], est.scores)
    assert not list((tmp_path / "scores").glob(".*.tmp"))


@needs_data()
def test_table_and_command_end_to_end(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(L, "SVR_GRID", FAST_GRID)
    text = L.learning_curve_command(str(tmp_path / "out"), folds=3, seed=0, bootstrap=50)
    for label in ("train-4", "train-36", "svr@12", "svr-arch", "params", "train-108 (full)"):
        assert f"| {label} |" in text
    assert "| train-108 (full) | 1.000 [1.000, 1.000] |" in text
    assert len(list((tmp_path / "out").glob("nb101-*.json"))) == 8
    data = L.load_curves().take(range(200))
    table = L.curve_table(data, [L.train_briefly(data, 36), L.params_estimate(data)], bootstrap=50, seed=0)
    full = table.iloc[-1]
    assert full["kendall_tau"] == pytest.approx(1.0) and full["speed_up"] == pytest.approx(1.0)
    assert table.iloc[0]["speed_up"] == pytest.approx(3.0) and math.isinf(table.iloc[1]["speed_up"])
    assert table.iloc[0]["tau_low"] <= table.iloc[0]["kendall_tau"] <= table.iloc[0]["tau_high"]


def test_missing_curves_file_is_a_one_line_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("WSBENCH_DATA", str(tmp_path))
    with pytest.raises(DataMissingError, match="nb101-1k-curves.json") as err:
        L.load_curves()
    assert "\n" not in str(err.value)


def test_corrupt_curves_file_is_a_one_line_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("WSBENCH_DATA", str(tmp_path))
    (tmp_path / "nb101").mkdir()
    (tmp_path / "nb101" / "nb101-1k-curves.json").write_text('{"key": [')
    gt.clear_cache()
    with pytest.raises(CorruptDataError, match="not valid JSON") as err:
        L.load_curves()
    assert "\n" not in str(err.value)


@needs_data()
def test_curves_file_without_training_times_is_a_one_line_error(tmp_path, monkeypatch) -> None:
    real = json.loads(gt.Curves1kSource().path().read_text())
    small = {k: v[:20] for k, v in real.items() if k != "final_training_time"}
    monkeypatch.setenv("WSBENCH_DATA", str(tmp_path))
    (tmp_path / "nb101").mkdir()
    (tmp_path / "nb101" / "nb101-1k-curves.json").write_text(json.dumps(small))
    gt.clear_cache()
    with pytest.raises(CorruptDataError, match="final_training_time") as err:
        L.load_curves()
    assert "\n" not in str(err.value)
