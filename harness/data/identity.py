"""Checksums of data files for a task's ``data_identity``, cached so that a big pack is hashed once.

A file's SHA-256 is kept under ``$WSBENCH_CACHE/checksums/`` keyed by its resolved path, size and
modification time (ns): a file that changes in any of these is hashed again (a ``touch`` only costs
that re-hash: the checksum comes out the same). The blind spot, as for ``make``: a rewrite that
keeps the size and restores the modification time is not noticed. The cache is a convenience:
when it cannot be written, checksums are computed every time.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness.api.errors import WsbenchError
from harness.fileio import atomic_write_json, sha256_file
from harness.settings import cache_dir

#: Bumped when what a cached value means changes (old entries are then simply not found).
_SCHEME = 1
#: In-process memo: (kind, key) -> value, so a run that asks twice reads no cache file.
_MEMO: dict[tuple[str, str], Any] = {}


def file_sha256(path: Path) -> str:
    """SHA-256 of a data file's bytes, cached by (resolved path, size, mtime_ns)."""
    return stat_cached(path, "sha256", sha256_file)


def stat_cached(path: Path, kind: str, compute: Callable[[Path], Any]) -> Any:
    """``compute(path)`` (a JSON value), cached by ``kind`` and the file's (resolved path, size, mtime_ns)."""
    resolved = Path(path).resolve()
    before = resolved.stat()
    key = f"{resolved}\0{before.st_size}\0{before.st_mtime_ns}"
    return _cached(kind, key, lambda: compute(resolved), lambda: _same_stat(resolved, before))


def listing_sha256(folder: Path, names: Sequence[str]) -> str:
    """SHA-256 over the relative path and size of every file in ``folder/<name>/`` for each of ``names``.

    For image folders too big to read on every run (ImageNet: 1.28 M files): a file added, removed or
    renamed changes it, and so does a new size seen then; the bytes of the images are not read. The
    names are listed every time (cheap); the sizes (a stat per file) are cached by the names and the
    folders' modification times, so an in-place rewrite of an image under its old name goes unnoticed.
    """
    resolved = Path(folder).resolve()
    listed = {}
    for name in names:
        with os.scandir(resolved / name) as entries:
            listed[name] = sorted(e.name for e in entries if e.is_file())
    names_digest = hashlib.sha256(json.dumps(listed, sort_keys=True).encode()).hexdigest()
    stamps = "\0".join(f"{n}:{(resolved / n).stat().st_mtime_ns}" for n in names)
    key = f"{resolved}\0{names_digest}\0{stamps}"

    def compute() -> str:
        h = hashlib.sha256()
        for name in names:
            for file in listed[name]:
                h.update(f"{name}/{file}\t{(resolved / name / file).stat().st_size}\n".encode())
        return h.hexdigest()

    return str(_cached("listing", key, compute, lambda: True))


def _cached(kind: str, key: str, compute: Callable[[], Any], still_valid: Callable[[], bool]) -> Any:
    memo_key = (kind, key)
    if memo_key in _MEMO:
        return _MEMO[memo_key]
    entry = _entry_path(kind, key)
    if entry is not None:
        try:
            stored = json.loads(entry.read_text())
            if stored.get("key") == key and stored.get("kind") == kind and stored.get("scheme") == _SCHEME:
                _MEMO[memo_key] = stored["value"]
                return stored["value"]
        except (OSError, ValueError, AttributeError, KeyError):
            pass  # absent or damaged: compute it again
    value = compute()
    # A file that changed while it was read would cache a checksum of neither version.
    if still_valid():
        _MEMO[memo_key] = value
        if entry is not None:
            try:
                atomic_write_json(entry, {"scheme": _SCHEME, "kind": kind, "key": key, "value": value})
            except OSError:
                pass  # a read-only cache: correct, only slower
    return value


def _entry_path(kind: str, key: str) -> Path | None:
    try:
        folder = cache_dir() / "checksums"
    except WsbenchError:
        return None
    return folder / f"{kind}-{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"


def _same_stat(path: Path, before: os.stat_result) -> bool:
    after = path.stat()
    return (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def clear_memo() -> None:
    """Forget the in-process memo (tests; the files under the cache folder stay)."""
    _MEMO.clear()
