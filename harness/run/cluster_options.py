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

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields, replace
from typing import Any

from harness.api.errors import WsbenchError, did_you_mean

EXECUTORS = ("local", "slurm", "submitit-local")
#: Worker processes of the local pool at most (a matrix's ``workers``, ``--workers``): each holds its
#: own copy of the data and the network, so more than this on one machine is a typo, not a plan.
MAX_WORKERS = 128


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

    def updated(self, flag: Callable[[str], str] | None = None, **changes: Any) -> ExecutorOptions:
        """These options with the given (non-None) changes, checked; a change that does not apply to the
        resulting kind is refused. ``flag(key)``: how the caller names an option (``--time``)."""
        given = {k: v for k, v in changes.items() if v is not None and v != ()}
        new = replace(self, **given)
        name = flag or (lambda key: f"executor.{key}")
        check(new, "command line")
        switch = "--executor {kind}" if flag else "kind = {kind!r}"
        refuse_inapplicable([k for k in given if k != "kind"], new.kind, name, switch)
        return new


#: Each integer option's least and largest value. The upper bounds catch typos (a value no
#: scheduler grants, or that would start thousands of processes), not real limits of any cluster.
INT_RANGE = {
    "gpus_per_job": (0, 64),
    "cpus_per_job": (1, 1024),
    "time_limit_min": (1, 525_600),  # a year
    "array_parallelism": (1, 100_000),
    "cells_per_job": (1, 128),
    "max_requeues": (0, 1000),
    "signal_delay_s": (0, 3600),
    "threads": (1, 1024),
}
#: Memory per job in GB: at least 1 MB (0 would mean "all of the node's memory" to Slurm), at most 16 TB.
MEM_GB_RANGE = (0.001, 16384.0)

#: The executor kinds each option takes effect with; an option set for another kind is refused
#: (it would be silently ignored). ``threads`` sets the local pool's threads too.
CLUSTER = ("slurm", "submitit-local")
APPLIES: dict[str, tuple[str, ...]] = {
    "partition": ("slurm",),
    "account": ("slurm",),
    "qos": ("slurm",),
    "sbatch": ("slurm",),
    "mem_gb": ("slurm",),
    "array_parallelism": ("slurm",),
    "signal_delay_s": ("slurm",),
    "gpus_per_job": CLUSTER,
    "cpus_per_job": CLUSTER,
    "time_limit_min": CLUSTER,
    "cells_per_job": CLUSTER,
    "max_requeues": CLUSTER,
    "threads": EXECUTORS,
}


#: sbatch flags that a dedicated option (or the backend itself) sets: given in ``sbatch`` too, one
#: of the two values would silently win.
SBATCH_OWNED = {
    "time": "executor.time_limit_min (--time)",
    "partition": "executor.partition (--partition)",
    "account": "executor.account (--account)",
    "qos": "executor.qos (--qos)",
    "mem": "executor.mem_gb (--mem-gb)",
    "gpus-per-node": "executor.gpus_per_job (--gpus-per-job)",
    "cpus-per-task": "executor.cpus_per_job (--cpus-per-job)",
    "signal": "executor.signal_delay_s",
    "array": "executor.array_parallelism (--array-parallelism)",
    "job-name": "wsbench (it names each job after its matrix)",
    "output": "wsbench (submitit writes each job's log beside its records)",
    "error": "wsbench (submitit writes each job's log beside its records)",
}


def applies(key: str, kind: str) -> bool:
    """Whether option ``key`` takes effect with executor ``kind``."""
    return kind in APPLIES.get(key, EXECUTORS)


def kinds_phrase(key: str) -> str:
    """The executor kinds an option applies to, in words (``slurm``, ``slurm or submitit-local``)."""
    return " or ".join(APPLIES.get(key, EXECUTORS))


def refuse_inapplicable(keys: Iterable[str], kind: str, name: Callable[[str], str], switch: str, where: str = "") -> None:
    """A one-line error for the first option in ``keys`` that has no effect with executor ``kind``.

    ``name(key)``: the option as the user wrote it; ``switch``: how to pick a kind, with ``{kind}``
    (``--executor {kind}`` or ``kind = {kind!r}``)."""
    for key in keys:
        if not applies(key, kind):
            fix = switch.format(kind=APPLIES[key][0])
            raise WsbenchError(
                f"{where}{name(key)} applies to executor {kinds_phrase(key)} only, and this executor is {kind}: "
                f"it would have no effect; remove it or set {fix}"
            )


