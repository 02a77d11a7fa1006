"""``wsbench matrix run|status``: run a matrix of cells (space x strategy x seed) or show where it stands."""

from __future__ import annotations

import argparse

from harness.cli.arguments import NON_NEGATIVE, POSITIVE, Subparsers
from harness.run.cluster_options import EXECUTORS

#: The cluster options of ``matrix run``, by their ``ExecutorOptions`` field (the command-line flag's dest).
CLUSTER_FIELDS = ("partition", "gpus_per_job", "cpus_per_job", "time_limit_min", "mem_gb",
                  "account", "qos", "array_parallelism", "cells_per_job", "max_requeues")  # fmt: skip


def add_parser(sub: Subparsers) -> None:
    mx = sub.add_parser("matrix", help="run a matrix of cells (space x strategy x seed) or show where it stands")
    mxs = mx.add_subparsers(dest="matrix_command", required=True)
    mr = mxs.add_parser("run", help="run every unfinished cell (resumes; waits for cells another process holds)")
    mr.add_argument("matrix", help="a shipped matrix (quick, ci, full, ...) or a path to a .toml file")
    mr.add_argument("--workers", type=POSITIVE, default=None, help="cells at once (default: the matrix's workers)")
    mr.add_argument("--threads", type=POSITIVE, default=None, help="torch threads per worker (default: cores // workers)")
    mr.add_argument(
        "--executor",
        choices=EXECUTORS,
        default=None,
        help="local (this machine's worker pool; default), slurm (jobs through submitit), submitit-local (the same jobs as local subprocesses); default: the matrix file's [executor]",
    )
    _add_cluster_options(
        mr.add_argument_group("cluster jobs (slurm, submitit-local; override the matrix file's [executor] table)")
    )
    mr.set_defaults(func=run)
    ms = mxs.add_parser("status", help="each cell's state: finished, running, partial, failed or pending")
    ms.add_argument("matrix", help="a shipped matrix (quick, ci, full, ...) or a path to a .toml file")
    ms.set_defaults(func=run)


def _add_cluster_options(cl: argparse._ArgumentGroup) -> None:
    cl.add_argument("--partition", default=None, help="Slurm partition")
    cl.add_argument(
        "--gpus-per-job", dest="gpus_per_job", type=NON_NEGATIVE, default=None, help="GPUs per job (default: 1 for a cuda matrix)"
    )
    cl.add_argument("--cpus-per-job", dest="cpus_per_job", type=POSITIVE, default=None, help="CPUs per job (default: 2 per cell)")
    cl.add_argument(
        "--time",
        dest="time_limit_min",
        type=POSITIVE,
        default=None,
        help="time limit per job in minutes (a job at its limit requeues and resumes)",
    )
    cl.add_argument("--mem-gb", dest="mem_gb", type=float, default=None, help="memory per job in GB")
    cl.add_argument("--account", default=None, help="Slurm account")
    cl.add_argument("--qos", default=None, help="Slurm QoS")
    cl.add_argument(
        "--sbatch", action="append", default=[], help="an extra sbatch flag, e.g. --sbatch=--constraint=a100 (repeatable)"
    )
    cl.add_argument(
        "--array-parallelism",
        dest="array_parallelism",
        type=POSITIVE,
        default=None,
        help="jobs of one submission running at once",
    )
    cl.add_argument(
        "--cells-per-job", dest="cells_per_job", type=POSITIVE, default=None, help="cells one job runs side by side (on its GPUs)"
    )
    cl.add_argument(
        "--max-requeues",
        dest="max_requeues",
        type=NON_NEGATIVE,
        default=None,
        help="requeues after time limits or preemption (default 3)",
    )
    cl.add_argument("--no-wait", dest="no_wait", action="store_true", help="submit and return; follow with wsbench matrix status")


def run(args: argparse.Namespace) -> int:
    from harness.run.launch import run_command, status_command

    if args.matrix_command == "run":
        from harness.run.matrix import load_matrix

        given = {k: getattr(args, k) for k in CLUSTER_FIELDS}
        given["kind"] = args.executor
        given["sbatch"] = tuple(args.sbatch)
        given["threads"] = args.threads
        opts = load_matrix(args.matrix).executor.updated(**given)
        return run_command(args.matrix, workers=args.workers, threads=args.threads, executor=opts, wait_for_jobs=not args.no_wait)
    return status_command(args.matrix)
