"""A matrix's cells as cluster jobs through submitit: submit, requeue on a time limit, wait, report state.

Each job runs a share of the matrix's cells (``cells_per_job`` of them side by side) with the
local executor's own machinery (``run_matrix(..., only=...)``): the same cell folders, file
locks, checkpoints and ``failed.json``. So nothing is new about a cell's results, only where it
runs, and anything the local executor guarantees holds here:

- **Requeue.** Slurm warns a job ``signal_delay_s`` before its time limit, and preemption signals
  it too. Submitit then calls ``CellsJob.checkpoint``, which resubmits the same job. A requeued
  job resumes every unfinished cell from its last epoch checkpoint, so the numbers equal an
  uninterrupted run's on a CPU. A job that is killed outright (no warning) leaves its cells
  resumable, and the next ``matrix run`` submits them again.
- **Once.** A submission skips cells that are finished, and cells that a queued or running job of
  an earlier submission already holds. Two submissions that overlap anyway are still safe: a
  cell's lock lets only one job run it.
- **Records.** Every job is appended to ``<results>/jobs/<matrix>/submissions.jsonl`` (job id,
  executor, its cells, its log files). ``wsbench matrix status`` reads them, and asks the
  scheduler (``squeue``, then ``scontrol``) for each job's state.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.api.errors import WsbenchError
from harness.engine.integrity import is_finished
from harness.fileio import atomic_write_text
from harness.run.cluster_options import ExecutorOptions, sbatch_parameters
from harness.run.matrix import Matrix

#: How often ``wait`` asks the scheduler whether the jobs are still there (seconds).
POLL_S = 5.0
#: Scheduler states of a job that still holds its cells.
ACTIVE = ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "RESIZING", "SUSPENDED", "REQUEUE_HOLD", "REQUEUE_FED")


@dataclass
class JobRecord:
    """One submitted job: which cells it runs and where its logs are."""

    job_id: str
    kind: str  # slurm | submitit-local
    cells: list[str]  # full cell hashes
    submitted: float
    stdout: str
    stderr: str


def jobs_folder(root: Path, matrix: Matrix) -> Path:
    """Where a matrix's job logs, pickles and submission records live."""
    return root / "jobs" / matrix.name


@contextlib.contextmanager
def _submission_lock(folder: Path) -> Iterator[None]:
    """One submitter at a time per matrix folder (reading the records and appending to them)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".submit.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def read_records(root: Path, matrix: Matrix) -> list[JobRecord]:
    """Every job submitted for this matrix under ``root``, oldest first."""
    path = jobs_folder(root, matrix) / "submissions.jsonl"
    if not path.exists():
        return []
    out = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        try:
            out.append(JobRecord(**json.loads(line)))
        except (ValueError, TypeError) as exc:
            raise WsbenchError(f"{path}: line {n} is not a job record ({exc}); delete that line or the file") from None
    return out


def _append_records(root: Path, matrix: Matrix, records: Sequence[JobRecord]) -> None:
    path = jobs_folder(root, matrix) / "submissions.jsonl"
    old = path.read_text() if path.exists() else ""
    atomic_write_text(path, old + "".join(json.dumps(asdict(r)) + "\n" for r in records))


# --------------------------------------------------------------------------- the job


def _checkpointable() -> type:
    """submitit's Checkpointable base (imported late: submitit is only needed for cluster runs)."""
    try:
        from submitit.helpers import Checkpointable
    except ImportError:  # pragma: no cover - submitit is a dependency
        raise WsbenchError("cluster execution needs submitit: pip install submitit") from None
    return Checkpointable


class CellsJob(_checkpointable()):  # type: ignore[misc]
    """A job's share of a matrix: run these cells (resuming any checkpoint), then report their status.

    ``Checkpointable.checkpoint`` resubmits this same object on a time-limit warning or
    preemption; the cells' own epoch checkpoints make the resubmitted job resume, not restart.
    """

    def __init__(self, matrix: Matrix, cells: list[str], root: str, workers: int, threads: int | None) -> None:
        self.matrix, self.cells, self.root, self.workers, self.threads = matrix, list(cells), root, workers, threads

    def __call__(self) -> dict[str, str]:
        from harness.run.executor import run_matrix

        run = run_matrix(self.matrix, Path(self.root), workers=self.workers, threads=self.threads, only=set(self.cells),
                         progress=False, log=print)  # fmt: skip
        return {o.spec.cell_hash(): f"{o.status} {o.detail}".strip() for o in run.outcomes}


