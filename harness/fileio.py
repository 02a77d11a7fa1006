"""Checksums and atomic writes: no result or cache file is ever left half-written."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from harness.api.errors import CorruptDataError


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def read_sha256sums(path: str | Path) -> dict[str, str]:
    """Parse a ``sha256sum`` listing into {relative path without leading './': digest}."""
    sums: dict[str, str] = {}
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise CorruptDataError(f"checksum file {path} is not text; regenerate it with sha256sum") from None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        digest, _, name = line.partition("  ")
        if len(digest) != 64 or not name:
            raise CorruptDataError(f"malformed checksum line in {path}: {line!r}; regenerate it with sha256sum")
        sums[name.strip().removeprefix("./").lstrip("*")] = digest.lower()
    return sums


def verify_sha256(path: str | Path, expected: str, what: str) -> None:
    """Raise a one-line error when the file's SHA-256 differs from ``expected``."""
    actual = sha256_file(path)
    if actual != expected.lower():
        raise CorruptDataError(
            f"{what} at {path} fails its checksum (sha256 {actual[:12]}…, expected {expected[:12]}…); "
            "the file is corrupt or truncated: download or copy it again"
        )


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over the target."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Atomically write UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Atomically write JSON (sorted keys, indented) so files diff well."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
