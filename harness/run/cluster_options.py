"""How a matrix's cells are run: here in worker processes, or as jobs on a Slurm cluster (submitit).

One place for the options a user sets in a matrix file's ``[executor]`` table or on the command
line (which wins). ``local`` is the default: the worker pool of ``harness.run.backends.local`` on
this machine. ``slurm`` submits jobs through submitit (``harness.run.backends.slurm``);
``submitit-local`` runs the same jobs as local subprocesses through submitit's ``LocalExecutor``
(what the tests use, and a dry run of a cluster submission).

It sits beside ``matrix`` rather than in ``backends``: a matrix file holds these options, and the
backends import ``matrix``, so the two packages never import each other.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from harness.api.errors import WsbenchError, did_you_mean

EXECUTORS = ("local", "slurm", "submitit-local")


@dataclass(frozen=True)
class ExecutorOptions:
    """The executor and, for cluster jobs, what each job asks the scheduler for."""

    kind: str = "local"
    partition: str | None = None
    #: GPUs per job (default: 1 for a cuda matrix, else 0); ``cells_per_job`` cells share them.
    gpus_per_job: int | None = None
    #: CPUs per job (default: 2 per cell of the job).
    cpus_per_job: int | None = None
    time_limit_min: int = 60
    mem_gb: float | None = None
    account: str | None = None
    qos: str | None = None
    #: Extra sbatch flags, e.g. ``["--constraint=a100", "--exclusive"]``.
    sbatch: tuple[str, ...] = ()
    #: At most this many jobs of one submission run at once (a job array's ``%N``).
    array_parallelism: int = 32
    #: Cells one job runs side by side (on its GPUs, as the matrix's ``workers`` do on one machine).
    cells_per_job: int = 1
    #: Requeues after a time limit or preemption before a job is given up (submitit's max_num_timeout).
    max_requeues: int = 3
    #: Seconds before the time limit at which Slurm warns the job (USR2) so it requeues itself.
    signal_delay_s: int = 90
    #: Torch threads per cell (default: the job's CPUs // its cells).
    threads: int | None = None

    def is_cluster(self) -> bool:
        """Whether cells run as submitit jobs (slurm or submitit-local) rather than in the local pool."""
        return self.kind != "local"

    def resolved(self, device: str) -> ExecutorOptions:
        """Defaults that depend on the matrix filled in: GPUs from its device, CPUs from the cells per job."""
        gpus = self.gpus_per_job if self.gpus_per_job is not None else (1 if device == "cuda" else 0)
        cpus = self.cpus_per_job if self.cpus_per_job is not None else 2 * self.cells_per_job
        return replace(self, gpus_per_job=gpus, cpus_per_job=cpus)

    def updated(self, **changes: Any) -> ExecutorOptions:
        """These options with the given (non-None) changes, checked."""
        given = {k: v for k, v in changes.items() if v is not None and v != ()}
        return check(replace(self, **given), "command line")


_INT_MIN = {"gpus_per_job": 0, "cpus_per_job": 1, "time_limit_min": 1, "array_parallelism": 1, "cells_per_job": 1,
            "max_requeues": 0, "signal_delay_s": 0, "threads": 1}  # fmt: skip


def check(opts: ExecutorOptions, where: str) -> ExecutorOptions:
    """A one-line error naming the first bad option; the options otherwise."""
    if opts.kind not in EXECUTORS:
        raise WsbenchError(
            f"{where}: executor {opts.kind!r} is unknown{did_you_mean(opts.kind, EXECUTORS)}; known: {', '.join(EXECUTORS)}"
        )
    for key, least in _INT_MIN.items():
        value = getattr(opts, key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < least):
            raise WsbenchError(f"{where}: executor.{key} must be an integer >= {least}, got {value!r}")
    if opts.mem_gb is not None and (
        isinstance(opts.mem_gb, bool) or not isinstance(opts.mem_gb, (int, float)) or opts.mem_gb <= 0
    ):
        raise WsbenchError(f"{where}: executor.mem_gb must be a positive number of GB, got {opts.mem_gb!r}")
    for key in ("partition", "account", "qos"):
        value = getattr(opts, key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise WsbenchError(f"{where}: executor.{key} must be a non-empty string, got {value!r}")
    bad = [f for f in opts.sbatch if not isinstance(f, str) or not f.startswith("--")]
    if bad:
        raise WsbenchError(f"{where}: executor.sbatch flags are long options like '--constraint=a100', got {bad[0]!r}")
    return opts


def parse_table(table: Any, src: str) -> ExecutorOptions:
    """The ``[executor]`` table of a matrix file (strict: unknown keys and wrong types are errors)."""
    if not isinstance(table, dict):
        raise WsbenchError(f'{src}: executor must be a table, e.g. [executor] kind = "slurm"')
    names = [f.name for f in fields(ExecutorOptions)]
    unknown_keys = sorted(set(table) - set(names))
    if unknown_keys:
        key = unknown_keys[0]
        raise WsbenchError(
            f"{src}: executor.{key} is not an executor option{did_you_mean(key, names)}; known: {', '.join(names)}"
        )
    values = dict(table)
    if "sbatch" in values:
        if not isinstance(values["sbatch"], list):
            raise WsbenchError(f'{src}: executor.sbatch must be a list of flags, e.g. ["--constraint=a100"]')
        values["sbatch"] = tuple(values["sbatch"])
    if "kind" in values and not isinstance(values["kind"], str):
        raise WsbenchError(f"{src}: executor.kind must be a string: one of {', '.join(EXECUTORS)}")
    return check(ExecutorOptions(**values), src)


def sbatch_parameters(flags: tuple[str, ...]) -> dict[str, Any]:
    """Extra sbatch flags as submitit's ``slurm_additional_parameters`` (``--a-b=c`` -> {"a_b": "c"})."""
    out: dict[str, Any] = {}
    for flag in flags:
        key, sep, value = flag[2:].partition("=")
        out[key.replace("-", "_")] = value if sep else True
    return out