def make_executor(opts: ExecutorOptions, folder: Path, matrix: Matrix) -> Any:
    """A configured submitit executor for these options (Slurm, or local subprocesses)."""
    import submitit

    if opts.kind == "slurm":
        ex = submitit.SlurmExecutor(folder=folder, max_num_timeout=opts.max_requeues)
        params: dict[str, Any] = {
            "job_name": f"wsbench-{matrix.name}", "time": opts.time_limit_min, "cpus_per_task": opts.cpus_per_job,
            "array_parallelism": opts.array_parallelism, "signal_delay_s": opts.signal_delay_s,
            "additional_parameters": sbatch_parameters(opts.sbatch),
        }  # fmt: skip
        optional = {"gpus_per_node": opts.gpus_per_job or None, "mem": f"{opts.mem_gb}GB" if opts.mem_gb else None,
                    "partition": opts.partition, "account": opts.account, "qos": opts.qos}  # fmt: skip
        ex.update_parameters(**params, **{k: v for k, v in optional.items() if v is not None})
        return ex
    ex = submitit.LocalExecutor(folder=folder, max_num_timeout=opts.max_requeues)
    ex.update_parameters(timeout_min=opts.time_limit_min, gpus_per_node=opts.gpus_per_job or 0)
    return ex


# --------------------------------------------------------------------------- job states


def _slurm(*args: str) -> str:
    """A Slurm command's stdout; a one-line error when the command is missing or fails."""
    try:
        done = subprocess.run(list(args), capture_output=True, text=True, timeout=60, check=False)
    except FileNotFoundError:
        raise WsbenchError(
            f"{args[0]} not found: this machine has no Slurm client (install slurm-wlm or use --executor local)"
        ) from None
    if done.returncode != 0:
        raise WsbenchError(f"{' '.join(args)} failed: {(done.stderr or done.stdout).strip().splitlines()[-1:] or ['no output']}")
    return done.stdout


def _queued(ids: set[str]) -> dict[str, str]:
    """States of the jobs among ``ids`` that squeue still lists (array tasks by their own id)."""
    out: dict[str, str] = {}
    for line in _slurm("squeue", "-h", "-o", "%i|%T").splitlines():
        job, _, state = line.strip().partition("|")
        base = job.split("_", 1)[0]
        if job in ids:
            out[job] = state
        elif "_[" in job:  # a pending array's remaining tasks, e.g. 12_[3-5,7%2]
            for task in _array_tasks(job):
                if f"{base}_{task}" in ids:
                    out[f"{base}_{task}"] = state
        elif base in ids:
            out[base] = state
    return out


def _array_tasks(job: str) -> list[int]:
    """The task indices of squeue's ``12_[3-5,7%2]`` (the ``%`` part is the parallelism limit)."""
    inside = job.split("_[", 1)[1].rstrip("]").split("%", 1)[0]
    tasks: list[int] = []
    for part in inside.split(","):
        low, _, high = part.partition("-")
        if low.isdigit() and (not high or high.isdigit()):
            tasks += list(range(int(low), int(high or low) + 1))
    return tasks


def _finished_state(job_id: str) -> str:
    """What ``scontrol`` remembers of a job that left the queue (for MinJobAge), else ``ENDED``."""
    try:
        text = _slurm("scontrol", "show", "job", "-o", job_id)
    except WsbenchError:
        return "ENDED"
    for part in text.split():
        if part.startswith("JobState="):
            return part.split("=", 1)[1]
    return "ENDED"


def _local_state(job_id: str) -> str:
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
        queued = _queued(slurm_ids)
        states.update({i: queued.get(i) or _finished_state(i) for i in slurm_ids})
    states.update({r.job_id: _local_state(r.job_id) for r in records if r.kind != "slurm"})
    return states


def held_cells(records: Sequence[JobRecord], states: dict[str, str]) -> dict[str, str]:
    """Cell hash -> id of the queued or running job that holds it."""
    return {cell: r.job_id for r in records if states.get(r.job_id) in ACTIVE for cell in r.cells}


# --------------------------------------------------------------------------- submit and wait


@dataclass
class Submission:
    """What one ``submit`` did."""

    jobs: list[JobRecord] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)  # cells already finished
    held: dict[str, str] = field(default_factory=dict)  # cell -> job of an earlier submission


