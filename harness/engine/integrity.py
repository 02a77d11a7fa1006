"""When is a cell folder finished? One rule, used by the cell runner, the executor, status and the store.

``result.json`` is written last and lists every output file of the cell with its size and
SHA-256 (its ``files`` manifest), and carries the SHA-256 of its own content (``sha256``). A cell is **finished** only if ``result.json`` reads as JSON and
every listed file is there with that size and hash. Anything else with a ``result.json`` is
**damaged**: the runner moves its outputs aside into ``.damaged-<k>/`` (nothing is deleted) and
runs the cell again, and the report leaves it out with the reason. Cells written before the
manifest existed are checked by structure instead (JSON files parse, ``metrics.csv`` has rows).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import Any

from harness.fileio import atomic_write_text, sha256_file

FINISHED, DAMAGED, ABSENT = "finished", "damaged", "absent"
#: What a finished cell writes, besides result.json (``scores/`` holds one file per snapshot).
OUTPUTS = ("config.json", "train_log.csv", "metrics.csv", "supernet.pt", "scores")
METRIC_COLUMNS = ("epoch", "ground_truth", "score", "metric", "value")


def manifest(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Relative path -> {bytes, sha256} of every output file of a cell (for ``result.json``)."""
    files = {}
    for name in OUTPUTS:
        path = run_dir / name
        paths = sorted(path.glob("*.csv")) if path.is_dir() else [path] if path.is_file() else []
        for p in paths:
            files[p.relative_to(run_dir).as_posix()] = {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
    return files


def seal(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` with ``sha256``: the hash of its own content (so an edit inside result.json shows too)."""
    body = {k: v for k, v in result.items() if k != "sha256"}
    return {**body, "sha256": hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()}


def read_json(path: Path) -> Any:
    """A JSON file's content; ValueError (with the reason) when it is not readable JSON text."""
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"{path.name} is not text (binary garbage)") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path.name} is not valid JSON (truncated or edited: {e.msg} at byte {e.pos})") from None


def cell_state(run_dir: Path) -> tuple[str, str]:
    """(``finished`` | ``damaged`` | ``absent``, the reason when damaged) of a cell folder's outputs."""
    if not (run_dir / "result.json").exists():
        return ABSENT, ""
    try:
        result = read_json(run_dir / "result.json")
        if not isinstance(result, dict) or "cell_hash" not in result:
            raise ValueError("result.json is not a wsbench result (no cell_hash)")
        if "files" in result:
            if seal(result).get("sha256") != result.get("sha256"):
                raise ValueError("result.json differs from what was written (checksum mismatch)")
            _check_manifest(run_dir, result["files"])
        else:
            _check_structure(run_dir, result)
    except (ValueError, OSError) as e:
        return DAMAGED, str(e)
    return FINISHED, ""


def is_finished(run_dir: Path) -> bool:
    """Whether the cell in ``run_dir`` finished and its files are intact."""
    return cell_state(run_dir)[0] == FINISHED


def _check_manifest(run_dir: Path, files: Any) -> None:
    if not isinstance(files, dict) or "metrics.csv" not in files or "config.json" not in files:
        raise ValueError("result.json's file list is damaged")
    for name, expected in files.items():
        path = run_dir / name
        if not path.is_file():
            raise ValueError(f"{name} is missing")
        if path.stat().st_size != expected.get("bytes"):
            raise ValueError(f"{name} has {path.stat().st_size} bytes, {expected.get('bytes')} were written")
        if sha256_file(path) != expected.get("sha256"):
            raise ValueError(f"{name} differs from what was written (checksum mismatch)")


def _check_structure(run_dir: Path, result: dict[str, Any]) -> None:
    """Cells from before the manifest: the JSON files parse and metrics.csv is a table with rows."""
    import pandas as pd

    config = read_json(run_dir / "config.json") if (run_dir / "config.json").exists() else None
    if not isinstance(config, dict):
        raise ValueError("config.json is missing or not a JSON object")
    if config.get("cell_hash") != result["cell_hash"]:
        raise ValueError("config.json and result.json name different cells")
    if not (run_dir / "metrics.csv").is_file():
        raise ValueError("metrics.csv is missing")
    try:
        metrics = pd.read_csv(run_dir / "metrics.csv")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise ValueError(f"metrics.csv is unreadable ({type(e).__name__})") from None
    if metrics.empty or not set(METRIC_COLUMNS) <= set(metrics.columns):
        raise ValueError("metrics.csv has no metric rows")


def set_aside(run_dir: Path, reason: str, names: tuple[str, ...] = ("result.json", *OUTPUTS), prefix: str = ".damaged-") -> Path:
    """Move a damaged cell's outputs into ``run_dir/.damaged-<k>/`` with the reason; returns that folder.

    ``prefix``: another name for the folder (``.stale-<data>`` for a cell trained on other data: its
    first one is ``<prefix>`` alone when that ends in a word, then ``<prefix>-2``, ...). Folders inside
    the cell are never read as cells (the store looks exactly four levels below ``runs/``).
    """
    if prefix.endswith("-"):
        k = 1
        while (run_dir / f"{prefix}{k}").exists():
            k += 1
        dest = run_dir / f"{prefix}{k}"
    else:
        k, dest = 1, run_dir / prefix
        while dest.exists():
            k += 1
            dest = run_dir / f"{prefix}-{k}"
    dest.mkdir()
    for name in names:
        if (run_dir / name).exists():
            shutil.move(str(run_dir / name), str(dest / name))
    atomic_write_text(dest / "reason.txt", f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} {reason}\n")
    return dest
