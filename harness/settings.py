"""Where data, caches and results live. Paths come from environment settings, never hard-coded.

- ``WSBENCH_DATA``: a folder laid out like the project's shared data folder (``cifar10/``,
  ``nb201/``, ``nb101/``, ``SHA256SUMS``, ...) and/or holding the standard downloads users have
  (``cifar-10-batches-py/``, ``NAS-Bench-201-v1_1-096897.pth``, ...).
- ``WSBENCH_CACHE``: decoded arrays and downloads (default ``~/.cache/wsbench``).
- ``WSBENCH_RESULTS``: run outputs (default ``results/`` of the current directory).
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.api.errors import DataMissingError, WsbenchError

DATA_ENV = "WSBENCH_DATA"
CACHE_ENV = "WSBENCH_CACHE"
RESULTS_ENV = "WSBENCH_RESULTS"


def data_root(required: bool = True) -> Path | None:
    """The folder ``WSBENCH_DATA`` points at; raise a one-line error when unset or missing."""
    value = os.environ.get(DATA_ENV, "").strip()
    if not value:
        if required:
            raise DataMissingError(f"{DATA_ENV} is not set; point it at your data folder, e.g. export {DATA_ENV}=/path/to/data")
        return None
    path = Path(value).expanduser()
    # Set but wrong is always an error (never "no data, so download"): the user meant this folder.
    if not path.exists():
        raise DataMissingError(f"{DATA_ENV}={value} does not exist; point {DATA_ENV} at your data folder")
    if not path.is_dir():
        raise DataMissingError(f"{DATA_ENV}={value} is a file, not a folder; point {DATA_ENV} at your data folder")
    if not os.access(path, os.R_OK | os.X_OK):
        raise DataMissingError(f"{DATA_ENV}={value} is not readable by this user; fix its permissions")
    return path


def data_file(relative: str, what: str) -> Path:
    """A file under the data root, or a one-line error naming the setting and the expected path."""
    root = data_root(required=True)
    assert root is not None
    path = root / relative
    if not path.exists():
        raise DataMissingError(f"{what} not found at {path}; put it there or point {DATA_ENV} at a folder holding {relative}")
    return path


def cache_dir() -> Path:
    """Folder for decoded arrays and downloads; created on first use."""
    value = os.environ.get(CACHE_ENV, "").strip()
    path = writable_folder(
        Path(value).expanduser() if value else Path.home() / ".cache" / "wsbench", f"cache folder ({CACHE_ENV})"
    )
    path.mkdir(parents=True, exist_ok=True)
    return path


def results_dir() -> Path:
    """Folder that run outputs go under (``runs/``, ``reports/``)."""
    value = os.environ.get(RESULTS_ENV, "").strip()
    path = Path(value).expanduser() if value else Path("results")
    if path.exists() and not path.is_dir():
        where = f"{RESULTS_ENV}={value}" if value else f"{path.resolve()}"
        raise WsbenchError(f"{where} is a file, not a folder; point {RESULTS_ENV} at a results folder")
    return path


def writable_folder(path: Path, what: str) -> Path:
    """``path`` if it is (or can be created as) a folder this user can write; else a one-line error.

    Nothing is created here: the writes that follow create the folders they need.
    """
    if path.exists() and not path.is_dir():
        raise WsbenchError(f"{what} {path} is a file, not a folder; remove it or choose another folder")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise WsbenchError(f"{what} {path} cannot be created: {existing} is a file; choose another folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise WsbenchError(
            f"{what} {path} is not writable by this user; fix the permissions of {existing} or choose another folder"
        )
    return path


def data_checksum_status(path: Path, relative: str, what: str) -> str:
    """Check ``path`` against ``SHA256SUMS`` beside the data when it lists ``relative`` (a mismatch is a
    one-line error); returns how the file was checked, for provenance."""
    from harness.fileio import read_sha256sums, verify_sha256

    root = data_root(required=True)
    assert root is not None
    sums = root / "SHA256SUMS"
    if not sums.is_file():
        return "no SHA256SUMS beside the data"
    listed = read_sha256sums(sums)
    key = next((k for k in (relative, f"./{relative}") if k in listed), None)
    if key is None:
        return f"not listed in {sums}"
    verify_sha256(path, listed[key], what)
    return f"verified against {sums}"
