"""Job states from the scheduler: ``squeue``, then ``scontrol`` for jobs that left the queue.

Not ``sacct``: clusters without accounting storage (and the tests' private Slurm) answer these two.
A ``submitit-local`` job's id is the pid of its process, so its state comes from ``/proc``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from harness.api.errors import WsbenchError
from harness.run.backends.records import JobRecord

#: Scheduler states of a job that still holds its cells.
ACTIVE = ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "RESIZING", "SUSPENDED", "REQUEUE_HOLD", "REQUEUE_FED")


#: The Slurm commands a submission needs: sbatch submits, squeue and scontrol follow the jobs, and
#: submitit builds no Slurm executor where srun is missing.
SLURM_COMMANDS = ("sbatch", "srun", "squeue")
#: Seconds the controller has to answer the check before a submission (its own retries take ~10 s).
PING_TIMEOUT_S = 30


def slurm_output(*args: str, timeout: float = 60) -> str:
    """A Slurm command's stdout; a one-line error when the command is missing, fails or hangs."""
    try:
        done = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise WsbenchError(
            f"{args[0]} not found: this machine has no Slurm client (install slurm-wlm or use --executor local)"
        ) from None
    except subprocess.TimeoutExpired:
        raise WsbenchError(
            f"{args[0]} did not answer within {timeout:g} s: the Slurm controller is unreachable; check it with "
            "scontrol ping (or ask the cluster's admins), or use --executor local"
        ) from None
    if done.returncode != 0:
        raise WsbenchError(f"{' '.join(args)} failed: {last_line(done.stderr or done.stdout)}")
    return done.stdout


def last_line(text: str) -> str:
    """The last non-empty line of a command's output (Slurm puts the reason there), or 'no output'."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def check_slurm() -> None:
    """Before a submission writes anything: Slurm's commands are on PATH and its controller answers."""
    missing = [c for c in SLURM_COMMANDS if shutil.which(c) is None]
    if missing:
        raise WsbenchError(
            f"executor slurm needs the Slurm commands {', '.join(SLURM_COMMANDS)}, and {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not on PATH: run it on a Slurm login node (or install the "
            "Slurm client), or use --executor local"
        )
    command = ["squeue", "-h", "-o", "%i", "-u", str(os.getuid())]  # this user's jobs: a small answer
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=PING_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        reason = f"squeue did not answer within {PING_TIMEOUT_S} s"
    else:
        if done.returncode == 0:
            return
        reason = f"squeue exited with {done.returncode}: {last_line(done.stderr or done.stdout)}"
    raise WsbenchError(
        f"the Slurm controller does not answer ({reason}); check it with scontrol ping (or ask the cluster's "
        "admins), or use --executor local"
    )


def queued_states(ids: set[str]) -> dict[str, str]:
    """States of the jobs among ``ids`` that squeue still lists (array tasks by their own id)."""
    out: dict[str, str] = {}
    for line in slurm_output("squeue", "-h", "-o", "%i|%T").splitlines():
        job, _, state = line.strip().partition("|")
        base = job.split("_", 1)[0]
        if job in ids:
            out[job] = state
        elif "_[" in job:  # a pending array's remaining tasks, e.g. 12_[3-5,7%2]
            for task in array_tasks(job):
                if f"{base}_{task}" in ids:
                    out[f"{base}_{task}"] = state
        elif base in ids:
            out[base] = state
    return out


def array_tasks(job: str) -> list[int]:
    """The task indices of squeue's ``12_[3-5,7%2]`` (the ``%`` part is the parallelism limit)."""
    inside = job.split("_[", 1)[1].rstrip("]").split("%", 1)[0]
    tasks: list[int] = []
    for part in inside.split(","):
        low, _, high = part.partition("-")
        if low.isdigit() and (not high or high.isdigit()):
            tasks += list(range(int(low), int(high or low) + 1))
    return tasks


def finished_state(job_id: str) -> str:
    """What ``scontrol`` remembers of a job that left the queue (for MinJobAge), else ``ENDED``."""
    try:
        text = slurm_output("scontrol", "show", "job", "-o", job_id)
    except WsbenchError:
        return "ENDED"
    for part in text.split():
        if part.startswith("JobState="):
            return part.split("=", 1)[1]
    return "ENDED"


def local_state(job_id: str) -> str:
    """A submitit-local job (its id is the pid of its process): RUNNING while that process lives."""
    try:
        cmdline = Path(f"/proc/{int(job_id)}/cmdline").read_bytes()
    except (OSError, ValueError):
        return "ENDED"
    return "RUNNING" if b"submitit" in cmdline else "ENDED"


def job_states(records: Sequence[JobRecord]) -> dict[str, str]:
    """Job id -> scheduler state (PENDING, RUNNING, COMPLETED, FAILED, TIMEOUT, ..., or ENDED)."""
    states: dict[str, str] = {}
    slurm_ids = {r.job_id for r in records if r.kind == "slurm"}
    if slurm_ids:
        queued = queued_states(slurm_ids)
        states.update({i: queued.get(i) or finished_state(i) for i in slurm_ids})
    states.update({r.job_id: local_state(r.job_id) for r in records if r.kind != "slurm"})
    return states


def held_cells(records: Sequence[JobRecord], states: dict[str, str]) -> dict[str, str]:
    """Cell hash -> id of the queued or running job that holds it."""
    return {cell: r.job_id for r in records if states.get(r.job_id) in ACTIVE for cell in r.cells}
