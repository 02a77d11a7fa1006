"""A real local Slurm cluster (tests/slurm_cluster.py): plain sbatch, and submitit on top of it.

Skipped where slurm-wlm/munge are not installed or we are not root.
"""

import subprocess
import sys
import time

import cloudpickle
import pytest
import slurm_cluster

submitit = pytest.importorskip("submitit")

#: The session-wide cluster fixture (skips where Slurm cannot run here).
slurm = slurm_cluster.slurm

# The job's Python cannot import this test module (pytest put tests/ on sys.path, the job does not
# have it), so ship this module's functions and classes inside the pickle instead of by name.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

#: Terminal Slurm states in which submitit writes no result file, so job.result() would wait forever.
FAILED_STATES = {"FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "PREEMPTED"}


def add(a, b):
    return a + b


def _squeue(env, job_id: str) -> str:
    return subprocess.run(["squeue", "-h", "-o", "%T %r", "-j", job_id], env=env, capture_output=True, text=True).stdout.strip()


def _job_field(env, job_id: str, field: str) -> str:
    # scontrol remembers a finished job for MinJobAge (300 s by default); sacct needs slurmdbd, which we lack.
    out = subprocess.run(["scontrol", "show", "job", job_id], env=env, capture_output=True, text=True).stdout
    return out.split(f"{field}=", 1)[1].split()[0] if f"{field}=" in out else ""


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def _result(job, env, timeout: float = 60):
    """``job.result()``, but failing with the job's logs instead of hanging when Slurm killed it.

    Without sacct submitit sees every state as UNKNOWN, so only its result file ends the wait: a job
    cancelled or killed before writing one would block ``job.result()`` forever.
    """
    deadline = time.monotonic() + timeout
    while not job.done():
        state = _job_field(env, job.job_id, "JobState")
        if state in FAILED_STATES or time.monotonic() > deadline:
            pytest.fail(
                f"submitit job {job.job_id} ended {state or 'unknown'} without a result\nstdout:\n{job.stdout()}\nstderr:\n{job.stderr()}"
            )
        time.sleep(0.5)
    return job.result()


def test_sbatch_runs_a_job_that_writes_a_file(slurm, tmp_path):
    out = tmp_path / "hello.txt"
    began = time.monotonic()
    job_id = subprocess.run(
        ["sbatch", "--parsable", f"--output={tmp_path}/slurm-%j.out", "--wrap", f"echo hello from $SLURM_JOB_ID > {out}"],
        env=slurm.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    _wait(lambda: not _squeue(slurm.env, job_id), 30, f"job {job_id} to leave squeue")
    print(f"cluster start {slurm.start_seconds:.1f} s; trivial job {time.monotonic() - began:.1f} s")
    assert out.read_text().strip() == f"hello from {job_id}"
    assert _job_field(slurm.env, job_id, "JobState") == "COMPLETED"


def test_submitit_returns_a_function_result(slurm, tmp_path):
    executor = submitit.AutoExecutor(folder=tmp_path, cluster="slurm")
    executor.update_parameters(timeout_min=2, slurm_partition=slurm.partition, cpus_per_task=1)
    began = time.monotonic()
    job = executor.submit(add, 2, 3)
    assert _result(job, slurm.env) == 5
    print(f"submitit job {time.monotonic() - began:.1f} s")
    assert job.done()
    # No accounting storage: submitit's sacct call fails, so its state never leaves UNKNOWN; done() and
    # result() rely on the result file instead. scontrol still knows the truth.
    assert job.state in {"UNKNOWN", "COMPLETED"}
    # The result file comes before the job has ended (still RUNNING or COMPLETING for a moment under load).
    ending = {"PENDING", "RUNNING", "COMPLETING", ""}
    _wait(lambda: _job_field(slurm.env, job.job_id, "JobState") not in ending, 30, f"job {job.job_id} to end")
    assert _job_field(slurm.env, job.job_id, "JobState") == "COMPLETED"


def test_submitit_job_array_returns_every_result(slurm, tmp_path):
    executor = submitit.AutoExecutor(folder=tmp_path, cluster="slurm")
    executor.update_parameters(timeout_min=2, slurm_partition=slurm.partition, cpus_per_task=1)
    jobs = executor.map_array(add, [1, 2, 3], [10, 20, 30])
    assert [job.job_id.split("_")[1] for job in jobs] == ["0", "1", "2"]
    assert [_result(job, slurm.env) for job in jobs] == [11, 22, 33]
