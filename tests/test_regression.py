"""CI regression check: the `ci` matrix against its committed baseline, and the check itself.

One run of the ci matrix (``ci_run``) serves every check here: where a real single-node Slurm can
start (CI installs it) its cells run as Slurm jobs, and the first job is warned of its time limit
(USR2) after its first checkpoint, so it requeues and resumes; meanwhile seed 0 runs again in-process
in a second folder. So the baseline bands, bit-identity across folders, the Slurm path and requeue
are all checked on the same numbers.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from conftest import assert_same_cell, attempts, needs_data
from slurm_cluster import LocalSlurm, slurm_available

from harness.api.errors import WsbenchError
from harness.run import regression as R
from harness.run.backends import slurm
from harness.run.backends.records import JobRecord
from harness.run.cluster_options import ExecutorOptions

#: The ci matrix as Slurm jobs: one CPU and one cell each, so the three form a job array.
SLURM_JOBS = ExecutorOptions(kind="slurm", cpus_per_job=1, time_limit_min=20)


@dataclass
class CiRun:
    """The ci matrix, run once for this module, and what was done to it meanwhile."""

    root: Path  # its results
    measured: pd.DataFrame  # final-snapshot metrics, as ``wsbench regression`` reads them
    second: Path  # seed 0 run again, in-process, in another folder
    no_slurm: str = ""  # why the cells ran in the local pool instead of as Slurm jobs
    requeued: JobRecord | None = None  # the job warned (USR2) of its time limit after its first checkpoint
    requeue_error: str = ""
    status: str = ""  # ``matrix status`` while the cluster still knew the jobs


@pytest.fixture(scope="module")
def ci_run(tmp_path_factory):
    """The ci matrix, run once, with seed 0 rerun in a second folder at the same time.

    As jobs on a real single-node Slurm where one can start here, else in the local pool. Under
    Slurm the checks below also show that neither the cluster path nor a requeue moves a number.
    """
    root, second = tmp_path_factory.mktemp("ci"), tmp_path_factory.mktemp("second")
    ok, why = slurm_available()
    if not ok:
        with ThreadPoolExecutor(1) as pool:
            measured = pool.submit(R.run_ci_matrix, "ci", root)
            _run_alone(second)
            return CiRun(root, measured.result(), second, no_slurm=why)
    with LocalSlurm() as cluster:
        cluster.start(tmp_path_factory.mktemp("slurm"))
        # Left in reverse: the threads end before the environment and POLL_S are restored.
        with _environ(cluster.env), pytest.MonkeyPatch.context() as mp, ThreadPoolExecutor(2) as pool:
            mp.setattr(slurm, "POLL_S", 0.5)  # these jobs take seconds, not hours
            measured = pool.submit(R.run_ci_matrix, "ci", root, executor=SLURM_JOBS)
            warned = pool.submit(_warn_first_job, root, cluster.env, measured)
            _run_alone(second)
            run = CiRun(root, measured.result(), second)
            run.requeued, run.requeue_error = warned.result()
            run.status = _status(root)  # while the cluster still knows the jobs
    return run


def _run_alone(folder: Path) -> None:
    """Seed 0 of the ci matrix in this process, as ``wsbench regression`` runs a cell (pinned threads)."""
    import torch

    from harness.engine.loop import run_cell
    from harness.run.matrix import load_matrix

    old = torch.get_num_threads()
    torch.set_num_threads(R.THREADS)
    try:
        run_cell(load_matrix("ci").cells()[0], root=folder, log=lambda *_: None)
    finally:
        torch.set_num_threads(old)


def _warn_first_job(root: Path, env: dict[str, str], run: Future, timeout: float = 300.0) -> tuple[JobRecord | None, str]:
    """Once seed 0's job has its first checkpoint, send it what Slurm sends before a time limit (USR2).

    Submitit then requeues the job. Returns the job, or why it could not be warned (the run goes on).
    """
    from harness.run.matrix import load_matrix

    matrix = load_matrix("ci")
    cell = matrix.cells()[0]
    deadline = time.monotonic() + timeout
    while not (cell.run_dir(root) / "checkpoint.pt").exists():
        if run.done() or time.monotonic() > deadline:
            return None, f"seed 0 wrote no checkpoint within {timeout:.0f} s (or the run ended first)"
        time.sleep(0.2)
    job = next((r for r in slurm.read_records(root, matrix) if cell.cell_hash() in r.cells), None)
    if job is None:
        return None, "no job record holds seed 0"
    done = subprocess.run(["scancel", "--signal=USR2", job.job_id], env=env, capture_output=True, text=True)
    return job, (done.stderr.strip() or f"scancel exited {done.returncode}") if done.returncode else ""


def _status(root: Path) -> str:
    from harness.run.launch import jobs_of_cells
    from harness.run.matrix import load_matrix
    from harness.run.status import format_status, matrix_status

    matrix = load_matrix("ci")
    return format_status(matrix, matrix_status(matrix, root), jobs_of_cells(root, matrix))


@contextlib.contextmanager
def _environ(values):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@needs_data()
def test_ci_matrix_ran_as_slurm_jobs_where_slurm_runs_and_reports_as_usual(ci_run, tmp_path):
    from harness.analysis.report import write_report
    from harness.run.matrix import load_matrix

    if ci_run.no_slurm:
        pytest.skip(f"no real Slurm here ({ci_run.no_slurm}); the ci matrix ran in the local pool")
    records = slurm.read_records(ci_run.root, load_matrix("ci"))
    assert [r.kind for r in records] == ["slurm"] * 3 and all(len(r.cells) == 1 for r in records)
    report = write_report(ci_run.root, tmp_path, name="slurm", bootstrap=0)
    table = pd.read_csv(report.csv)
    assert table[table["kind"] == "supernet"]["n_seeds"].tolist() == [3, 3]  # spos x both ground truths


@needs_data()
def test_a_time_limit_warning_requeues_the_job_and_it_resumes_to_identical_results(ci_run):
    from harness.run.matrix import load_matrix
    from harness.run.status import matrix_status

    if ci_run.no_slurm:
        pytest.skip(f"no real Slurm here ({ci_run.no_slurm})")
    assert ci_run.requeued is not None and not ci_run.requeue_error, ci_run.requeue_error
    matrix = load_matrix("ci")
    assert [r.state for r in matrix_status(matrix, ci_run.root)] == ["finished"] * 3
    cell = matrix.cells()[0]
    tries = attempts(cell.run_dir(ci_run.root))
    assert len(tries) == 2 and tries[1]["resume"] is True  # requeued, and resumed from the checkpoint
    scores = [f"scores/{f.name}" for f in sorted((cell.run_dir(ci_run.second) / "scores").glob("*.csv"))]
    assert_same_cell(cell.run_dir(ci_run.second), cell.run_dir(ci_run.root), (*scores, "metrics.csv", "train_log.csv"))
    assert f"[job {ci_run.requeued.job_id} " in ci_run.status


@needs_data()
def test_ci_matrix_stays_within_its_baseline_bands(ci_run):
    baseline = R.load_baseline("ci")
    if R.exact_values(baseline) is None:
        warnings.warn(
            f"platform {R.platform_key()} not recorded in the ci baseline: bands checked, bit-identity not", stacklevel=1
        )
    problems = R.compare(baseline, ci_run.measured)
    assert problems == [], "\n".join(problems)


@needs_data()
def test_same_seed_gives_identical_numbers_in_a_second_folder(ci_run):
    from harness.run.matrix import load_matrix

    spec = load_matrix("ci").cells()[0]
    scores = sorted((spec.run_dir(ci_run.root) / "scores").glob("*.csv"))
    assert scores
    for f in scores:
        pd.testing.assert_frame_equal(pd.read_csv(f), pd.read_csv(spec.run_dir(ci_run.second) / "scores" / f.name))


def _fake(values, label="spos", gt="g", metric="kendall_tau"):
    return pd.DataFrame({"label": label, "seed": range(len(values)), "ground_truth": gt, "metric": metric, "value": values})


def test_band_is_derived_from_the_seed_spread():
    base = R.make_baseline("x", _fake([0.1, 0.2, 0.3]))
    (e,) = base["entries"]
    half = R.BAND_K * max(0.1, R.SD_FLOOR) * (2 / 3) ** 0.5
    assert e["band"] == pytest.approx([0.2 - half, 0.2 + half])


def test_compare_flags_drift_and_lost_determinism():
    base = R.make_baseline("x", _fake([0.1, 0.2, 0.3]))
    assert R.compare(base, _fake([0.1, 0.2, 0.3])) == []
    drift = R.compare(base, _fake([0.5, 0.6, 0.7]))
    assert len(drift) == 2 and "left its band" in drift[0] and "identical" in drift[1]
    tiny = R.compare(base, _fake([0.1, 0.2, 0.3000001]))
    assert len(tiny) == 1 and "identical" in tiny[0]  # inside the band, but not bit-identical
    other_platform = {**base, "platform": {**base["platform"], "cpu": "another"}}
    assert R.compare(other_platform, _fake([0.1, 0.2, 0.3000001])) == []
    assert "missing" in R.compare(base, _fake([0.1], metric="spearman_rho"))[0]


def test_a_second_platform_keeps_the_bands_and_gets_its_own_exact_values(monkeypatch):
    base = R.make_baseline("x", _fake([0.1, 0.2, 0.3]))
    here = base["platform"]
    avx512 = {**here, "isa": "AVX512", "cpu_features": "family 25 model 17; avx512f"}
    monkeypatch.setattr(R, "platform_key", lambda: avx512)
    assert R.exact_values(base) is None  # same CPU model name, other instruction set: not comparable bit for bit
    assert R.compare(base, _fake([0.11, 0.2, 0.3])) == []  # bands only
    both = R.with_platform(base, _fake([0.11, 0.2, 0.3]))
    assert both["entries"] == base["entries"]  # bands (and the first platform's values) unchanged
    assert R.compare(both, _fake([0.11, 0.2, 0.3])) == []
    (problem,) = R.compare(both, _fake([0.1, 0.2, 0.3]))
    assert "identical" in problem and "0.11" in problem
    assert R.compare(both, _fake([0.1, 0.2, 0.3]), key=here) == []  # the first platform still checks its own values
    with pytest.raises(WsbenchError, match="left their bands"):
        R.with_platform(base, _fake([0.6, 0.7, 0.8]))
    again = R.with_platform(both, _fake([0.12, 0.2, 0.3]))
    assert len(again["exact"]) == 1 and again["exact"][0]["values"]["spos | g | kendall_tau"][0] == 0.12


def test_platform_key_names_the_instruction_set_torch_dispatches_to():
    import torch

    key = R.platform_key()
    assert key["isa"] == torch.backends.cpu.get_cpu_capability()
    assert key["cpu_features"].startswith("family ")
