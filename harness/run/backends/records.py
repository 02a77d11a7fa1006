"""The record of every job submitted for a matrix: ``<results>/jobs/<matrix>/submissions.jsonl``.

One JSON line per job (job id, executor kind, its cells, submit time, its log files), appended
under a per-matrix lock so that two submitters never lose each other's lines.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.api.errors import WsbenchError
from harness.fileio import atomic_write_text
from harness.run.matrix import Matrix


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
def submission_lock(folder: Path) -> Iterator[None]:
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


def append_records(root: Path, matrix: Matrix, records: Sequence[JobRecord]) -> None:
    """Add jobs to the matrix's records (call under ``submission_lock``: the file is rewritten whole)."""
    path = jobs_folder(root, matrix) / "submissions.jsonl"
    old = path.read_text() if path.exists() else ""
    atomic_write_text(path, old + "".join(json.dumps(asdict(r)) + "\n" for r in records))
