"""Run a matrix on the backend its options name, and say where its cells stand.

What ``wsbench matrix run|status``, ``reproduce`` and ``regression`` call. ``ExecutorOptions.kind``
picks the backend: ``local`` is the worker pool here (``backends.local``), ``slurm`` and
``submitit-local`` are submitit jobs (``backends.slurm``). ``python -m harness.run.launch`` is the
same as ``wsbench matrix`` for the local pool.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn, TextIO

from harness.api.errors import WsbenchError
from harness.run.backends.base import Backend, MatrixRun
from harness.run.backends.local import LocalBackend
from harness.run.backends.slurm import SlurmBackend
from harness.run.cluster_options import ExecutorOptions, check_device
from harness.run.matrix import Matrix, load_matrix
from harness.run.status import format_status, matrix_status
from harness.settings import DATA_ENV, results_dir

#: Every backend; each serves the executor kinds it names.
BACKENDS: tuple[type[Backend], ...] = (LocalBackend, SlurmBackend)


def backend_for(opts: ExecutorOptions, workers: int | None = None, threads: int | None = None,
                progress: bool | None = None, log: Callable[[str], None] | None = print) -> Backend:  # fmt: skip
    """The backend of ``opts.kind``. ``workers``/``threads``/``progress`` are the local pool's (a cluster
    job takes its own from ``opts``; the pool's threads default to ``opts.threads``); ``log`` gets
    progress lines (None: none)."""
    if opts.kind in LocalBackend.kinds:
        return LocalBackend(workers, threads if threads is not None else opts.threads, progress, log)
    if opts.kind in SlurmBackend.kinds:
        return SlurmBackend(opts, log=log or _quiet)
    raise WsbenchError(f"executor {opts.kind!r} has no backend")  # ExecutorOptions are checked: a bug if reached


def launch(matrix: Matrix, root: Path | None = None, opts: ExecutorOptions | None = None, *, workers: int | None = None,
           threads: int | None = None, progress: bool | None = None, wait: bool = True,
           log: Callable[[str], None] | None = print, redo_stale_data: bool = False) -> MatrixRun:  # fmt: skip
    """Run ``matrix``'s unfinished cells on the backend of ``opts`` (default: the matrix's ``[executor]``).

    Finished cells are checked against the data this run reads before any backend starts: one trained
    on other data is refused in one line (nothing runs), or with ``redo_stale_data`` set aside and rerun.
    """
    opts = matrix.executor if opts is None else opts
    check_device(opts, matrix.device, "", "gpus per job")
    check_finished_data(matrix, root, redo_stale_data, log or _quiet)
    return backend_for(opts, workers, threads, progress, log).run(matrix, root, wait=wait)


def check_finished_data(matrix: Matrix, root: Path | None, redo: bool, log: Callable[[str], None]) -> None:
    """Every finished cell of ``matrix`` may be reused only for the data it trained on (``engine.reuse``).

    The backends skip finished cells without opening them; this is the one place a matrix run compares
    their recorded data with the data its cells read now (the matrix's ``data`` folder, if it names one).
    """
    from harness.engine.integrity import is_finished
    from harness.engine.reuse import check_reuse

    folder = root if root is not None else results_dir()
    with data_folder(matrix.data):
        for spec in matrix.cells():
            run_dir = spec.run_dir(folder)
            if is_finished(run_dir):
                check_reuse(spec, run_dir, True, redo, log)


@contextlib.contextmanager
def data_folder(path: Path | None) -> Iterator[None]:
    """``WSBENCH_DATA`` set to ``path`` meanwhile (as the workers set it); unchanged for None."""
    if path is None:
        yield
        return
    old = os.environ.get(DATA_ENV)
    os.environ[DATA_ENV] = str(path)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(DATA_ENV, None)
        else:
            os.environ[DATA_ENV] = old


def _quiet(_msg: str) -> None:
    return None


def run_command(
    target: str | Matrix,
    workers: int | None = None,
    root: Path | None = None,
    threads: int | None = None,
    out: TextIO | None = None,
    executor: ExecutorOptions | None = None,
    wait_for_jobs: bool = True,
    redo_stale_data: bool = False,
) -> int:
    """``wsbench matrix run``: run a matrix (name, path or loaded), print its summary; exit 1 if a cell failed.

    ``executor``: how (default: the matrix file's ``[executor]``, else the local worker pool). When
    no cell could run, all for one user error (e.g. the data is missing), that error is raised: a
    user error is one line and exit 2, however many cells met it.
    """
    matrix = target if isinstance(target, Matrix) else load_matrix(target)
    opts = matrix.executor if executor is None else executor
    # Cluster submissions report to ``out``; the local pool's cell lines go to stdout as always.
    log = (lambda m: print(m, file=out or sys.stdout)) if opts.is_cluster() else print
    run = launch(matrix, root, opts, workers=workers, threads=threads, wait=wait_for_jobs, log=log,
                 redo_stale_data=redo_stale_data)  # fmt: skip
    refused = common_user_error(run)
    if refused is not None:
        raise WsbenchError(refused)
    print(run.summary(), file=out or sys.stdout)
    return 0 if run.ok else 1


def common_user_error(run: MatrixRun) -> str | None:
    """The one user error every attempted cell failed with (no cell finished), else None."""
    if run.finished or not run.failed or not all(o.user_error for o in run.failed):
        return None
    details = {o.detail for o in run.failed}
    if len(details) != 1:
        return None
    detail = details.pop().split(": ", 1)[-1]  # "DataMissingError: ..." -> the message
    n = len(run.failed)
    return f"{detail} (no cell could run: {'the' if n == 1 else f'all {n}'} cell{'s' if n > 1 else ''} met it)"


def jobs_of_cells(root: Path, matrix: Matrix) -> dict[str, tuple[Any, str]]:
    """Cell hash -> (job record, state) from every backend's records under ``root``."""
    jobs: dict[str, tuple[Any, str]] = {}
    for backend in BACKENDS:
        jobs.update(backend.status_extras(root, matrix))
    return jobs


def status_command(target: str | Matrix, root: Path | None = None, out: TextIO | None = None) -> int:
    """``wsbench matrix status``: print where each cell of a matrix stands."""
    matrix = target if isinstance(target, Matrix) else load_matrix(target)
    folder = Path(root) if root is not None else results_dir()
    print(format_status(matrix, matrix_status(matrix, root), jobs_of_cells(folder, matrix)), file=out or sys.stdout)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m harness.run.launch run|status MATRIX [--workers N] [--threads T] [--root DIR]`` (as ``wsbench matrix``)."""
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:  # one line, as wsbench's own usage errors
            self.exit(2, f"wsbench: error: {message} (see {self.prog} --help)\n")

    p = Parser(prog="python -m harness.run.launch")
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
