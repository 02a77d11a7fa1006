"""One matrix cell end to end on real CIFAR-10: outputs, determinism, resume, seeds, errors."""

import json

import pandas as pd
import pytest
from conftest import needs_data

from harness.api.errors import WsbenchError
from harness.api.protocol import Protocol
from harness.catalog import PROTOCOLS
from harness.engine.cell import CellSpec
from harness.engine.loop import run_cell

pytestmark = needs_data()

TINY = PROTOCOLS.get("nb201-smoke").replace(
    name="tiny-test",
)


def _spec(seed=0, protocol=TINY, **kw):
    return CellSpec("nb201", "spos", protocol, seed, **kw)


def _quiet(*_):
    pass


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("ref")
    return root, run_cell(_spec(), root=root, log=_quiet)


def test_cell_writes_its_outputs(reference):
    root, result = reference
    out = _spec().run_dir(root)
    for name in (
        "config.json",
        "train_log.csv",
        "metrics.csv",
        "result.json",
        "supernet.pt",
        "scores/epoch_001.csv",
        "scores/epoch_002.csv",
    ):
        assert (out / name).exists(), name
    assert not (out / "checkpoint.pt").exists()
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["cell_hash"] == result["cell_hash"] and cfg["provenance"]["torch"]
    assert set(cfg["ground_truth_fingerprints"]) >= {"nb201/analog:cifar10/test/accuracy@as-published"}
    scores = pd.read_csv(out / "scores/epoch_002.csv")
    assert len(scores) == 24 and scores["accuracy"].between(0, 100).all()
    log = pd.read_csv(out / "train_log.csv")
    assert list(log["epoch"]) == [1, 2] and log["step"].iloc[-1] == 2 * (600 // 100)
    metrics = pd.read_csv(out / "metrics.csv")
    assert {"kendall_tau", "hit@10%", "br@1%"} <= set(metrics["metric"])
    assert set(metrics["epoch"]) == {1, 2}


def test_finished_cell_is_skipped(reference):
    root, result = reference
    calls = []
    again = run_cell(_spec(), root=root, log=calls.append)
    assert again == json.loads(json.dumps(result)) and calls == []


def test_same_seed_gives_identical_scores_on_cpu(reference, tmp_path):
    root, _ = reference
    run_cell(_spec(), root=tmp_path, log=_quiet)
    a = pd.read_csv(_spec().run_dir(root) / "scores/epoch_002.csv")
    b = pd.read_csv(_spec().run_dir(tmp_path) / "scores/epoch_002.csv")
    pd.testing.assert_frame_equal(a, b)


def test_interrupted_cell_resumes_to_identical_numbers(reference, tmp_path):
    root, _ = reference

    def crash_in_epoch_two(msg):
        if "epoch 2/2" in msg:  # epoch 2 finished training but its checkpoint is not written yet
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_cell(_spec(), root=tmp_path, log=crash_in_epoch_two)
    out = _spec().run_dir(tmp_path)
    assert (out / "checkpoint.pt").exists() and not (out / "result.json").exists()
    msgs = []
    run_cell(_spec(), root=tmp_path, log=msgs.append)
    assert any("resuming" in m for m in msgs)
    for f in ("scores/epoch_001.csv", "scores/epoch_002.csv", "train_log.csv"):
        a = pd.read_csv(_spec().run_dir(root) / f).drop(columns=["seconds", "score_seconds"], errors="ignore")
        b = pd.read_csv(out / f).drop(columns=["seconds", "score_seconds"], errors="ignore")
        pd.testing.assert_frame_equal(a, b)


def test_other_seed_differs_and_strategies_share_data_streams(reference, tmp_path):
    root, _ = reference
    run_cell(_spec(seed=1), root=tmp_path, log=_quiet)
    a = pd.read_csv(_spec().run_dir(root) / "scores/epoch_002.csv")
    b = pd.read_csv(_spec(seed=1).run_dir(tmp_path) / "scores/epoch_002.csv")
    assert list(a["arch"]) == list(b["arch"])  # the architecture set does not depend on the run seed
    assert not a["accuracy"].equals(b["accuracy"])


def test_cell_hash_depends_on_config():
    assert _spec().cell_hash() != _spec(seed=1).cell_hash()
    assert _spec().cell_hash() != _spec(strategy_options={"sampling": "deisomorphic"}).cell_hash()
    assert _spec().cell_hash() != _spec(protocol=TINY.replace(lr=0.1)).cell_hash()
    assert _spec().cell_hash() == _spec().cell_hash()


def test_bad_protocol_values_are_one_line_errors():
    with pytest.raises(WsbenchError, match="epochs must be an integer >= 1"):
        TINY.replace(epochs=-1)
    with pytest.raises(WsbenchError, match="snapshot_epochs"):
        TINY.replace(snapshot_epochs=(5,))
    with pytest.raises(WsbenchError, match="bn_mode"):
        Protocol(name="x", description="", bn_mode="foo", snapshot_epochs=(250,))


def test_unknown_strategy_option_is_an_error(tmp_path):
    with pytest.raises(WsbenchError, match="unknown option"):
        run_cell(_spec(strategy_options={"samplng": "uniform"}), root=tmp_path, log=_quiet)


def test_equal_compute_scales_epochs_by_paths_per_step():
    from harness.engine.schedule import effective_schedule

    p = TINY.replace(epochs=20, snapshot_epochs=(16, 18, 20), equal_compute=True)
    assert effective_schedule(p, 1) == (20, (16, 18, 20))
    assert effective_schedule(p, 5) == (4, (3, 4))  # FairNAS on NB201: 5 paths per step
    assert effective_schedule(p, 4) == (5, (4, 5))
    assert effective_schedule(p.replace(equal_compute=False), 5) == (20, (16, 18, 20))
    # Bi-level (GDAS: 2 passes per step on half-length epochs): the same epochs as SPOS.
    assert effective_schedule(p, 2, 0.5) == (20, (16, 18, 20))
    assert effective_schedule(p, 8, 0.5) == (5, (4, 5))  # DARTS


def test_bf16_autocast_cell_runs_and_records_its_precision(tmp_path):
    bf16 = TINY.replace(name="tiny-bf16", epochs=1, snapshot_epochs=(1,), autocast="bf16")
    result = run_cell(_spec(protocol=bf16), root=tmp_path, log=_quiet)
    config = json.loads((_spec(protocol=bf16).run_dir(tmp_path) / "config.json").read_text())
    assert config["protocol"]["autocast"] == "bf16"
    assert result["steps"] == 6 and all(pd.notna(r["value"]) for r in result["metrics"])
