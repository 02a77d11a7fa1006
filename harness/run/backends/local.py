"""Run a matrix's cells in worker processes on this machine, each cell guarded by a file lock.

- Workers are ``spawn``ed processes; each sets torch threads to ``max(1, cores // processes)``.
  On a GPU, every visible GPU gets ``workers`` slots and cells go round-robin over them.
- Every cell runs under an exclusive ``fcntl.flock`` on ``<run dir>.lock`` (``locks``), taken
  without blocking by the worker that runs it. The kernel drops the lock when that process dies
  (even by SIGKILL), so two processes pointed at one results folder never run a cell twice: one
  that finds a cell locked skips it, goes on, and at the end waits (blocking) for the lock, then
  reads the other process's result, or runs the cell itself if the other one stopped early.
- A cell that raises is recorded in ``failed.json`` in its run dir (exception type, message,
  traceback; written atomically) and the rest of the matrix goes on; a rerun retries it.
- Each attempt to run a cell appends its pid, host and start time to ``attempts.jsonl`` in the
  run dir, so "did this cell run once, or resume?" has an answer on disk.
- Workers die with their parent (``kill -9`` of ``matrix run``), at any moment, start-up included:
  they are started through ``spawning``, whose ``bootstrap`` watches the parent before the worker
  imports anything heavy.

This module is the parent's side; ``worker`` is what runs in each worker process.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from harness.api.errors import WsbenchError
from harness.engine.cell import CellSpec
from harness.engine.integrity import is_finished
from harness.run.backends.base import Backend, CellOutcome, MatrixRun, cell_name, failed_by_user_error, failure_line
from harness.run.backends.locks import cell_lock
from harness.run.backends.spawning import WatchedSpawnContext
from harness.run.backends.worker import Runner, attempt, init_worker
from harness.run.cluster_options import INT_RANGE, MAX_WORKERS
from harness.run.matrix import Matrix
from harness.settings import results_dir, writable_folder

Cells = list[tuple[str, CellSpec]]

# ---------------------------------------------------------------- parent side


def run_matrix(
    matrix: Matrix,
    root: Path | None = None,
    workers: int | None = None,
    progress: bool | None = None,
    log: Callable[[str], None] | None = print,
    runner: Runner | None = None,
    threads: int | None = None,
    only: set[str] | None = None,
) -> MatrixRun:
    """Run every unfinished cell of ``matrix`` under ``root`` in worker processes; never raises for a cell.

    ``progress``: a tqdm bar (default: on unless the ``CI`` env var is set). ``log`` gets the cells'
    log lines. ``runner(spec, root=, log=)`` runs one cell (default: the engine's ``run_cell``; a
    module-level function: tests inject failures through it). ``threads``: torch threads per worker
    (default ``max(1, cores // processes)``); CPU results depend on it, so compare runs made with the
    same value. ``only``: run just the cells with these full hashes (a cluster job's share of the matrix).
    """
    t0 = time.perf_counter()
    root = writable_folder(Path(root) if root is not None else results_dir(), "results folder")
    workers = matrix.workers if workers is None else workers
    if not 1 <= workers <= MAX_WORKERS:
        raise WsbenchError(f"workers must be an integer in 1..{MAX_WORKERS}, got {workers}")
    cells = [(lab, spec) for lab, spec in matrix.labelled_cells() if only is None or spec.cell_hash() in only]
    run = MatrixRun(matrix, root)
    outcomes: dict[str, CellOutcome] = {}
    todo = []
    for label, spec in cells:
        d = spec.run_dir(root)
        if is_finished(d):  # a damaged cell is run again (its files are set aside first)
            outcomes[spec.cell_hash()] = CellOutcome(label, spec, d, "skipped", "already finished")
        else:
            todo.append((label, spec))
    if todo:
        pool = _Pool(matrix, root, runner, outcomes)
        pool.run(todo, workers, threads, progress, log, done=len(cells) - len(todo))
    run.outcomes = [outcomes[spec.cell_hash()] for _, spec in cells]
    run.seconds = time.perf_counter() - t0
    return run


def _gpu_slots(matrix: Matrix, todo: Cells, workers: int) -> list[str | None]:
    """One entry per worker process: its GPU, or None when the cells run on the CPU."""
    if not any(spec.device == "cuda" for _, spec in todo):
        return [None] * workers
    import torch

    n = torch.cuda.device_count()
    if n == 0:
        raise WsbenchError(
            f'matrix {matrix.name!r} runs on cuda and no GPU is visible; set device = "cpu" '
            '(or "auto") in the matrix, or run it on a machine with a GPU'
        )
    return [f"cuda:{i % n}" for i in range(workers * n)]


class _Pool:
    """One ``run_matrix`` call's worker processes: run the pending cells, record each outcome."""

    def __init__(self, matrix: Matrix, root: Path, runner: Runner | None, outcomes: dict[str, CellOutcome]) -> None:
        self.matrix, self.root, self.runner, self.outcomes = matrix, root, runner, outcomes

    def run(self, todo: Cells, workers: int, threads: int | None, progress: bool | None,
            log: Callable[[str], None] | None, done: int) -> None:  # fmt: skip
        """Start the workers, run ``todo`` to the end (waiting for cells other processes hold)."""
        from tqdm import tqdm

        slots = _gpu_slots(self.matrix, todo, workers)
        n_procs = min(len(slots), len(todo))
        ctx = WatchedSpawnContext()
        slot_q, messages = ctx.Queue(), ctx.Queue()
        for s in slots[:n_procs]:
            slot_q.put(s)
        if threads is None:
            threads = max(1, _cores() // n_procs)
        elif not INT_RANGE["threads"][0] <= threads <= INT_RANGE["threads"][1]:
            raise WsbenchError(f"threads must be an integer in {'..'.join(map(str, INT_RANGE['threads']))}, got {threads}")
        show = (not os.environ.get("CI")) if progress is None else progress
        self.bar = tqdm(total=done + len(todo), initial=done, desc=f"matrix {self.matrix.name}", unit="cell", disable=not show)
        self.emit = _emitter(log, show, self.bar)
        pump = _MessagePump(messages, self.emit)
        data = str(self.matrix.data) if self.matrix.data is not None else None
        try:
            with ProcessPoolExecutor(
                n_procs, mp_context=ctx, initializer=init_worker, initargs=(slot_q, threads, data, messages, os.getpid())
            ) as pool:
                pending = todo
                while pending:
                    pending = self._round(pool, pending)
        finally:
            pump.stop()
            self.bar.close()

    def _round(self, pool: ProcessPoolExecutor, pending: Cells) -> Cells:
        """Submit every pending cell; what is left to run here after waiting for cells others held."""
        futures = {pool.submit(attempt, label, spec, self.root, self.runner): (label, spec) for label, spec in pending}
        locked, broken = self._collect(futures)
        left = []
        for label, spec in locked:
            outcome = _wait_for_other(label, spec, self.root, self.emit)
            if outcome is None:
                left.append((label, spec))  # the other process stopped early: run it here
            else:
                self._record(outcome)
        if broken:  # a dead worker breaks the pool: report the rest; a rerun retries them
            for label, spec in left:
                self.outcomes[spec.cell_hash()] = CellOutcome(
                    label, spec, spec.run_dir(self.root), "failed", "not run: a worker process died"
                )
            left = []
        return left

    def _collect(self, futures: dict[Future, tuple[str, CellSpec]]) -> tuple[Cells, bool]:
        """Record each finished attempt; the cells found locked, and whether a worker died."""
        locked, broken = [], False
        for fut in as_completed(futures):
            label, spec = futures[fut]
            try:
                status, detail, secs, user = fut.result()
            except BrokenProcessPool as e:
                broken = True
                status, detail, secs, user = "failed", f"worker process died ({_death_hint()}): {e}", 0.0, False
            if status == "locked":
                locked.append((label, spec))
                continue
            self._record(CellOutcome(label, spec, spec.run_dir(self.root), status, detail, secs, user))
            self.bar.set_postfix(failed=sum(o.status == "failed" for o in self.outcomes.values()), refresh=False)
        return locked, broken

    def _record(self, outcome: CellOutcome) -> None:
        """Keep a cell's outcome and move the bar."""
        self.outcomes[outcome.spec.cell_hash()] = outcome
        self.bar.update(1)


def _emitter(log: Callable[[str], None] | None, show: bool, bar: Any) -> Callable[[str], None]:
    """Where the workers' log lines go: nowhere, above the live bar, or to ``log``."""
    if log is None:
        return lambda _m: None
    if show and log is print:
        return bar.write  # printing under a live bar would tear it
    return log


def _wait_for_other(label: str, spec: CellSpec, root: Path, emit: Callable[[str], None]) -> CellOutcome | None:
    """Block until the process holding a cell's lock lets go; its outcome, or None if unfinished."""
    run_dir = spec.run_dir(root)
    emit(f"[{cell_name(label, spec)}] another process is running it; waiting")
    with cell_lock(run_dir, blocking=True):
        if is_finished(run_dir):
            return CellOutcome(label, spec, run_dir, "skipped", "finished by another process")
        if (run_dir / "failed.json").exists():
            return CellOutcome(label, spec, run_dir, "failed", failure_line(run_dir), user_error=failed_by_user_error(run_dir))
    return None


class _MessagePump:
    """Forwards the workers' log lines to the parent's output from a background thread."""

    def __init__(self, messages: Any, emit: Callable[[str], None]) -> None:
        self.messages, self.emit = messages, emit
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._drain(timeout=0.1)

    def _drain(self, timeout: float) -> None:
        try:
            while True:
                self.emit(self.messages.get(timeout=timeout))
                timeout = 0.0
        except queue.Empty:
            pass
        except (EOFError, OSError):  # the queue closed under us at shutdown
            self._stop.set()

    def stop(self) -> None:
        """Stop forwarding, after the lines still in the queue."""
        self._stop.set()
        self._thread.join()
        self._drain(timeout=0.05)  # lines still in flight from the last cells
        self.messages.close()


def _death_hint() -> str:
    """Why a worker may have died: spawned workers re-run a plain script that lacks a ``__main__`` guard."""
    main = sys.modules.get("__main__")
    if main is not None and getattr(main, "__file__", None) and getattr(main, "__spec__", None) is None:
        return (
            f"killed, out of memory, or {main.__file__} starts a matrix run at import: call it under if __name__ == '__main__':"
        )
    return "killed or out of memory"


def _cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# ---------------------------------------------------------------- the backend


class LocalBackend(Backend):
    """The worker pool on this machine: ``submit`` runs every cell to its end, so ``wait`` has nothing to do."""

    kinds = ("local",)

    def __init__(self, workers: int | None = None, threads: int | None = None, progress: bool | None = None,
                 log: Callable[[str], None] | None = print, runner: Runner | None = None) -> None:  # fmt: skip
        super().__init__(log or (lambda _m: None))
        self.workers, self.threads, self.progress, self.runner = workers, threads, progress, runner
        self.cell_log = log  # None: drop the cells' log lines (``run_matrix``'s own default is print)
        self._last: MatrixRun | None = None

    def submit(self, matrix: Matrix, root: Path | None) -> None:
        """Run every unfinished cell (``run_matrix``)."""
        self._last = run_matrix(matrix, root, workers=self.workers, progress=self.progress, log=self.cell_log,
                                runner=self.runner, threads=self.threads)  # fmt: skip

    def wait(self) -> None:
        """Nothing to wait for: ``submit`` returned when the last cell ended."""

    def outcomes(self) -> list[CellOutcome]:
        """Each cell's outcome from the last ``submit``."""
        return self._last.outcomes if self._last is not None else []

    def run(self, matrix: Matrix, root: Path | None = None, wait: bool = True) -> MatrixRun:
        """``run_matrix`` itself (``wait`` makes no difference: the pool runs in this process)."""
        self.submit(matrix, root)
        assert self._last is not None
        return self._last
