"""A matrix's cells as cluster jobs through submitit: submit, requeue on a time limit, wait, report state.

Kinds ``slurm`` (sbatch through submitit) and ``submitit-local`` (the same jobs as local
subprocesses). Each job runs a share of the matrix's cells (``cells_per_job`` of them side by side)
with the local backend's own machinery (``run_matrix(..., only=...)``): the same cell folders, file
locks, checkpoints and ``failed.json``. So nothing is new about a cell's results, only where it
runs, and anything the local backend guarantees holds here:

- **Requeue.** Slurm warns a job ``signal_delay_s`` before its time limit, and preemption signals
  it too. Submitit then calls ``CellsJob.checkpoint``, which resubmits the same job. A requeued
  job resumes every unfinished cell from its last epoch checkpoint, so the numbers equal an
  uninterrupted run's on a CPU. A job that is killed outright (no warning) leaves its cells
  resumable, and the next ``matrix run`` submits them again.
- **Once.** A submission skips cells that are finished, and cells that a queued or running job of
  an earlier submission already holds. Two submissions that overlap anyway are still safe: a
  cell's lock lets only one job run it.
- **Records.** Every job is appended to ``<results>/jobs/<matrix>/submissions.jsonl`` (``records``).
  ``wsbench matrix status`` reads them, and asks the scheduler (``scheduler``) for each job's state.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.api.errors import WsbenchError
from harness.engine.integrity import is_finished
from harness.run.backends.base import Backend, CellOutcome, failed_by_user_error, failure_line
from harness.run.backends.local import run_matrix
from harness.run.backends.records import JobRecord, append_records, jobs_folder, read_records, submission_lock
from harness.run.backends.scheduler import ACTIVE, check_slurm, held_cells, job_states
from harness.run.cluster_options import ExecutorOptions, sbatch_parameters
from harness.run.matrix import Matrix

__all__ = ["ACTIVE", "POLL_S", "CellsJob", "JobRecord", "SlurmBackend", "Submission", "job_of_cells", "job_states",
           "jobs_folder", "make_executor", "outcomes", "read_records", "submit", "wait"]  # fmt: skip

#: How often ``wait`` asks the scheduler whether the jobs are still there (seconds).
POLL_S = 5.0


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
        """Run the cells in the local pool; cell hash -> 'status detail'."""
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
        optional = {"gpus_per_node": opts.gpus_per_job or None, "mem": _mem(opts.mem_gb) if opts.mem_gb else None,
                    "partition": opts.partition, "account": opts.account, "qos": opts.qos}  # fmt: skip
        ex.update_parameters(**params, **{k: v for k, v in optional.items() if v is not None})
        return ex
    local = submitit.LocalExecutor(folder=folder, max_num_timeout=opts.max_requeues)
    local.update_parameters(timeout_min=opts.time_limit_min, gpus_per_node=opts.gpus_per_job or 0)
    return local


def _mem(gb: float) -> str:
    """sbatch's ``--mem`` for ``gb`` GB: whole GB as ``32GB``, else whole MB (sbatch reads no fractions)."""
    return f"{int(gb)}GB" if gb == int(gb) else f"{max(1, int(gb * 1024))}MB"


# --------------------------------------------------------------------------- submit and wait


@dataclass
class Submission:
    """What one ``submit`` did."""

    jobs: list[JobRecord] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)  # cells already finished
    held: dict[str, str] = field(default_factory=dict)  # cell -> job of an earlier submission


def submit(matrix: Matrix, root: Path, opts: ExecutorOptions, log: Callable[[str], None] = print) -> Submission:
    """Submit a job for every cell that is neither finished nor held by a live job; record the jobs.

    Slurm is checked before anything is written (its commands, its controller); a submission the
    scheduler refuses is a one-line error, and what it wrote is removed (``_undone_on_failure``).
    """
    opts = opts.resolved(matrix.resolved_device())
    if opts.kind == "slurm":
        check_slurm()
    folder = jobs_folder(root, matrix)
    out = Submission()
    with _undone_on_failure(folder), submission_lock(folder):
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
            append_records(root, matrix, out.jobs)
    log(
        f"matrix {matrix.name}: {len(out.jobs)} job(s) submitted ({opts.kind}) for {sum(len(j.cells) for j in out.jobs)} cell(s); "
        f"{len(out.finished)} finished, {len(out.held)} held by earlier jobs"
        + "".join(f"\n  job {j.job_id}: {len(j.cells)} cell(s), log {j.stdout}" for j in out.jobs)
    )
    return out


@contextlib.contextmanager
def _undone_on_failure(folder: Path) -> Iterator[None]:
    """On an error, remove what the submission wrote under ``folder`` (job pickles, sbatch scripts), and
    the folders it created (the lock file of a new one too): a refused submission leaves nothing behind.

    The lock file of a new folder goes too: only a submitter that started at the same moment on a
    matrix never submitted before could be waiting on it, and it then submits on its own.
    """
    created = [d for d in (folder, *folder.parents) if not d.exists()]  # this submission makes them
    before = set(folder.rglob("*")) if folder.exists() else set()
    try:
        yield
    except BaseException:
        new = set(folder.rglob("*")) - before if folder.exists() else set()
        for path in sorted(new, key=lambda p: len(p.parts), reverse=True):  # files before their folders
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        for path in created:  # the deepest first
            if path.is_dir() and not any(path.iterdir()):
                path.rmdir()
        raise


