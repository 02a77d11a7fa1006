"""One worker process of the local pool: the cells it is handed, each under its lock.

Started by ``local`` through ``spawning`` (``bootstrap`` watches the parent from the first
instruction); ``init_worker`` sets its torch threads, device and log queue; ``attempt`` runs one
cell if no other process holds it, and leaves ``attempts.jsonl`` (each start) and ``failed.json``
(a failure) in the cell's run dir.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.api.errors import WsbenchError
from harness.engine.cell import CellSpec
from harness.engine.integrity import is_finished
from harness.fileio import atomic_write_json, atomic_write_text
from harness.run.backends.base import cell_name
from harness.run.backends.bootstrap import watch_parent
from harness.run.backends.locks import cell_lock
from harness.settings import DATA_ENV

Runner = Callable[..., Any]

_WORKER: dict[str, Any] = {}


def init_worker(slots: Any, threads: int, data: str | None, messages: Any, parent: int) -> None:
    """Set this worker up: torch threads, data folder, its GPU slot, the log queue.

    ``parent``: the pool's process. ``bootstrap`` watches it already; the call here is the safety net
    where a worker was started some other way (it checks at once, so a parent that died during the
    imports is noticed too).
    """
    import torch

    torch.set_num_threads(threads)
    if data is not None:
        os.environ[DATA_ENV] = data
    _WORKER["device"] = slots.get()  # this process's GPU ("cuda:i") or None on a CPU
    _WORKER["messages"] = messages
    watch_parent(os.getppid())


def attempt(label: str, spec: CellSpec, root: Path, runner: Runner | None) -> tuple[str, str, float, bool]:
    """Run one cell if its lock is free: ('finished'|'failed'|'skipped'|'locked', detail, seconds, user error).

    A user error is a ``WsbenchError`` (bad input, missing data): the run reports it as such when
    every cell meets the same one.
    """
    run_dir = spec.run_dir(root)
    name = cell_name(label, spec)
    messages = _WORKER.get("messages")

    def log(msg: str) -> None:
        if messages is not None:
            messages.put(f"[{name}] {msg}")

    with cell_lock(run_dir, blocking=False) as got:
        if not got:
            return "locked", "", 0.0, False
        if is_finished(run_dir):  # another process finished it meanwhile
            return "skipped", "finished by another process", 0.0, False
        device = _WORKER.get("device")
        if device is not None and spec.device == "cuda":
            spec = dataclasses.replace(spec, device=device)  # same cell hash: it holds the device type only
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "failed.json").unlink(missing_ok=True)  # a rerun retries a failed cell
        _record_attempt(run_dir)
        t0 = time.perf_counter()
        try:
            (runner or _engine_run_cell())(spec, root=root, log=log)
        except Exception as e:  # noqa: BLE001 - any failure of one cell must not stop the matrix
            reason = f"{type(e).__name__}: {e}".splitlines()[0]
            _record_failure(run_dir, label, spec, e)
            log(f"FAILED: {reason}")
            return "failed", reason, time.perf_counter() - t0, isinstance(e, WsbenchError)
        return "finished", "", time.perf_counter() - t0, False


def _engine_run_cell() -> Runner:
    """The engine's ``run_cell``, imported in the worker only: a parent never loads the training code."""
    from harness.engine.loop import run_cell

    return run_cell


def _record_attempt(run_dir: Path) -> None:
    """Append this start (pid, host, time, whether it resumes) to the cell's ``attempts.jsonl``."""
    path = run_dir / "attempts.jsonl"
    old = path.read_text() if path.exists() else ""
    line = json.dumps(
        {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(), "resume": (run_dir / "checkpoint.pt").exists()}
    )
    atomic_write_text(path, old + line + "\n")  # under the cell's lock: no other writer


def _record_failure(run_dir: Path, label: str, spec: CellSpec, e: Exception) -> None:
    """``failed.json``: the exception with its traceback, and where it happened (called in ``except``)."""
    atomic_write_json(
        run_dir / "failed.json",
        {
            "label": label,
            "cell_hash": spec.cell_hash(),
            "type": type(e).__name__,
            "message": str(e),
            "user_error": isinstance(e, WsbenchError),
            "traceback": traceback.format_exc(),
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    )
