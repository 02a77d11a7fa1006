"""``wsbench matrix run|status``: run a matrix of cells (space x strategy x seed) or show where it stands."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from harness.api.errors import WsbenchError
from harness.cli.arguments import Subparsers, int_in, number_in
from harness.run.cluster_options import EXECUTORS, INT_RANGE, MAX_WORKERS, MEM_GB_RANGE

#: The cluster options of ``matrix run``, by their ``ExecutorOptions`` field (the command-line flag's dest).
CLUSTER_FIELDS = ("partition", "gpus_per_job", "cpus_per_job", "time_limit_min", "mem_gb",
                  "account", "qos", "array_parallelism", "cells_per_job", "max_requeues")  # fmt: skip
#: The flag of each ``ExecutorOptions`` field, for errors that name what the user typed.
FLAGS = {"partition": "--partition", "gpus_per_job": "--gpus-per-job", "cpus_per_job": "--cpus-per-job",
         "time_limit_min": "--time", "mem_gb": "--mem-gb", "account": "--account", "qos": "--qos",
         "array_parallelism": "--array-parallelism", "cells_per_job": "--cells-per-job",
         "max_requeues": "--max-requeues", "threads": "--threads", "sbatch": "--sbatch"}  # fmt: skip


def _bounded(key: str) -> Callable[[str], int]:
    """The argument type of an integer executor option: its ``INT_RANGE``."""
    return int_in(*INT_RANGE[key])


def add_parser(sub: Subparsers) -> None:
    mx = sub.add_parser("matrix", help="run a matrix of cells (space x strategy x seed) or show where it stands")
    mxs = mx.add_subparsers(dest="matrix_command", required=True)
    mr = mxs.add_parser("run", help="run every unfinished cell (resumes; waits for cells another process holds)")
    mr.add_argument("matrix", help="a shipped matrix (quick, ci, full, ...) or a path to a .toml file")
    mr.add_argument(
        "--workers", type=int_in(1, MAX_WORKERS), default=None, help="cells at once, here (default: the matrix's workers)"
    )
    mr.add_argument(
        "--threads", type=_bounded("threads"), default=None, help="torch threads per cell (default: cores // workers)"
    )
    mr.add_argument(
        "--executor",
        choices=EXECUTORS,
        default=None,
        help="local (this machine's worker pool; default), slurm (jobs through submitit), submitit-local (the same jobs as local subprocesses); default: the matrix file's [executor]",
    )
    mr.add_argument(
        "--redo-stale-data",
        dest="redo_stale_data",
        action="store_true",
        help="retrain finished cells trained on other data (their outputs move into the cell's .stale-<data> folder)",
    )
    _add_cluster_options(
        mr.add_argument_group("cluster jobs (slurm, submitit-local; override the matrix file's [executor] table)")
    )
    mr.set_defaults(func=run)
    ms = mxs.add_parser("status", help="each cell's state: finished, running, partial, failed or pending")
    ms.add_argument("matrix", help="a shipped matrix (quick, ci, full, ...) or a path to a .toml file")
    ms.set_defaults(func=run)


#: Each cluster option's help, in the order ``--help`` lists them.
CLUSTER_HELP = {
    "partition": "Slurm partition",
    "gpus_per_job": "GPUs per job (default: 1 for a cuda matrix)",
    "cpus_per_job": "CPUs per job (default: 2 per cell)",
    "time_limit_min": "time limit per job in minutes (a job at its limit requeues and resumes)",
    "mem_gb": "memory per job in GB (slurm)",
    "account": "Slurm account",
    "qos": "Slurm QoS",
    "sbatch": "an extra sbatch flag, e.g. --sbatch=--constraint=a100 (repeatable)",
    "array_parallelism": "jobs of one submission running at once",
    "cells_per_job": "cells one job runs side by side (on its GPUs)",
    "max_requeues": "requeues after time limits or preemption (default 3)",
}


def _option_type(key: str) -> Callable[[str], Any]:
    """An executor option's argument type: its bounds where it has them, else text."""
    if key in INT_RANGE:
        return _bounded(key)
    return number_in(*MEM_GB_RANGE) if key == "mem_gb" else str


def _add_cluster_options(cl: argparse._ArgumentGroup) -> None:
    for key, text in CLUSTER_HELP.items():
        if key == "sbatch":
            cl.add_argument(FLAGS[key], action="append", default=[], help=text)
        else:
            cl.add_argument(FLAGS[key], dest=key, type=_option_type(key), default=None, help=text)
    cl.add_argument("--no-wait", dest="no_wait", action="store_true", help="submit and return; follow with wsbench matrix status")


def run(args: argparse.Namespace) -> int:
    from harness.run.launch import run_command, status_command
    from harness.run.matrix import load_matrix

    matrix = load_matrix(args.matrix)  # once: the options below are checked against it
    if args.matrix_command == "status":
        return status_command(matrix)
    given = {k: getattr(args, k) for k in CLUSTER_FIELDS}
    given.update(kind=args.executor, sbatch=tuple(args.sbatch), threads=args.threads)
    opts = matrix.executor.updated(flag=FLAGS.__getitem__, **given)
    _refuse_pool_flags(args, opts.kind)
    return run_command(matrix, workers=args.workers, threads=args.threads, executor=opts, wait_for_jobs=not args.no_wait,
                       redo_stale_data=args.redo_stale_data)  # fmt: skip


def _refuse_pool_flags(args: argparse.Namespace, kind: str) -> None:
    """``--workers`` sizes the local pool and ``--no-wait`` leaves cluster jobs running: each is refused
    where it would have no effect."""
    if kind != "local" and args.workers is not None:
        raise WsbenchError(
            f"--workers sizes this machine's worker pool, and executor {kind} runs the cells as jobs: it would have "
            "no effect; use --cells-per-job (cells one job runs side by side) or --executor local"
        )
    if kind == "local" and args.no_wait:
        raise WsbenchError(
            "--no-wait applies to executor slurm or submitit-local only, and this executor is local (the pool "
            "runs here until every cell ends): it would have no effect; remove it or set --executor slurm"
        )
