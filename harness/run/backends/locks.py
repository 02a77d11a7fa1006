"""One exclusive file lock per cell: whoever runs a cell holds it, so no cell runs twice at once.

The lock is an ``fcntl.flock`` on ``<run dir>.lock``. The kernel drops it when the holding process
dies (even by SIGKILL), so a crashed run never leaves a cell locked.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path


def lock_path(run_dir: Path) -> Path:
    """The lock file of a cell: beside its run dir, so it exists before the dir does."""
    return run_dir.with_name(run_dir.name + ".lock")


@contextlib.contextmanager
def cell_lock(run_dir: Path, blocking: bool) -> Iterator[bool]:
    """Hold the cell's exclusive lock; yields False when ``blocking`` is off and another holds it."""
    path = lock_path(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Python opens files non-inheritable, so subprocesses (git in provenance) never keep the lock.
    with open(path, "a+b") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def is_locked(run_dir: Path) -> bool:
    """Whether some process holds the cell's lock right now (i.e. is running it)."""
    if not lock_path(run_dir).exists():
        return False
    with cell_lock(run_dir, blocking=False) as got:
        return not got
