"""A finished or interrupted cell is reused only for the data it was trained on.

The cell hash names what a cell *is* (config, plugins, ground truths) and stays as it was, so
existing cells and baselines keep their folders. The data a task reads (``Task.data_identity``:
checksums of its files, cached) is recorded beside it, in ``config.json`` under ``data_identity``,
and checked whenever a cell would be reused: a finished one returned, an interrupted one resumed.
Another identity is refused with one line naming both, what changed and the fix; with
``--redo-stale-data`` the old outputs move into ``<cell>/.stale-<old data>/`` (nothing is deleted;
a folder inside the cell is never read as a cell) and the cell trains again.

Cells written before identities were recorded: a finished one **adopts** the current identity at
its first reuse, in ``data_identity.json`` beside its sealed files (config.json is in the sealed
manifest and stays untouched), marked adopted, since what it trained on was never checked; from
then on a change of data is caught. An interrupted one resumes as before, and the config.json its
resumed run writes records the current identity.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.api.errors import CorruptDataError, DataMissingError, WsbenchError
from harness.api.task import DataIdentity
from harness.catalog import SPACES, task_of
from harness.engine.cell import CellSpec
from harness.engine.integrity import OUTPUTS, read_json
from harness.engine.run_folder import CHECKPOINT, CONFIG, RESULT, RunFolder
from harness.fileio import atomic_write_json

#: The key of ``config.json`` that records the cell's data identity.
IDENTITY_KEY = "data_identity"
#: Where a cell from before records the identity it adopted at its first reuse.
ADOPTED_FILE = "data_identity.json"
#: The flags that retrain a cell whose data changed (the old outputs are kept aside).
REDO_FLAG = "--redo-stale-data"
#: What a stale cell's outputs are: everything that came from training on the old data.
STALE_NAMES = (RESULT, *OUTPUTS, CHECKPOINT, ADOPTED_FILE)


def current_identity(spec: CellSpec) -> DataIdentity:
    """The identity of the data ``spec``'s task reads now (its files' checksums, cached: cheap)."""
    return task_of(SPACES.get(spec.space), spec.protocol.task).data_identity(spec.protocol)


def recorded_identity(run_dir: Path, config: dict[str, Any] | None = None) -> tuple[DataIdentity | None, bool]:
    """(the identity the cell recorded or adopted, whether adopted); (None, False) for a cell from before."""
    if config is None:
        try:
            read = read_json(run_dir / CONFIG)
        except (OSError, ValueError):
            read = None
        config = read if isinstance(read, dict) else {}
    identity = DataIdentity.from_dict(config.get(IDENTITY_KEY))
    if identity is not None:
        return identity, False
    try:
        adopted = read_json(run_dir / ADOPTED_FILE)
    except (OSError, ValueError):
        return None, False
    identity = DataIdentity.from_dict(adopted.get("identity") if isinstance(adopted, dict) else None)
    return identity, identity is not None


def check_reuse(spec: CellSpec, run_dir: Path, finished: bool, redo: bool = False, log: Callable[[str], None] = print) -> bool:
    """Whether the finished (or interrupted) cell in ``run_dir`` may be reused for the data ``spec`` reads now.

    True: reuse it (the same data; or a cell from before, which adopts the current identity). False:
    its data changed and, with ``redo``, its outputs were moved aside: train it afresh. A change
    without ``redo`` is a one-line ``WsbenchError`` and nothing is written.
    """
    try:
        current = current_identity(spec)
    except (DataMissingError, CorruptDataError) as exc:
        if not finished:
            raise  # resuming needs the data anyway
        # Returning a finished cell reads no data: where none can be read, there is nothing to mix it with.
        log(f"{run_dir.name}: the data cannot be read to compare with the cell's ({exc}); returning the finished cell")
        return True
    old, adopted = recorded_identity(run_dir)
    if old is None:
        if finished:
            adopt(run_dir, current)
            log(f"{run_dir.name}: written before data identities; it adopts {current.short} ({current.source})")
        return True
    if current.same_data(old):
        return True
    if not redo:
        raise WsbenchError(stale_line(run_dir, old, current, adopted))
    why = f"trained on {old.short} ({old.source}); rerun on {current.short} ({current.source}): {current.changes_from(old)}"
    dest = RunFolder(run_dir).set_aside(why, STALE_NAMES, prefix=stale_folder(old))
    log(f"{run_dir.name}: trained on other data ({old.short}); its outputs moved to {dest.name}, training on {current.short}")
    return False


def stale_folder(old: DataIdentity) -> str:
    """The folder inside a cell that keeps its outputs trained on ``old``."""
    return f".stale-{old.checksum[:12]}"


def stale_line(run_dir: Path, old: DataIdentity, current: DataIdentity, adopted: bool = False) -> str:
    """The one-line refusal: the cell, both identities, what changed and the two fixes."""
    how = " (adopted at its first reuse)" if adopted else ""
    return (
        f"cell {run_dir} was trained on other data: {old.short}{how} from {old.source}, while this run reads "
        f"{current.short} from {current.source}: {current.changes_from(old)}; nothing was changed: point "
        f"WSBENCH_RESULTS at a new results folder, or rerun with {REDO_FLAG} to move the old outputs into "
        f"{run_dir.name}/{stale_folder(old)}/ and train the cell again"
    )


def adopt(run_dir: Path, identity: DataIdentity) -> None:
    """Record ``identity`` for a finished cell from before (beside its sealed files, marked adopted)."""
    atomic_write_json(
        run_dir / ADOPTED_FILE,
        {
            "adopted": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "note": "the cell was written before data identities; this is the data present at its first reuse, not checked",
            "identity": identity.to_dict(),
        },
    )
