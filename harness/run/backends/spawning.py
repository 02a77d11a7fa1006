"""The local pool's start method: ``spawn``, with workers that watch their parent from their first instruction.

multiprocessing's ``spawn`` starts a child as ``python -c "from multiprocessing.spawn import
spawn_main; spawn_main(...)"``. ``WatchedSpawnContext`` starts it as ``python -c "...
bootstrap.main(parent, ...)"`` instead: ``bootstrap`` sets up the watch on the parent, then calls
that same ``spawn_main``, so the child is otherwise the standard library's. The one method that
differs, ``_Popen._launch``, is the standard library's ``popen_spawn_posix.Popen._launch`` with
that command line (Python 3.8 to 3.13 launch a spawned child alike).
"""

from __future__ import annotations

import io
import os
from multiprocessing import popen_spawn_posix, reduction, spawn, util
from multiprocessing.context import SpawnContext, SpawnProcess, set_spawning_popen
from pathlib import Path
from typing import Any

#: The folder that holds the ``harness`` package the parent runs: the child imports ``bootstrap``
#: from it before multiprocessing gives it the parent's ``sys.path``.
_ROOT = str(Path(__file__).resolve().parents[3])


def command_line(tracker_fd: int, pipe_handle: int) -> list[str]:
    """multiprocessing's command line for a spawned child, with ``bootstrap.main`` in front of ``spawn_main``."""
    cmd = spawn.get_command_line(tracker_fd=tracker_fd, pipe_handle=pipe_handle)
    if "-c" not in cmd:  # a frozen executable starts children its own way (the pool's initializer still watches)
        return cmd
    prog = (
        f"import sys; sys.path.insert(0, {_ROOT!r}); from harness.run.backends.bootstrap import main; "
        f"main({os.getpid()}, {pipe_handle}, {tracker_fd})"
    )
    i = cmd.index("-c")
    return [*cmd[: i + 1], prog, *cmd[i + 2 :]]


class _Popen(popen_spawn_posix.Popen):
    """A spawned child started through ``bootstrap``; everything else as ``popen_spawn_posix.Popen``."""

    _fds: list[int]  # the descriptors the child inherits (set by the base class)

    def _launch(self, process_obj: Any) -> None:
        from multiprocessing import resource_tracker

        tracker_fd = resource_tracker.getfd()
        assert tracker_fd is not None, "getfd starts the resource tracker first"
        self._fds.append(tracker_fd)
        prep_data = spawn.get_preparation_data(process_obj._name)
        fp = io.BytesIO()
        set_spawning_popen(self)
        try:
            reduction.dump(prep_data, fp)
            reduction.dump(process_obj, fp)
        finally:
            set_spawning_popen(None)
        parent_r = child_w = child_r = parent_w = None
        try:
            parent_r, child_w = os.pipe()
            child_r, parent_w = os.pipe()
            cmd = command_line(tracker_fd, child_r)
            self._fds.extend([child_r, child_w])
            self.pid = util.spawnv_passfds(os.fsencode(spawn.get_executable()), cmd, self._fds)
            self.sentinel = parent_r
            with open(parent_w, "wb", closefd=False) as f:
                f.write(fp.getbuffer())
        finally:
            fds_to_close = [fd for fd in (parent_r, parent_w) if fd is not None]
            self.finalizer = util.Finalize(self, _close, (fds_to_close,))
            for fd in (child_r, child_w):
                if fd is not None:
                    os.close(fd)


def _close(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)


class _Process(SpawnProcess):
    @staticmethod
    def _Popen(process_obj: Any) -> _Popen:
        return _Popen(process_obj)


class WatchedSpawnContext(SpawnContext):
    """The ``spawn`` context whose processes watch their parent before they import anything heavy."""

    Process = _Process
