"""The local backend (worker pool): SIGKILL and resume, two processes on one folder, failed cells, status.

Every run here uses one torch thread per worker: CPU results depend on the thread count, and
the comparisons below are exact. ``reference`` (conftest) is one plain run of the matrix per session.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import assert_same_results, attempts, needs_data

from harness.engine.loop import run_cell
from harness.run.backends.local import run_matrix
from harness.run.backends.locks import is_locked
from harness.run.matrix import load_matrix
from harness.run.status import format_status, matrix_status

pytestmark = needs_data()

REPO = Path(__file__).resolve().parent.parent


def _start(matrix_file, root):
    """A matrix run in its own process group (so SIGKILL takes its workers too)."""
    return subprocess.Popen(
        [sys.executable, "-m", "harness.run.launch", "run", str(matrix_file), "--root", str(root), "--threads", "1"],
        cwd=REPO,
        env={**os.environ, "CI": "1"},
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_sigkill_mid_epoch_then_rerun_gives_identical_results(matrix_file, reference, tmp_path):
    first = load_matrix(matrix_file).cells()[0].run_dir(tmp_path)
    proc = _start(matrix_file, tmp_path)
    deadline = time.monotonic() + 60
    while not (first / "checkpoint.pt").exists():
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, "no checkpoint within 60 s"
        time.sleep(0.02)
    time.sleep(0.2)  # into epoch 2 (training + scoring take over a second)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (first / "result.json").exists(), "the cell finished before the kill; the test needs a slower epoch"
    # The kernel drops a dead worker's lock (its exit may trail the parent's by a moment).
    while is_locked(first):
        assert time.monotonic() < deadline, "the killed worker's lock was never released"
        time.sleep(0.02)
    states = {r.run_dir: (r.state, r.detail) for r in matrix_status(load_matrix(matrix_file), tmp_path)}
    assert states[first][0] == "partial" and states[first][1] in ("epoch 1/3", "epoch 2/3"), states

    run = run_matrix(load_matrix(matrix_file), root=tmp_path, progress=False, log=None, threads=1)
    assert [o.status for o in run.outcomes] == ["finished", "finished"], run.summary()
    assert [a["resume"] for a in attempts(first)] == [False, True]
    assert_same_results(matrix_file, tmp_path, reference)


def test_two_processes_on_one_folder_run_each_cell_once(matrix_file, reference, tmp_path):
    procs = [_start(matrix_file, tmp_path) for _ in range(2)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    cells = load_matrix(matrix_file).cells()
    for cell in cells:
        tries = attempts(cell.run_dir(tmp_path))
        assert len(tries) == 1 and not tries[0]["resume"], tries
    # Between them the two processes trained each cell once; the other reports it as skipped.
    assert sum(int(o.split("cells: ")[1].split(" finished")[0]) for o in outs) == len(cells), outs
    assert_same_results(matrix_file, tmp_path, reference)
    rerun = run_matrix(load_matrix(matrix_file), root=tmp_path, progress=False, log=None)
    assert [o.detail for o in rerun.skipped] == ["already finished"] * len(cells)


def nan_for_seed_1(spec, root, log):
    """A cell runner whose seed-1 cell meets a NaN loss (the test's injected failure).

    The NaN enters through the task's loss, the one point the training loop computes it."""
    from harness.tasks.classification import ImageClassification

    if spec.seed != 1:
        return run_cell(spec, root=root, log=log)
    loss = ImageClassification.loss
    ImageClassification.loss = lambda self, output, target: loss(self, output, target) * float("nan")
    try:
        return run_cell(spec, root=root, log=log)
    finally:
        ImageClassification.loss = loss


def test_failed_cell_is_recorded_and_the_rest_finish_then_a_rerun_retries_it(matrix_file, reference, tmp_path):
    m = load_matrix(matrix_file)
    lines = []
    run = run_matrix(m, root=tmp_path, progress=False, log=lines.append, runner=nan_for_seed_1, threads=1)
    assert [o.status for o in run.outcomes] == ["finished", "failed"], run.summary()
    bad = run.failed[0]
    info = json.loads((bad.run_dir / "failed.json").read_text())
    assert info["type"] == "TrainingDiverged" and "nan" in info["message"]
    assert "Traceback" in info["traceback"] and "run_cell" in info["traceback"]
    assert bad.detail.startswith("TrainingDiverged: training loss became nan")
    assert "FAILED" in run.summary() and any("FAILED" in line for line in lines)
    assert any("epoch 3/3" in line for line in lines)  # the workers' log lines reach the parent
    assert [r.state for r in matrix_status(m, tmp_path)] == ["finished", "failed"]
    assert "1 finished, 1 failed" in format_status(m, matrix_status(m, tmp_path))

    again = run_matrix(m, root=tmp_path, progress=False, log=None, threads=1)
    assert [o.status for o in again.outcomes] == ["skipped", "finished"], again.summary()
    assert not (bad.run_dir / "failed.json").exists() and len(attempts(bad.run_dir)) == 2
    assert_same_results(matrix_file, tmp_path, reference)


def test_cuda_matrix_without_gpu_is_a_one_line_error(tmp_path):
    import torch

    from harness.api.errors import WsbenchError

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    with pytest.raises(WsbenchError, match="no GPU is visible"):
        run_matrix(load_matrix("full"), root=tmp_path, progress=False, log=None)
