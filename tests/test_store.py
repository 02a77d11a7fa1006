"""The results store and the stability numbers, checked against hand computations from the score files."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import needs_data

from harness import metrics as M
from harness.analysis.stability import PARAMS_LABEL, analyse, mean_sd
from harness.api.errors import WsbenchError
from harness.catalog import PROTOCOLS, load_ground_truth
from harness.engine.cell import CellSpec
from harness.engine.loop import run_cell
from harness.run.store import AGGREGATE_SCHEMA, collect, load_scores, read_aggregate, scan, strategy_label, write_aggregate

data = needs_data()

TINY = PROTOCOLS.get("nb201-smoke").replace(
    name="tiny-store",
    eval_images=100,
    eval_batch_size=100,
)
DEISO = {"sampling": "deisomorphic"}
ANALOG_SPEC = ("analog", "cifar10", "test", "accuracy", "as-published")
ANALOG = "nb201/analog:cifar10/test/accuracy@as-published"
CSV = "nb201/csv:cifar10/test/accuracy@mean"


def _spec(seed, options=None):
    # One ground truth keeps the cells fast; the ceiling still finds the CSV table among the space's defaults.
    return CellSpec("nb201", "spos", TINY, seed, dict(options or {}), ground_truths=(ANALOG_SPEC,))


def _quiet(*_):
    pass


def _fake_cell(root, name, files):
    folder = root / "runs" / "nb201" / "spos" / TINY.name / name
    folder.mkdir(parents=True, exist_ok=True)
    for fname, text in files.items():
        (folder / fname).write_text(text)
    return folder


def shared_cells(tmp_path_factory):
    """Three real tiny cells (spos x seeds 0, 1; deisomorphic x seed 0), run once per test session.

    Finished cells are skipped when run again, so the report tests reuse these for free.
    """
    root = tmp_path_factory.getbasetemp() / "wsbench-tiny-cells"
    specs = [_spec(0), _spec(1), _spec(0, DEISO)]
    for s in specs:
        run_cell(s, root=root, log=_quiet)
    return root, specs


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """The shared cells plus two folders that must be left out (unfinished, damaged)."""
    root, specs = shared_cells(tmp_path_factory)
    cfg = (specs[0].run_dir(root) / "config.json").read_text()
    unfinished = _fake_cell(root, "seed7-0000000000", {"config.json": cfg, "checkpoint.pt": ""})
    # A result.json from before the file manifest, in a folder whose metrics.csv is gone.
    result = json.dumps({"cell_hash": json.loads(cfg)["cell_hash"]})
    damaged = _fake_cell(root, "seed8-1111111111", {"config.json": cfg, "result.json": result})
    return root, specs, unfinished, damaged


@pytest.fixture(scope="module")
def analysis(results):
    return analyse(results[0])


@pytest.fixture(scope="module")
def truth():
    return {
        ANALOG: load_ground_truth("nb201", "analog", "cifar10", "test", "accuracy", "as-published"),
        CSV: load_ground_truth("nb201", "csv", "cifar10", "test", "accuracy", "mean"),
    }


def _final(root, spec, epoch=2):
    s = load_scores(spec.run_dir(root))
    return s[s["epoch"] == epoch].sort_values("arch")


@data
def test_store_collects_exactly_the_finished_cells(results):
    root, specs, unfinished, damaged = results
    df = collect(root)
    assert list(df.columns) == list(AGGREGATE_SCHEMA)
    assert set(df["cell_hash"]) == {s.cell_hash() for s in specs}
    skipped = dict(scan(root).skipped)
    assert set(skipped) == {unfinished, damaged}
    assert "no result.json" in skipped[unfinished] and "metrics.csv is missing" in skipped[damaged]
    # The rows of one cell are exactly its metrics.csv, identity columns added.
    own = df[df["cell_hash"] == specs[1].cell_hash()].reset_index(drop=True)
    raw = pd.read_csv(specs[1].run_dir(root) / "metrics.csv")
    np.testing.assert_array_equal(own["value"].to_numpy(), raw["value"].to_numpy())
    assert set(own["seed"]) == {1} and set(own["label"]) == {"spos"}
    assert set(df.loc[df["cell_hash"] == specs[2].cell_hash(), "label"]) == {"spos[sampling=deisomorphic]"}
    assert json.loads(own["strategy_options"].iloc[0]) == {"sampling": "uniform"}
    assert own["torch_version"].iloc[0] and own["device"].iloc[0] == "cpu"


@data
def test_aggregate_round_trips_through_csv(results):
    root = results[0]
    written = write_aggregate(root)
    assert written[0] == root / "aggregate.csv"
    back = read_aggregate(written[0])
    pd.testing.assert_frame_equal(back, collect(root), check_dtype=False)
    if len(written) > 1:  # parquet only where pyarrow is installed
        pd.testing.assert_frame_equal(pd.read_parquet(written[1]), collect(root), check_dtype=False)


@data
def test_load_scores_holds_every_snapshot(results):
    root, specs, *_ = results
    s = load_scores(specs[0].run_dir(root))
    assert list(s.columns) == ["epoch", "arch", "accuracy", "loss"]
    assert sorted(s["epoch"].unique()) == [1, 2] and len(s) == 2 * 24
    with pytest.raises(WsbenchError, match="no score files"):
        load_scores(results[2])


def test_strategy_label_names_only_non_default_options():
    assert strategy_label("spos", {"sampling": "uniform"}) == "spos"
    assert strategy_label("spos", DEISO) == "spos[sampling=deisomorphic]"
    assert strategy_label("not-registered", {"a": 1}) == "not-registered[a=1]"


@data
def test_final_tau_mean_and_sd_equal_hand_computation(results, analysis, truth):
    root, specs, *_ = results
    row = analysis.table.query("kind == 'supernet' and label == 'spos' and ground_truth == @ANALOG").iloc[0]
    taus, hits = [], []
    for spec in specs[:2]:
        snap = _final(root, spec)
        true = truth[ANALOG].lookup(snap["arch"].tolist())
        taus.append(M.kendall_tau(snap["accuracy"].to_numpy(), true))
        hits.append(M.top_k_hit_rate(snap["accuracy"].to_numpy(), true, 0.05))
    assert row["tau_mean"] == pytest.approx(np.mean(taus), abs=1e-12)
    assert row["tau_sd"] == pytest.approx(np.std(taus, ddof=1), abs=1e-12)
    assert row["hit@5%_mean"] == pytest.approx(np.mean(hits), abs=1e-12)
    assert row["n_seeds"] == 2 and row["seeds"] == "0,1" and row["epochs"] == "1,2"


@data
def test_pairwise_taus_equal_kendall_of_the_score_vectors(results, analysis):
    root, specs, *_ = results
    row = analysis.table.query("kind == 'supernet' and label == 'spos'").iloc[0]
    a, b = _final(root, specs[0]), _final(root, specs[1])
    assert list(a["arch"]) == list(b["arch"])
    assert row["seed_pairwise_tau"] == pytest.approx(M.kendall_tau(a["accuracy"], b["accuracy"]), abs=1e-12)
    within = [M.kendall_tau(_final(root, s, 1)["accuracy"], _final(root, s, 2)["accuracy"]) for s in specs[:2]]
    assert row["snapshot_pairwise_tau"] == pytest.approx(np.mean(within), abs=1e-12)
    # A single seed has no seed-vs-seed agreement and no sd over seeds.
    one = analysis.table.query("kind == 'supernet' and label == 'spos[sampling=deisomorphic]'").iloc[0]
    assert one["n_seeds"] == 1 and np.isnan(one["seed_pairwise_tau"]) and np.isnan(one["tau_sd"])


@data
def test_within_run_numbers_over_last_k(results, analysis, truth):
    root, specs, *_ = results
    row = analysis.table.query("kind == 'supernet' and label == 'spos' and ground_truth == @ANALOG").iloc[0]
    sds, means = [], []
    for spec in specs[:2]:
        per_epoch = []
        for e in (1, 2):
            snap = _final(root, spec, e)
            per_epoch.append(M.kendall_tau(snap["accuracy"], truth[ANALOG].lookup(snap["arch"].tolist())))
        means.append(np.mean(per_epoch))
        sds.append(np.std(per_epoch, ddof=1))
    assert row["tau_lastk_mean"] == pytest.approx(np.mean(means), abs=1e-12)
    assert row["tau_lastk_sd"] == pytest.approx(np.mean(sds), abs=1e-12)
    last1 = analyse(root, last_k=1).table.query("kind == 'supernet' and label == 'spos'").iloc[0]
    assert last1["epochs"] == "2" and np.isnan(last1["snapshot_pairwise_tau"]) and np.isnan(last1["tau_lastk_sd"])
    assert last1["tau_mean"] == row["tau_mean"]


@data
def test_params_baseline_and_ceiling_rows(results, analysis, truth):
    from harness.catalog import SPACES

    archs = sorted(_final(results[0], results[1][0])["arch"])
    space = SPACES.get("nb201")
    params = np.array([space.cost(a).params_m for a in archs])
    t = analysis.table
    assert set(t["ground_truth"]) == {ANALOG}  # rows only for the truth the cells were scored against
    base = t.query("kind == 'params' and ground_truth == @ANALOG").iloc[0]
    assert base["label"] == PARAMS_LABEL
    assert base["tau_mean"] == pytest.approx(M.kendall_tau(params, truth[ANALOG].lookup(archs)), abs=1e-12)
    ceil = t.query("kind == 'ceiling' and ground_truth == @ANALOG").iloc[0]
    assert ceil["tau_mean"] == pytest.approx(M.kendall_tau(truth[CSV].lookup(archs), truth[ANALOG].lookup(archs)), abs=1e-12)
    assert ceil["hit@5%_mean"] == pytest.approx(
        M.top_k_hit_rate(truth[CSV].lookup(archs), truth[ANALOG].lookup(archs), 0.05), abs=1e-12
    )


def test_mean_sd_is_numpys_ddof_one():
    v = [0.1, 0.4, 0.35]
    assert mean_sd(v) == (pytest.approx(np.mean(v)), pytest.approx(np.std(v, ddof=1)))
    assert np.isnan(mean_sd([0.3])[1])


@data
def test_cell_filter_and_bad_arguments(results):
    root, specs, *_ = results
    only = analyse(root, cells=[specs[2].cell_hash()[:10]])
    assert set(only.table.query("kind == 'supernet'")["label"]) == {"spos[sampling=deisomorphic]"}
    with pytest.raises(WsbenchError, match="last_k must be an int >= 1"):
        analyse(root, last_k=0)
    with pytest.raises(WsbenchError, match="unknown score kind"):
        analyse(root, score="acc")


@data
def test_failed_and_partial_folders(results, tmp_path):
    import shutil

    root, specs, *_ = results
    # A cell the executor recorded as failed before it wrote anything else.
    failed = _fake_cell(
        tmp_path, "seed3-2222222222", {"failed.json": json.dumps({"type": "TrainingDiverged", "message": "loss nan\nmore"})}
    )
    # A cell that crashed between writing metrics.csv and result.json.
    partial = tmp_path / "runs" / "nb201" / "spos" / TINY.name / specs[0].run_dir(root).name
    shutil.copytree(specs[0].run_dir(root), partial)
    (partial / "result.json").unlink()
    skipped = dict(scan(tmp_path).skipped)
    assert skipped[failed] == "failed: TrainingDiverged: loss nan" and "no result.json" in skipped[partial]
    with pytest.raises(WsbenchError, match="no finished cells under .*run a matrix first"):
        collect(tmp_path)
    loose = collect(tmp_path, require_finished=False)
    assert set(loose["cell_hash"]) == {specs[0].cell_hash()}


@data
def test_matrix_labels_are_used_unless_they_merge_variants(results):
    root, specs, *_ = results
    named = {specs[0].cell_hash(): "uni", specs[1].cell_hash(): "uni", specs[2].cell_hash(): "deiso"}
    assert set(collect(root, labels=named)["label"]) == {"uni", "deiso"}
    merged = {s.cell_hash(): "spos" for s in specs}  # one label over two option variants
    sc = scan(root, labels=merged)
    assert {c.label for c in sc.cells} == {"spos", "spos[sampling=deisomorphic]"}
    assert any("2 different strategy variants" in n for n in sc.notes)


@needs_data()
def test_a_copied_cell_folder_is_reported_once_with_the_copy_named(tmp_path_factory, tmp_path):
    import shutil

    root, specs = shared_cells(tmp_path_factory)
    copy_root = tmp_path / "copy"
    shutil.copytree(root / "runs", copy_root / "runs")
    original = specs[0].run_dir(copy_root)
    duplicate = original.parent / "seed0-copied0000"
    shutil.copytree(original, duplicate)
    sc = scan(copy_root)
    hashes = [c.cell_hash for c in sc.cells]
    assert len(hashes) == len(set(hashes)) == len(specs)
    reasons = [why for folder, why in sc.skipped if folder == duplicate]
    assert reasons and reasons[0].startswith("duplicate: the same cell") and "\n" not in reasons[0]
    assert len(analyse(copy_root).table) == len(analyse(root).table)  # the report runs, counting the cell once