def submit(matrix: Matrix, root: Path, opts: ExecutorOptions, log: Callable[[str], None] = print) -> Submission:
    """Submit a job for every cell that is neither finished nor held by a live job; record the jobs."""
    opts = opts.resolved(matrix.resolved_device())
    folder = jobs_folder(root, matrix)
    out = Submission()
    with _submission_lock(folder):
        records = read_records(root, matrix)
        held = held_cells(records, job_states(records)) if records else {}
        todo = []
        for _label, spec in matrix.labelled_cells():
            h = spec.cell_hash()
            if is_finished(spec.run_dir(root)):
                out.finished.append(h)
            elif h in held:
                out.held[h] = held[h]
            else:
                todo.append(h)
        if todo:
            out.jobs = _submit_groups(matrix, root, opts, folder, todo)
            _append_records(root, matrix, out.jobs)
    log(
        f"matrix {matrix.name}: {len(out.jobs)} job(s) submitted ({opts.kind}) for {sum(len(j.cells) for j in out.jobs)} cell(s); "
        f"{len(out.finished)} finished, {len(out.held)} held by earlier jobs"
        + "".join(f"\n  job {j.job_id}: {len(j.cells)} cell(s), log {j.stdout}" for j in out.jobs)
    )
    return out


def _submit_groups(matrix: Matrix, root: Path, opts: ExecutorOptions, folder: Path, todo: list[str]) -> list[JobRecord]:
    """One job per ``cells_per_job`` cells, submitted together (a job array on Slurm)."""
    executor = make_executor(opts, folder, matrix)
    size = opts.cells_per_job
    groups = [todo[i : i + size] for i in range(0, len(todo), size)]
    threads = opts.threads or max(1, int(opts.cpus_per_job or 2) // size)
    with executor.batch():
        jobs = [executor.submit(CellsJob(matrix, g, str(root.resolve()), size, threads)) for g in groups]
    now = time.time()
    return [JobRecord(str(j.job_id), opts.kind, g, now, str(j.paths.stdout), str(j.paths.stderr)) for j, g in zip(jobs, groups)]


def wait(
    matrix: Matrix, root: Path, jobs: Sequence[JobRecord], log: Callable[[str], None] = print, poll_s: float = POLL_S
) -> None:
    """Block until none of ``jobs`` is queued or running; log each change of a job's state."""
    seen: dict[str, str] = {}
    while True:
        states = job_states(jobs)
        for j in jobs:
            if states.get(j.job_id) != seen.get(j.job_id):
                log(f"job {j.job_id}: {states.get(j.job_id)}")
        seen = states
        if not any(s in ACTIVE for s in states.values()):
            return
        time.sleep(poll_s)


def job_of_cells(root: Path, matrix: Matrix) -> dict[str, tuple[JobRecord, str]]:
    """Cell hash -> (its latest job, that job's state), for ``matrix status``."""
    records = read_records(root, matrix)
    if not records:
        return {}
    try:
        states = job_states(records)
    except WsbenchError as exc:  # no scheduler here (e.g. status read on another machine)
        states = {r.job_id: f"unknown ({exc})" for r in records}
    return {cell: (r, states.get(r.job_id, "ENDED")) for r in records for cell in r.cells}


def outcomes(matrix: Matrix, root: Path, sub: Submission, states: dict[str, str]) -> list[Any]:
    """Each cell's outcome after the jobs ended, read from disk (``executor.CellOutcome``)."""
    from harness.run.executor import CellOutcome, _failure_line

    job_of = {c: j for j in sub.jobs for c in j.cells}
    out = []
    for label, spec in matrix.labelled_cells():
        h, d = spec.cell_hash(), spec.run_dir(root)
        if h in sub.finished:
            out.append(CellOutcome(label, spec, d, "skipped", "already finished"))
        elif is_finished(d):
            out.append(CellOutcome(label, spec, d, "finished" if h in job_of else "skipped",
                                   "" if h in job_of else f"finished by job {sub.held.get(h, '?')}"))  # fmt: skip
        elif (d / "failed.json").exists():
            out.append(CellOutcome(label, spec, d, "failed", _failure_line(d)))
        else:
            j = job_of.get(h)
            why = (f"job {j.job_id} ended ({states.get(j.job_id, 'ENDED')}) without finishing it; log {j.stdout}"
                   if j else f"held by job {sub.held.get(h)} of an earlier submission, still unfinished")  # fmt: skip
            out.append(CellOutcome(label, spec, d, "failed", why))
    return out
