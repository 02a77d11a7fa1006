"""Cells as jobs on a real single-node Slurm (``slurm_cluster``): requeue on a time-limit warning, status.

Skipped with the reason where Slurm cannot start (CI installs ``slurm-wlm`` and ``munge``). The ci
matrix itself runs through Slurm in ``test_regression`` (its numbers against the baseline).
"""

from __future__ import annotations

import subprocess
import time

from conftest import needs_data
from slurm_cluster import slurm  # noqa: F401 - the session fixture
from test_executor import _assert_same_results, _attempts

from harness.run import cluster
from harness.run.cluster_options import ExecutorOptions
from harness.run.executor import format_status, matrix_status
from harness.run.matrix import load_matrix

pytestmark = needs_data()

#: One torch thread per cell, as the reference run; one job for both cells, a CPU each.
JOBS = ExecutorOptions(kind="slurm", threads=1, cpus_per_job=2, cells_per_job=2, time_limit_min=20)


def _wait_for(path, timeout=300.0):
    t0 = time.time()
    while not path.exists():
        assert time.time() - t0 < timeout, f"{path} did not appear"
        time.sleep(0.2)


def test_a_time_limit_warning_requeues_the_job_and_it_resumes_to_identical_results(slurm, matrix_file, reference, tmp_path):  # noqa: F811
    matrix = load_matrix(matrix_file)
    first = matrix.cells()[0]
    sub = cluster.submit(matrix, tmp_path, JOBS, log=lambda _m: None)
    (job,) = sub.jobs
    _wait_for(first.run_dir(tmp_path) / "checkpoint.pt")  # epoch 1 done: inside epoch 2 now
    # What Slurm sends signal_delay_s before a time limit: submitit requeues the job.
    subprocess.run(["scancel", "--signal=USR2", job.job_id], check=True, env=slurm.env)
    cluster.wait(matrix, tmp_path, sub.jobs, log=lambda _m: None, poll_s=1.0)
    states = cluster.job_states(sub.jobs)
    outcomes = cluster.outcomes(matrix, tmp_path, sub, states)
    assert [o.status for o in outcomes] == ["finished", "finished"], [o.detail for o in outcomes]
    _assert_same_results(matrix_file, tmp_path, reference)
    attempts = _attempts(first.run_dir(tmp_path))
    assert len(attempts) == 2 and attempts[1]["resume"] is True  # requeued, and resumed from the checkpoint
    text = format_status(matrix, matrix_status(matrix, tmp_path), cluster.job_of_cells(tmp_path, matrix))
    assert f"[job {job.job_id} " in text
