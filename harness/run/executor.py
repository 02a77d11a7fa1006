"""Run a matrix's cells in worker processes, each cell guarded by a file lock.

- Workers are ``spawn``ed processes; each sets torch threads to ``max(1, cores // processes)``.
  On a GPU, every visible GPU gets ``workers`` slots and cells go round-robin over them.
- Every cell runs under an exclusive ``fcntl.flock`` on ``<run dir>.lock``, taken without
  blocking by the worker that runs it. The kernel drops the lock when that process dies (even by
  SIGKILL), so two processes pointed at one results folder never run a cell twice: one that
  finds a cell locked skips it, goes on, and at the end waits (blocking) for the lock, then
  reads the other process's result, or runs the cell itself if the other one stopped early.
- A cell that raises is recorded in ``failed.json`` in its run dir (exception type, message,
  traceback; written atomically) and the rest of the matrix goes on; a rerun retries it.
- Each attempt to run a cell appends its pid, host and start time to ``attempts.jsonl`` in the
  run dir, so "did this cell run once, or resume?" has an answer on disk.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import multiprocessing as mp
import os
import queue
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from harness.api.errors import WsbenchError
from harness.engine.cell import CellSpec
from harness.engine.integrity import DAMAGED, FINISHED, cell_state, is_finished, read_json
from harness.engine.loop import run_cell
from harness.fileio import atomic_write_json, atomic_write_text
from harness.run.cluster_options import ExecutorOptions
from harness.run.matrix import Matrix, load_matrix
from harness.settings import DATA_ENV, results_dir, writable_folder


@dataclass
class CellOutcome:
    """What happened to one cell in one ``run_matrix`` call."""

    label: str
    spec: CellSpec
    run_dir: Path
    status: str  # finished (ran here) | failed | skipped (result already there, or made by another process)
    detail: str = ""  # one line: why skipped, or the failure's type and message
    seconds: float = 0.0


@dataclass
class MatrixRun:
    """The outcome of ``run_matrix``: every cell with its status and run dir."""

    matrix: Matrix
    root: Path
    outcomes: list[CellOutcome] = field(default_factory=list)
    seconds: float = 0.0

    def _with(self, status: str) -> list[CellOutcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def finished(self) -> list[CellOutcome]:
        """Cells trained to completion by this call (including resumed ones)."""
        return self._with("finished")

    @property
    def failed(self) -> list[CellOutcome]:
        """Cells that raised (here or in another process); see ``failed.json`` in their run dirs."""
        return self._with("failed")

    @property
    def skipped(self) -> list[CellOutcome]:
        """Cells whose results already existed or were produced by another process."""
        return self._with("skipped")

    @property
    def ok(self) -> bool:
        """True when every cell of the matrix has its results."""
        return not self.failed

    def summary(self) -> str:
        """A short human-readable account: counts, then each failure with its reason."""
        lines = [
            f"matrix {self.matrix.name}: {len(self.outcomes)} cells: {len(self.finished)} finished, "
            f"{len(self.skipped)} skipped (done before or by another process), {len(self.failed)} failed; "
            f"{self.seconds:.0f} s; results under {self.root / 'runs'}"
        ]
        for o in self.failed:
            lines.append(f"  FAILED {_cell_name(o.label, o.spec)}: {o.detail} (see {o.run_dir / 'failed.json'})")
        return "\n".join(lines)


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


# ---------------------------------------------------------------- worker side

_WORKER: dict[str, Any] = {}


def _init_worker(slots: Any, threads: int, data: str | None, messages: Any) -> None:
    import torch

    torch.set_num_threads(threads)
    if data is not None:
        os.environ[DATA_ENV] = data
    _WORKER["device"] = slots.get()  # this process's GPU ("cuda:i") or None on a CPU
    _WORKER["messages"] = messages
    _watch_parent(os.getppid())


#: How often a worker checks that the process that started it is still alive (seconds).
PARENT_POLL_S = 0.5


def _watch_parent(parent: int) -> None:
    """Exit this worker as soon as its parent is gone (e.g. ``kill -9`` of ``matrix run``).

    Orphaned workers would otherwise train the queued cells and then block forever. Exiting at
    any moment is safe: every file a cell writes is replaced atomically and the epoch checkpoint
    is the resume point, exactly as when the worker itself is killed.
    """

    def watch() -> None:
        while True:
            time.sleep(PARENT_POLL_S)
            if os.getppid() != parent:
                os._exit(3)

    threading.Thread(target=watch, name="wsbench-parent-watch", daemon=True).start()


def _attempt(label: str, spec: CellSpec, root: Path, runner: Callable[..., Any]) -> tuple[str, str, float]:
    """Run one cell if its lock is free: ('finished'|'failed'|'skipped'|'locked', detail, seconds)."""
    run_dir = spec.run_dir(root)
    name = _cell_name(label, spec)
    messages = _WORKER.get("messages")

    def log(msg: str) -> None:
        if messages is not None:
            messages.put(f"[{name}] {msg}")

    with cell_lock(run_dir, blocking=False) as got:
        if not got:
            return "locked", "", 0.0
        if is_finished(run_dir):  # another process finished it meanwhile
            return "skipped", "finished by another process", 0.0
        device = _WORKER.get("device")
        if device is not None and spec.device == "cuda":
            spec = dataclasses.replace(spec, device=device)  # same cell hash: it holds the device type only
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "failed.json").unlink(missing_ok=True)  # a rerun retries a failed cell
        _record_attempt(run_dir)
        t0 = time.perf_counter()
        try:
            runner(spec, root=root, log=log)
        except Exception as e:  # noqa: BLE001 - any failure of one cell must not stop the matrix
            reason = f"{type(e).__name__}: {e}".splitlines()[0]
            atomic_write_json(
                run_dir / "failed.json",
                {
                    "label": label,
                    "cell_hash": spec.cell_hash(),
                    "type": type(e).__name__,
                    "message": str(e),
                    "traceback": traceback.format_exc(),
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                },
            )
            log(f"FAILED: {reason}")
            return "failed", reason, time.perf_counter() - t0
        return "finished", "", time.perf_counter() - t0


def _record_attempt(run_dir: Path) -> None:
    path = run_dir / "attempts.jsonl"
    old = path.read_text() if path.exists() else ""
    line = json.dumps(
        {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(), "resume": (run_dir / "checkpoint.pt").exists()}
    )
    atomic_write_text(path, old + line + "\n")  # under the cell's lock: no other writer


# ---------------------------------------------------------------- parent side


def run_matrix(
    matrix: Matrix,
    root: Path | None = None,
    workers: int | None = None,
    progress: bool | None = None,
    log: Callable[[str], None] | None = print,
    runner: Callable[..., Any] = run_cell,
    threads: int | None = None,
    only: set[str] | None = None,
) -> MatrixRun:
    """Run every unfinished cell of ``matrix`` under ``root`` in worker processes; never raises for a cell.

    ``progress``: a tqdm bar (default: on unless the ``CI`` env var is set). ``log`` gets the cells'
    log lines. ``runner(spec, root=, log=)`` runs one cell (a module-level function; tests inject
    failures through it). ``threads``: torch threads per worker (default ``max(1, cores // processes)``);
    CPU results depend on it, so compare runs made with the same value. ``only``: run just the
    cells with these full hashes (a cluster job's share of the matrix).
    """
    t0 = time.perf_counter()
    root = writable_folder(Path(root) if root is not None else results_dir(), "results folder")
    workers = matrix.workers if workers is None else workers
    if workers < 1:
        raise WsbenchError(f"workers must be >= 1, got {workers}")
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
        _run_pending(matrix, root, todo, workers, progress, log, runner, threads, outcomes, done=len(cells) - len(todo))
    run.outcomes = [outcomes[spec.cell_hash()] for _, spec in cells]
    run.seconds = time.perf_counter() - t0
    return run


def _gpu_slots(matrix: Matrix, todo: list[tuple[str, CellSpec]], workers: int) -> list[str | None]:
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


def _run_pending(
    matrix: Matrix,
    root: Path,
    todo: list[tuple[str, CellSpec]],
    workers: int,
    progress: bool | None,
    log: Callable[[str], None] | None,
    runner: Callable[..., Any],
    threads: int | None,
    outcomes: dict[str, CellOutcome],
    done: int,
) -> None:
    from tqdm import tqdm

    slots = _gpu_slots(matrix, todo, workers)
    n_procs = min(len(slots), len(todo))
    ctx = mp.get_context("spawn")
    slot_q, messages = ctx.Queue(), ctx.Queue()
    for s in slots[:n_procs]:
        slot_q.put(s)
    if threads is None:
        threads = max(1, _cores() // n_procs)
    elif threads < 1:
        raise WsbenchError(f"threads must be >= 1, got {threads}")
    show = (not os.environ.get("CI")) if progress is None else progress
    bar = tqdm(total=done + len(todo), initial=done, desc=f"matrix {matrix.name}", unit="cell", disable=not show)
    if log is None:

        def emit(m: str) -> None:  # no log: drop messages
            return None
    elif show and log is print:
        emit = bar.write  # printing under a live bar would tear it
    else:
        emit = log
    pump = _MessagePump(messages, emit)
    data = str(matrix.data) if matrix.data is not None else None
    try:
        with ProcessPoolExecutor(
            n_procs, mp_context=ctx, initializer=_init_worker, initargs=(slot_q, threads, data, messages)
        ) as pool:
            pending, broken = todo, False
            while pending:
                futures = {pool.submit(_attempt, label, spec, root, runner): (label, spec) for label, spec in pending}
                locked = []
                for fut in as_completed(futures):
                    label, spec = futures[fut]
                    try:
                        status, detail, secs = fut.result()
                    except BrokenProcessPool as e:
                        broken = True
                        status, detail, secs = "failed", f"worker process died ({_death_hint()}): {e}", 0.0
                    if status == "locked":
                        locked.append((label, spec))
                        continue
                    outcomes[spec.cell_hash()] = CellOutcome(label, spec, spec.run_dir(root), status, detail, secs)
                    bar.update(1)
                    bar.set_postfix(failed=sum(o.status == "failed" for o in outcomes.values()), refresh=False)
                pending = []
                for label, spec in locked:
                    outcome = _wait_for_other(label, spec, root, emit)
                    if outcome is None:
                        pending.append((label, spec))  # the other process stopped early: run it here
                    else:
                        outcomes[spec.cell_hash()] = outcome
                        bar.update(1)
                if broken:  # a dead worker breaks the pool: report the rest; a rerun retries them
                    for label, spec in pending:
                        outcomes[spec.cell_hash()] = CellOutcome(
                            label, spec, spec.run_dir(root), "failed", "not run: a worker process died"
                        )
                    pending = []
    finally:
        pump.stop()
        bar.close()


def _wait_for_other(label: str, spec: CellSpec, root: Path, emit: Callable[[str], None]) -> CellOutcome | None:
    """Block until the process holding a cell's lock lets go; its outcome, or None if unfinished."""
    run_dir = spec.run_dir(root)
    emit(f"[{_cell_name(label, spec)}] another process is running it; waiting")
    with cell_lock(run_dir, blocking=True):
        if is_finished(run_dir):
            return CellOutcome(label, spec, run_dir, "skipped", "finished by another process")
        if (run_dir / "failed.json").exists():
            return CellOutcome(label, spec, run_dir, "failed", _failure_line(run_dir))
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
        self._stop.set()
        self._thread.join()
        self._drain(timeout=0.05)  # lines still in flight from the last cells
        self.messages.close()


def _death_hint() -> str:
    """Why a worker may have died: spawned workers re-run a plain script that lacks a ``__main__`` guard."""
    import sys

    main = sys.modules.get("__main__")
    if main is not None and getattr(main, "__file__", None) and getattr(main, "__spec__", None) is None:
        return (
            f"killed, out of memory, or {main.__file__} starts a matrix run at import: call it under if __name__ == '__main__':"
        )
    return "killed or out of memory"


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _cell_name(label: str, spec: CellSpec) -> str:
    return f"{spec.space}/{label}/{spec.protocol.name}/seed{spec.seed}"


# ---------------------------------------------------------------- status and the command line


@dataclass
class CellStatus:
    """Where one cell stands on disk."""

    label: str
    spec: CellSpec
    run_dir: Path
    state: str  # finished | damaged | failed | running | partial | pending
    detail: str = ""


def matrix_status(matrix: Matrix, root: Path | None = None) -> list[CellStatus]:
    """Each cell's state from its run dir and lock, without running anything."""
    root = Path(root) if root is not None else results_dir()
    rows = []
    for label, spec in matrix.labelled_cells():
        d = spec.run_dir(root)
        state, reason = cell_state(d)
        if state == FINISHED:
            rows.append(CellStatus(label, spec, d, "finished"))
        elif is_locked(d):
            rows.append(CellStatus(label, spec, d, "running", _epoch_detail(d, spec)))
        elif state == DAMAGED:
            rows.append(CellStatus(label, spec, d, "damaged", f"{reason}; matrix run runs it again"))
        elif (d / "failed.json").exists():
            rows.append(CellStatus(label, spec, d, "failed", _failure_line(d)))
        elif (d / "checkpoint.pt").exists():
            rows.append(CellStatus(label, spec, d, "partial", _epoch_detail(d, spec)))
        else:
            rows.append(CellStatus(label, spec, d, "pending"))
    return rows


def _failure_line(run_dir: Path) -> str:
    """'Type: message' of a failed cell's failed.json (or why that file cannot be read)."""
    try:
        info = read_json(run_dir / "failed.json")
        return f"{info['type']}: {info['message']}".splitlines()[0]
    except (ValueError, OSError, KeyError, TypeError) as e:
        return f"failed (failed.json unreadable: {e})"


def _epoch_detail(run_dir: Path, spec: CellSpec) -> str:
    """'epoch k/n' from the checkpoint (written atomically, so never half-read)."""
    ck = run_dir / "checkpoint.pt"
    if not ck.exists():
        return f"epoch 0/{spec.protocol.epochs}"
    try:
        import torch

        epoch = torch.load(ck, map_location="cpu", weights_only=False, mmap=True)["epoch"]
    except Exception:  # noqa: BLE001 - status must never fail on a checkpoint being replaced
        return "checkpoint unreadable"
    return f"epoch {epoch}/{spec.protocol.epochs}"


def format_status(matrix: Matrix, rows: list[CellStatus], jobs: dict[str, tuple[Any, str]] | None = None) -> str:
    """A plain-text table of ``matrix_status`` rows with a count per state.

    ``jobs``: cell hash -> (its latest cluster job record, the job's scheduler state); a cell with
    one shows the job id and state, and, unless it finished, where the job's logs are.
    """
    counts = {s: sum(r.state == s for r in rows) for s in ("finished", "running", "partial", "damaged", "failed", "pending")}
    lines = [f"matrix {matrix.name}: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)]
    width = max(len(_cell_name(r.label, r.spec)) for r in rows)
    for r in rows:
        job = (jobs or {}).get(r.spec.cell_hash())
        tail = ""
        if job is not None:
            record, state = job
            tail = f"  [job {record.job_id} {state}" + ("]" if r.state == "finished" else f"; log {record.stderr}]")
        lines.append(f"  {_cell_name(r.label, r.spec):<{width}}  {r.state:<8}  {r.detail}{tail}".rstrip())
    return "\n".join(lines)


def run_command(
    target: str,
    workers: int | None = None,
    root: Path | None = None,
    threads: int | None = None,
    out: TextIO | None = None,
    executor: ExecutorOptions | None = None,
    wait_for_jobs: bool = True,
) -> int:
    """``wsbench matrix run``: run a matrix (name or path), print its summary; exit 1 if a cell failed.

    ``executor``: how (default: the matrix file's ``[executor]``, else the local worker pool).
    """
    import sys

    matrix = load_matrix(target)
    opts = matrix.executor if executor is None else executor
    if opts.is_cluster():
        run = run_on_cluster(matrix, root, opts, wait_for_jobs=wait_for_jobs, log=lambda m: print(m, file=out or sys.stdout))
    else:
        run = run_matrix(matrix, root=root, workers=workers, threads=threads)
    print(run.summary(), file=out or sys.stdout)
    return 0 if run.ok else 1


def run_on_cluster(
    matrix: Matrix, root: Path | None, opts: ExecutorOptions, wait_for_jobs: bool = True, log: Callable[[str], None] = print
) -> MatrixRun:
    """Submit the matrix's unfinished cells as jobs (``harness.run.cluster``), wait for them, read the outcomes."""
    from harness.run import cluster

    t0 = time.perf_counter()
    root = writable_folder(Path(root) if root is not None else results_dir(), "results folder")
    sub = cluster.submit(matrix, root, opts, log=log)
    run = MatrixRun(matrix, root)
    if not wait_for_jobs:
        log("not waiting: follow with `wsbench matrix status`")
        return run
    cluster.wait(matrix, root, sub.jobs, log=log)
    run.outcomes = cluster.outcomes(matrix, root, sub, cluster.job_states(sub.jobs) if sub.jobs else {})
    run.seconds = time.perf_counter() - t0
    return run


def status_command(target: str, root: Path | None = None, out: TextIO | None = None) -> int:
    """``wsbench matrix status``: print where each cell of a matrix stands."""
    import sys

    from harness.run.cluster import job_of_cells

    matrix = load_matrix(target)
    folder = Path(root) if root is not None else results_dir()
    print(format_status(matrix, matrix_status(matrix, root), job_of_cells(folder, matrix)), file=out or sys.stdout)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m harness.run.executor run|status MATRIX [--workers N] [--threads T] [--root DIR]`` (as ``wsbench matrix``)."""
    import argparse
    import sys

    p = argparse.ArgumentParser(prog="python -m harness.run.executor")
    p.add_argument("action", choices=("run", "status"))
    p.add_argument("matrix", help="a shipped matrix's name (quick, ci, full) or a path to a .toml file")
    p.add_argument("--workers", type=int, default=None, help="cells at once (default: the matrix's workers)")
    p.add_argument("--threads", type=int, default=None, help="torch threads per worker (default: cores // workers)")
    p.add_argument("--root", type=Path, default=None, help="results folder (default: WSBENCH_RESULTS or results/)")
    args = p.parse_args(argv)
    try:
        if args.action == "run":
            return run_command(args.matrix, args.workers, args.root, args.threads)
        return status_command(args.matrix, args.root)
    except WsbenchError as e:
        print(f"wsbench: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        from harness.api.errors import os_error_line

        print(f"wsbench: error: {os_error_line(e)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
