"""What every backend reports, and the interface a backend implements.

A backend runs a matrix's unfinished cells somewhere (worker processes here, jobs on a cluster)
and tells what became of each: ``CellOutcome``s in a ``MatrixRun``. Each cell is the same hashed,
checkpointed, locked folder wherever it runs, so outcomes and ``matrix status`` read from disk
mean the same for every backend. This module imports no backend.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from harness.engine.cell import CellSpec
from harness.engine.integrity import read_json
from harness.run.matrix import Matrix
from harness.settings import results_dir, writable_folder


@dataclass
class CellOutcome:
    """What happened to one cell in one run of a matrix."""

    label: str
    spec: CellSpec
    run_dir: Path
    status: str  # finished (ran here) | failed | skipped (result already there, or made by another process)
    detail: str = ""  # one line: why skipped, or the failure's type and message
    seconds: float = 0.0
    user_error: bool = False  # failed with a WsbenchError (bad input, missing data), not a bug or a crash


@dataclass
class MatrixRun:
    """The outcome of running a matrix: every cell with its status and run dir."""

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
            lines.append(f"  FAILED {cell_name(o.label, o.spec)}: {o.detail} (see {o.run_dir / 'failed.json'})")
        return "\n".join(lines)


@dataclass
class CellStatus:
    """Where one cell stands on disk."""

    label: str
    spec: CellSpec
    run_dir: Path
    state: str  # finished | damaged | failed | running | partial | pending
    detail: str = ""


def cell_name(label: str, spec: CellSpec) -> str:
    """How logs, summaries and status tables name a cell: space/label/protocol/seed."""
    return f"{spec.space}/{label}/{spec.protocol.name}/seed{spec.seed}"


def failure_line(run_dir: Path) -> str:
    """'Type: message' of a failed cell's failed.json (or why that file cannot be read)."""
    try:
        info = read_json(run_dir / "failed.json")
        return f"{info['type']}: {info['message']}".splitlines()[0]
    except (ValueError, OSError, KeyError, TypeError) as e:
        return f"failed (failed.json unreadable: {e})"


def failed_by_user_error(run_dir: Path) -> bool:
    """Whether a failed cell's failed.json records a user error (bad input, missing data)."""
    try:
        return read_json(run_dir / "failed.json").get("user_error") is True
    except (ValueError, OSError, AttributeError):
        return False


class Backend(abc.ABC):
    """Runs a matrix's unfinished cells somewhere: ``submit``, ``wait``, then ``outcomes``."""

    #: The ``ExecutorOptions.kind`` values this backend serves.
    kinds: ClassVar[tuple[str, ...]] = ()

    def __init__(self, log: Callable[[str], None] = print) -> None:
        self.log = log

    @abc.abstractmethod
    def submit(self, matrix: Matrix, root: Path) -> None:
        """Start every unfinished cell of ``matrix`` under ``root``."""

    @abc.abstractmethod
    def wait(self) -> None:
        """Block until every cell that ``submit`` started has ended."""

    @abc.abstractmethod
    def outcomes(self) -> list[CellOutcome]:
        """What became of each cell of the matrix, in the matrix's order (after ``wait``)."""

    @staticmethod
    def status_extras(root: Path, matrix: Matrix) -> dict[str, tuple[Any, str]]:
        """Cell hash -> (this backend's record of the cell, its state), for ``matrix status``; none by default."""
        return {}

    def run(self, matrix: Matrix, root: Path | None = None, wait: bool = True) -> MatrixRun:
        """Submit, and unless ``wait`` is off, wait and read every cell's outcome."""
        t0 = time.perf_counter()
        root = writable_folder(Path(root) if root is not None else results_dir(), "results folder")
        self.submit(matrix, root)
        run = MatrixRun(matrix, root)
        if not wait:
            self.log("not waiting: follow with `wsbench matrix status`")
            return run
        self.wait()
        run.outcomes = self.outcomes()
        run.seconds = time.perf_counter() - t0
        return run
