"""The first code a worker of the local pool runs: watch the parent, then become a multiprocessing child.

``spawning`` starts each worker as ``python -c "...bootstrap.main(parent, pipe, tracker)"`` in place
of multiprocessing's own ``spawn_main``. ``spawn_main`` first imports the parent's main module and
the modules of the pickled task (torch, the engine: seconds), and only then would a pool
initializer start watching; a parent killed in those seconds left workers that never noticed,
trained on and held cell locks. Here the watch is on before any of that: this module imports only
the standard library's lightest parts, and the packages above it (``harness``, ``harness.run``,
``harness.run.backends``) hold docstrings and constants only; keep it so.

Two watches. On Linux the kernel kills the worker the moment its parent dies (``PR_SET_PDEATHSIG``:
no polling, and no wait while an import holds the GIL). Everywhere, a thread compares ``getppid()``
with the parent's pid every ``PARENT_POLL_S`` (a parent that died before the watch began is caught
by the first comparison). Exiting at any moment is safe: every file a cell writes is replaced
atomically and the epoch checkpoint is the resume point, exactly as when the worker itself is killed.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

#: How often the watch thread checks that the parent is alive (seconds).
PARENT_POLL_S = 0.1
#: ``prctl`` option: the signal the kernel sends this process when its parent exits (<linux/prctl.h>).
_PR_SET_PDEATHSIG = 1
#: Exit status of a worker that found its parent gone.
ORPHANED = 3

_WATCHED: set[int] = set()


def main(parent: int, pipe_handle: int, tracker_fd: int) -> None:
    """Watch ``parent``, then run multiprocessing's side of a spawned child (which exits the process)."""
    watch_parent(parent)
    from multiprocessing.spawn import spawn_main

    spawn_main(pipe_handle, tracker_fd=tracker_fd)


def watch_parent(parent: int) -> None:
    """End this process as soon as process ``parent`` (its parent) is gone; once per process."""
    if parent in _WATCHED:
        return
    _WATCHED.add(parent)
    _die_with_parent()
    if os.getppid() != parent:  # died (or never was the parent) before the kernel's watch was set
        os._exit(ORPHANED)
    threading.Thread(target=_poll, args=(parent,), name="wsbench-parent-watch", daemon=True).start()


def _die_with_parent() -> None:
    """Ask the Linux kernel for SIGKILL when the parent exits; elsewhere the poll thread alone watches.

    The kernel sends it when the *thread* that started this process exits: the pool starts its
    workers from the thread that submits cells, which outlives them (the pool is shut down in it).
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # no prctl (an unusual libc): the poll thread still watches
        pass


def _poll(parent: int) -> None:
    while True:
        time.sleep(PARENT_POLL_S)
        if os.getppid() != parent:
            os._exit(ORPHANED)