def _submit_groups(matrix: Matrix, root: Path, opts: ExecutorOptions, folder: Path, todo: list[str]) -> list[JobRecord]:
    """One job per ``cells_per_job`` cells, submitted together (a job array on Slurm)."""
    executor = make_executor(opts, folder, matrix)
    size = opts.cells_per_job
    groups = [todo[i : i + size] for i in range(0, len(todo), size)]
    threads = opts.threads or max(1, int(opts.cpus_per_job or 2) // size)
    try:
        # submitit prints sbatch's whole stderr before it raises; the error below names the reason once.
        with contextlib.redirect_stderr(io.StringIO()), executor.batch():
            jobs = [executor.submit(CellsJob(matrix, g, str(root.resolve()), size, threads)) for g in groups]
    except Exception as e:
        if opts.kind != "slurm" or not _is_submission_error(e):
            raise
        reason = _refusal_reason(e)
        fix = (
            "the Slurm controller stopped answering: check it with scontrol ping, then run again"
            if "contact" in reason.lower() or "controller" in reason.lower()
            else "fix the job's options (--partition, --account, --qos, --time, --mem-gb, --gpus-per-job, --sbatch) and run again"
        )
        raise WsbenchError(f"sbatch refused the job(s): {reason}; nothing was submitted: {fix}") from None
    now = time.time()
    return [JobRecord(str(j.job_id), opts.kind, g, now, str(j.paths.stdout), str(j.paths.stderr)) for j, g in zip(jobs, groups)]


def _is_submission_error(e: Exception) -> bool:
    """Whether submitit raised because sbatch refused or answered nonsense (not a bug of ours)."""
    from submitit.core.utils import FailedJobError, FailedSubmissionError

    return isinstance(e, (FailedJobError, FailedSubmissionError, OSError))


def _refusal_reason(e: Exception) -> str:
    """The line of sbatch's output that says why (``sbatch: error: ...``), else its last line; for an
    answer submitit could not read (no job id), its first line, which quotes the answer."""
    from submitit.core.utils import FailedSubmissionError

    lines = [line.strip() for line in str(e).splitlines() if line.strip()] or ["no output"]
    if isinstance(e, FailedSubmissionError):
        return lines[0]
    said = [line for line in lines if "error:" in line]
    return (said or lines)[-1].removeprefix("sbatch: error: ")


def wait(matrix: Matrix, root: Path, jobs: Sequence[JobRecord], log: Callable[[str], None] = print,
         poll_s: float | None = None) -> None:  # fmt: skip
    """Block until none of ``jobs`` is queued or running; log each change of a job's state.

    ``poll_s``: seconds between two looks at the scheduler (default ``POLL_S``, read at call time).
    """
    seen: dict[str, str] = {}
    while True:
        states = job_states(jobs)
        for j in jobs:
            if states.get(j.job_id) != seen.get(j.job_id):
                log(f"job {j.job_id}: {states.get(j.job_id)}")
        seen = states
        if not any(s in ACTIVE for s in states.values()):
            return
        time.sleep(POLL_S if poll_s is None else poll_s)


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


def outcomes(matrix: Matrix, root: Path, sub: Submission, states: dict[str, str]) -> list[CellOutcome]:
    """Each cell's outcome after the jobs ended, read from disk."""
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
            out.append(CellOutcome(label, spec, d, "failed", failure_line(d), user_error=failed_by_user_error(d)))
        else:
            j = job_of.get(h)
            why = (f"job {j.job_id} ended ({states.get(j.job_id, 'ENDED')}) without finishing it; log {j.stdout}"
                   if j else f"held by job {sub.held.get(h)} of an earlier submission, still unfinished")  # fmt: skip
            out.append(CellOutcome(label, spec, d, "failed", why))
    return out


# --------------------------------------------------------------------------- the backend


class SlurmBackend(Backend):
    """Cells as submitit jobs: ``submit`` records them, ``wait`` polls the scheduler, ``outcomes`` reads the folders."""

    kinds = ("slurm", "submitit-local")

    def __init__(self, opts: ExecutorOptions, log: Callable[[str], None] = print, poll_s: float | None = None) -> None:
        super().__init__(log)
        self.opts, self.poll_s = opts, poll_s
        self.submission = Submission()
        self._where: tuple[Matrix, Path] | None = None

    def submit(self, matrix: Matrix, root: Path) -> None:
        """One job per ``cells_per_job`` unfinished, unheld cells (``submit``)."""
        self._where = (matrix, root)
        self.submission = submit(matrix, root, self.opts, log=self.log)

    def wait(self) -> None:
        """Until no job of this submission is queued or running (``wait``)."""
        if self._where is not None:
            wait(*self._where, self.submission.jobs, log=self.log, poll_s=self.poll_s)

    def outcomes(self) -> list[CellOutcome]:
        """Every cell's outcome read from disk, with the jobs' final states (``outcomes``)."""
        if self._where is None:
            return []
        jobs = self.submission.jobs
        return outcomes(*self._where, self.submission, job_states(jobs) if jobs else {})

    @staticmethod
    def status_extras(root: Path, matrix: Matrix) -> dict[str, tuple[Any, str]]:
        """Cell hash -> (its latest job, that job's state) (``job_of_cells``)."""
        return dict(job_of_cells(root, matrix))