def check(opts: ExecutorOptions, where: str) -> ExecutorOptions:
    """A one-line error naming the first bad option; the options otherwise."""
    if opts.kind not in EXECUTORS:
        raise WsbenchError(
            f"{where}: executor {opts.kind!r} is unknown{did_you_mean(opts.kind, EXECUTORS)}; known: {', '.join(EXECUTORS)}"
        )
    for key, (least, most) in INT_RANGE.items():
        value = getattr(opts, key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not least <= value <= most):
            raise WsbenchError(f"{where}: executor.{key} must be an integer in {least}..{most}, got {value!r}")
    _check_mem(opts.mem_gb, where)
    for key in ("partition", "account", "qos"):
        value = getattr(opts, key)
        if value is not None and (not isinstance(value, str) or not value.strip() or any(c.isspace() for c in value)):
            raise WsbenchError(f"{where}: executor.{key} must be a non-empty name without spaces, got {value!r}")
    bad = [f for f in opts.sbatch if not isinstance(f, str) or not f.startswith("--") or len(f) < 3 or "\n" in f]
    if bad:
        raise WsbenchError(f"{where}: executor.sbatch flags are long options like '--constraint=a100', got {bad[0]!r}")
    for flag in opts.sbatch:
        name = flag[2:].partition("=")[0].replace("_", "-")
        if name in SBATCH_OWNED:
            raise WsbenchError(
                f"{where}: executor.sbatch flag {flag!r} sets what {SBATCH_OWNED[name]} sets (one of the two would be "
                f"ignored); use {SBATCH_OWNED[name]} alone"
            )
    if opts.kind == "slurm" and opts.signal_delay_s >= 60 * opts.time_limit_min:
        raise WsbenchError(
            f"{where}: executor.signal_delay_s ({opts.signal_delay_s} s) must be shorter than the time limit "
            f"({opts.time_limit_min} min): Slurm warns a job that long before its limit so it can requeue; "
            "raise time_limit_min or lower signal_delay_s"
        )
    return opts


def _check_mem(mem_gb: Any, where: str) -> None:
    """``mem_gb``: unset, or a finite number of GB within ``MEM_GB_RANGE``."""
    if mem_gb is None:
        return
    low, high = MEM_GB_RANGE
    number = isinstance(mem_gb, (int, float)) and not isinstance(mem_gb, bool)
    if not number or not math.isfinite(mem_gb) or not low <= mem_gb <= high:
        raise WsbenchError(f"{where}: executor.mem_gb must be a number of GB in {low:g}..{high:g}, got {mem_gb!r}")


def check_device(opts: ExecutorOptions, device: str, where: str, name: str = "executor.gpus_per_job") -> None:
    """GPUs per job that contradict the matrix's device: a cuda cell without a GPU fails in its job,
    and a cpu matrix leaves the GPUs it asked for idle. ``where``: the prefix of the error (``m.toml: ``)."""
    if not opts.is_cluster() or opts.gpus_per_job is None or device == "auto":
        return
    if device == "cuda" and opts.gpus_per_job == 0:
        raise WsbenchError(
            f"{where}{name} = 0, but the matrix runs on cuda: its cells would find no GPU in their jobs; "
            "give each job a GPU or set the matrix's device to cpu"
        )
    if device == "cpu" and opts.gpus_per_job > 0:
        raise WsbenchError(
            f"{where}{name} = {opts.gpus_per_job}, but the matrix runs on cpu: the GPUs would sit idle; "
            'ask for 0 (the default for a cpu matrix) or set the matrix\'s device = "cuda"'
        )


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
    opts = check(ExecutorOptions(**values), src)
    refuse_inapplicable(
        [k for k in values if k != "kind"], opts.kind, lambda key: f"executor.{key}", "kind = {kind!r}", f"{src}: "
    )
    return opts


def sbatch_parameters(flags: tuple[str, ...]) -> dict[str, Any]:
    """Extra sbatch flags as submitit's ``slurm_additional_parameters`` (``--a-b=c`` -> {"a_b": "c"})."""
    out: dict[str, Any] = {}
    for flag in flags:
        key, sep, value = flag[2:].partition("=")
        out[key.replace("-", "_")] = value if sep else True
    return out
