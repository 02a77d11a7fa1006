"""Cells as cluster jobs (submitit's local executor: real subprocesses): identical results, kill and resubmit, once.

Every job and the reference run use one torch thread per cell: CPU results depend on the thread
count, and the comparisons below are exact. ``reference`` (conftest) is one plain run per session.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import pytest
from conftest import assert_same_results, attempts, needs_data

from harness.api.errors import WsbenchError
from harness.run.backends import scheduler, slurm
from harness.run.backends.slurm import SlurmBackend
from harness.run.cluster_options import ExecutorOptions, parse_table, sbatch_parameters
from harness.run.launch import launch
from harness.run.matrix import load_matrix, parse_matrix
from harness.run.status import format_status, matrix_status

LOCAL_JOBS = ExecutorOptions(kind="submitit-local", threads=1, time_limit_min=10)


@pytest.fixture(autouse=True)
def _fast_polls(monkeypatch):
    # ``wait`` asks for the jobs' states every POLL_S (5 s); these jobs take seconds.
    monkeypatch.setattr(slurm, "POLL_S", 0.2)


def _quiet(_msg: str) -> None:
    return None


def test_executor_table_is_strict_and_the_command_line_wins(tmp_path):
    opts = parse_table({"kind": "slurm", "partition": "gpu", "sbatch": ["--constraint=a100", "--exclusive"]}, "m.toml")
    assert opts.is_cluster() and sbatch_parameters(opts.sbatch) == {"constraint": "a100", "exclusive": True}
    assert opts.updated(partition="debug", time_limit_min=30).partition == "debug"
    assert opts.resolved("cuda").gpus_per_job == 1 and opts.resolved("cpu").gpus_per_job == 0
    with pytest.raises(WsbenchError, match=r"executor.partiton is not an executor option.*did you mean 'partition'"):
        parse_table({"partiton": "gpu"}, "m.toml")
    with pytest.raises(WsbenchError, match="executor 'slurmm' is unknown"):
        parse_table({"kind": "slurmm"}, "m.toml")
    with pytest.raises(WsbenchError, match=r"cells_per_job must be an integer in 1\.\.128"):
        parse_table({"kind": "slurm", "cells_per_job": 0}, "m.toml")
    with pytest.raises(WsbenchError, match="long options like"):
        parse_table({"sbatch": ["constraint=a100"]}, "m.toml")
    raw = {"name": "m", "seeds": [0], "executor": {"kind": "slurm"}, "spaces": [{"name": "nb201", "protocol": "quick"}],
           "strategies": [{"name": "spos"}]}  # fmt: skip
    assert parse_matrix(raw).executor.kind == "slurm"


def _process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (from /proc): a killed job takes all its processes, as Slurm's would."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo += children.get(p, [])
    return tree


def _wait_for(path, timeout=300.0):
    t0 = time.time()
    while not path.exists():
        assert time.time() - t0 < timeout, f"{path} did not appear"
        time.sleep(0.2)


@needs_data()
def test_a_job_killed_mid_epoch_is_resubmitted_and_resumes_to_identical_results(matrix_file, reference, tmp_path):
    matrix = load_matrix(matrix_file)
    first = matrix.cells()[0]
    both = LOCAL_JOBS.updated(cells_per_job=2)  # one job, both cells
    sub = slurm.submit(matrix, tmp_path, both, log=_quiet)
    (job,) = sub.jobs
    _wait_for(first.run_dir(tmp_path) / "checkpoint.pt")  # epoch 1 done: now inside epoch 2
    for pid in _process_tree(int(job.job_id)):  # submitit's controller, the task, its cell workers
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    slurm.wait(matrix, tmp_path, sub.jobs, log=_quiet, poll_s=0.2)
    assert not (first.run_dir(tmp_path) / "result.json").exists()
    run = launch(matrix, tmp_path, both, log=_quiet)  # the next submission picks the cells up
    assert [o.status for o in run.outcomes] == ["finished", "finished"], run.summary()
    assert_same_results(matrix_file, tmp_path, reference)
    tries = attempts(first.run_dir(tmp_path))
    assert len(tries) == 2 and tries[1]["resume"] is True


@needs_data()
def test_local_jobs_give_the_plain_runs_numbers_run_each_cell_once_and_status_names_the_jobs(matrix_file, reference, tmp_path):
    matrix = load_matrix(matrix_file)
    cells = [c.cell_hash() for c in matrix.cells()]
    backend = SlurmBackend(LOCAL_JOBS, log=_quiet)
    assert backend.run(matrix, tmp_path, wait=False).outcomes == []  # submitted, not waited for
    a = backend.submission
    b = slurm.submit(matrix, tmp_path, LOCAL_JOBS, log=_quiet)  # sees both cells held by a's jobs
    assert len(a.jobs) == 2 and b.jobs == [] and set(b.held) == set(cells)
    # A job that races a's for the same cell anyway (e.g. submitted by hand): the cell's lock decides.
    executor = slurm.make_executor(LOCAL_JOBS.resolved("cpu"), slurm.jobs_folder(tmp_path, matrix), matrix)
    racer = executor.submit(slurm.CellsJob(matrix, [cells[0]], str(tmp_path), 1, 1))
    backend.wait()
    assert [o.status for o in backend.outcomes()] == ["finished", "finished"], [o.detail for o in backend.outcomes()]
    assert racer.result()[cells[0]].split()[0] in ("finished", "skipped")  # whichever got the lock first
    assert_same_results(matrix_file, tmp_path, reference)
    assert all(len(attempts(c.run_dir(tmp_path))) == 1 for c in matrix.cells())
    records = slurm.read_records(tmp_path, matrix)
    assert len(records) == 2 and all(len(r.cells) == 1 for r in records)
    text = format_status(matrix, matrix_status(matrix, tmp_path), slurm.job_of_cells(tmp_path, matrix))
    assert all(f"[job {r.job_id} ENDED]" in text for r in records)
    again = slurm.submit(matrix, tmp_path, LOCAL_JOBS, log=_quiet)  # nothing left to do
    assert again.jobs == [] and len(again.finished) == 2


def test_the_readme_executor_example_is_a_valid_table():
    import re

    import tomllib

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = re.search(r"```toml\n(\[executor\].*?)```", readme, re.S)
    assert block, "README's 'On a cluster' example is gone"
    opts = parse_table(tomllib.loads(block.group(1))["executor"], "README.md")
    assert opts.kind == "slurm" and opts.cells_per_job == 4 and sbatch_parameters(opts.sbatch) == {"constraint": "a100"}


def test_squeue_array_ranges_name_exactly_their_tasks(monkeypatch):
    listing = "7_0|RUNNING\n7_[2-3,5%2]|PENDING\n8|RUNNING\n"
    monkeypatch.setattr(scheduler, "slurm_output", lambda *args: listing)
    ids = {"7_0", "7_1", "7_2", "7_3", "7_5", "8"}
    want = {"7_0": "RUNNING", "7_2": "PENDING", "7_3": "PENDING", "7_5": "PENDING", "8": "RUNNING"}
    assert scheduler.queued_states(ids) == want
