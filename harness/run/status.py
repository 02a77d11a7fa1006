"""Where each cell of a matrix stands, read from its run dir and lock without running anything.

The same for every backend: a cell's folder, lock and checkpoint say it all; cluster jobs add
their id, state and log file through ``jobs`` (a backend's ``status_extras``).
A finished or partial cell trained on other data than it would read now (its recorded data
identity, ``harness.engine.reuse``) says so in its detail, and the header counts such cells.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.api.errors import WsbenchError
from harness.api.task import DataIdentity
from harness.engine.cell import CellSpec
from harness.engine.integrity import DAMAGED, FINISHED, cell_state
from harness.engine.reuse import REDO_FLAG, current_identity, recorded_identity
from harness.run.backends.base import CellStatus, cell_name, failure_line
from harness.run.backends.locks import is_locked
from harness.run.matrix import Matrix
from harness.settings import results_dir

STATES = ("finished", "running", "partial", "damaged", "failed", "pending")


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
            rows.append(CellStatus(label, spec, d, "running", epoch_detail(d, spec)))
        elif state == DAMAGED:
            rows.append(CellStatus(label, spec, d, "damaged", f"{reason}; matrix run runs it again"))
        elif (d / "failed.json").exists():
            rows.append(CellStatus(label, spec, d, "failed", failure_line(d)))
        elif (d / "checkpoint.pt").exists():
            rows.append(CellStatus(label, spec, d, "partial", epoch_detail(d, spec)))
        else:
            rows.append(CellStatus(label, spec, d, "pending"))
    _flag_other_data(rows)
    return rows


#: How a status row says its cell was trained on other data (``format_status`` counts these).
OTHER_DATA = "trained on other data"


def _flag_other_data(rows: list[CellStatus]) -> None:
    """Say so in the detail of finished and partial cells trained on other data than they would read now;
    where the data cannot be read, of those whose protocol's cells were trained on different data."""
    unreadable: dict[str, list[tuple[CellStatus, DataIdentity]]] = {}
    for r in rows:
        if r.state not in ("finished", "partial"):
            continue
        old, _ = recorded_identity(r.run_dir)
        if old is None:  # written before data identities: nothing recorded to compare
            continue
        try:
            now = current_identity(r.spec)
        except WsbenchError:
            unreadable.setdefault(f"{r.spec.space}/{r.spec.protocol.name}", []).append((r, old))
            continue
        if not now.same_data(old):
            fix = f"retrain it with wsbench train {REDO_FLAG} (its outputs are kept aside) or use a new results folder"
            said = f"{old.short} from {old.source}, the data now is {now.short} from {now.source}: {now.changes_from(old)}"
            _add(r, f"{OTHER_DATA}: {said}; {fix}")
    for group, members in unreadable.items():
        seen = sorted({old.short for _, old in members})
        if len({(old.dataset, tuple(sorted(old.files.items()))) for _, old in members}) > 1:
            for r, old in members:
                _add(r, f"{OTHER_DATA} than other cells of {group}: {old.short} among {', '.join(seen)}")


def _add(row: CellStatus, text: str) -> None:
    row.detail = f"{row.detail}; {text}" if row.detail else text


def epoch_detail(run_dir: Path, spec: CellSpec) -> str:
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
    counts = {s: sum(r.state == s for r in rows) for s in STATES}
    other = sum(OTHER_DATA in r.detail for r in rows)
    flagged = f" ({other} {OTHER_DATA}, see below)" if other else ""
    lines = [f"matrix {matrix.name}: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n) + flagged]
    width = max(len(cell_name(r.label, r.spec)) for r in rows)
    for r in rows:
        job = (jobs or {}).get(r.spec.cell_hash())
        tail = ""
        if job is not None:
            record, state = job
            tail = f"  [job {record.job_id} {state}" + ("]" if r.state == "finished" else f"; log {record.stderr}]")
        lines.append(f"  {cell_name(r.label, r.spec):<{width}}  {r.state:<8}  {r.detail}{tail}".rstrip())
    return "\n".join(lines)
