"""Per-architecture scores written by any estimator, read and checked: the input of ``wsbench score``.

A score file holds one score per architecture, from anything that ranks architectures: a supernet
of another code base, a zero-cost proxy, a learning-curve predictor. Two forms:

- **CSV** with a header: an architecture column (``arch``, ``architecture``, ``arch_str``, ``key``
  or ``genotype``), a score column (``score``, or the one other column), and optionally ``epoch``
  (snapshots of one run) and ``seed`` (runs).
- **JSON**: ``{"arch key": score, ...}``, or an object with ``scores`` (that mapping, or a list of
  ``{"arch", "score"[, "epoch", "seed"]}`` records) and optional metadata: ``label``,
  ``higher_is_better``, ``key_format``, ``space``, ``note`` and ``cost`` (``device_hours``,
  ``device``, ``what``).

Keys may be in any form the space decodes (``Space.key_formats``: for NB201 the official string,
an xautodl genotype list, NASLib's 6-tuple, ...). Nothing is dropped silently: an undecodable key
is a one-line error naming the first offender and the count; two keys naming one architecture are
an error unless ``duplicates`` says how to merge them, and then the report says what was merged.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.api.errors import WsbenchError

ARCH_COLUMNS = ("arch", "architecture", "arch_str", "arch_id", "key", "genotype")
#: Column names that usually mean lower is better: such a file must declare its direction.
_LOWER_NAMES = re.compile(r"loss|err|perplex|ppl|latency|rank", re.I)
DUPLICATE_RULES = ("error", "mean", "first")


@dataclass
class ScoreFile:
    """One estimator's scores, decoded to the space's arch ids, oriented so that higher is better."""

    path: Path
    sha256: str
    label: str
    higher_is_better: bool
    key_format: str
    rows: pd.DataFrame  # seed, epoch, arch (the space's arch id), key (as written), score (oriented)
    cost: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    merged: list[str] = field(default_factory=list)  # what duplicate merging did, for the report

    @property
    def seeds(self) -> list[int]:
        """The runs the file holds."""
        return sorted(int(s) for s in self.rows["seed"].unique())


def read_score_file(
    path: str | Path,
    space: Any,
    *,
    direction: str | None = None,
    key_format: str | None = None,
    label: str | None = None,
    duplicates: str = "error",
) -> ScoreFile:
    """Read, decode and check one score file (CSV or JSON) for ``space``; options override the file's metadata."""
    from harness.fileio import sha256_file

    p = Path(path)
    if not p.is_file():
        raise WsbenchError(f"score file {p} does not exist; give the path of a CSV or JSON score file")
    if duplicates not in DUPLICATE_RULES:
        from harness.api.errors import unknown

        raise unknown("duplicates rule", duplicates, DUPLICATE_RULES)
    raw, meta = _read_json(p) if p.suffix.lower() == ".json" else _read_csv(p)
    if meta.get("space") not in (None, space.name):
        raise WsbenchError(f"{p} holds scores for space {meta['space']!r}, not {space.name!r}; pass --space {meta['space']}")
    hib = _direction(p, direction, meta)
    fmt = key_format or str(meta.get("key_format") or "auto")
    raw = raw.assign(arch=_decode(p, raw["key"].tolist(), space, fmt))
    raw["score"] = raw["score"] if hib else -raw["score"]
    rows, merged = _merge_duplicates(p, raw, duplicates)
    return ScoreFile(
        path=p,
        sha256=sha256_file(p),
        label=label or str(meta.get("label") or p.stem),
        higher_is_better=hib,
        key_format=fmt,
        rows=rows,
        cost=dict(meta.get("cost") or {}),
        note=str(meta.get("note") or ""),
        merged=merged,
    )


# --------------------------------------------------------------------------- reading


def _frame(p: Path, keys: list[Any], scores: list[Any], epochs: list[Any], seeds: list[Any]) -> pd.DataFrame:
    """The common long form, with numeric checks that name the first bad row."""
    if not keys:
        raise WsbenchError(f"{p} holds no scores; write one row per architecture")
    frame = pd.DataFrame({"key": keys, "score": scores, "epoch": epochs, "seed": seeds})
    for col in ("score", "epoch", "seed"):
        values = pd.to_numeric(frame[col], errors="coerce")
        bad = values.isna() | ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise WsbenchError(
                f"{p}: {col} of architecture {str(keys[i])[:60]!r} is {frame[col].iloc[i]!r}, not a finite number "
                f"({int(bad.sum())} such rows); fix or drop those rows"
            )
        frame[col] = values.astype(float if col == "score" else int)
    return frame


def _read_csv(p: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    try:
        table = pd.read_csv(p, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise WsbenchError(
            f"{p} is not a readable CSV file ({type(exc).__name__}); write a header row and one row per architecture"
        ) from None
    cols = {c.strip().lower(): c for c in table.columns}
    arch_col = next((cols[c] for c in ARCH_COLUMNS if c in cols), None)
    if arch_col is None:
        raise WsbenchError(f"{p} has no architecture column; name one of {', '.join(ARCH_COLUMNS)}")
    rest = [c for c in table.columns if c not in (arch_col, cols.get("epoch"), cols.get("seed"))]
    score_col = cols.get("score") or (rest[0] if len(rest) == 1 else None)
    if score_col is None:
        raise WsbenchError(f"{p} has columns {list(table.columns)}: name the score column 'score'")
    n = len(table)
    epochs = table[cols["epoch"]].tolist() if "epoch" in cols else [1] * n
    seeds = table[cols["seed"]].tolist() if "seed" in cols else [0] * n
    return _frame(p, table[arch_col].tolist(), table[score_col].tolist(), epochs, seeds), {"score_column": score_col}


def _read_json(p: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    try:
        obj = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WsbenchError(f'{p} is not valid JSON ({exc}); write {{"arch key": score, ...}} or a scores object') from None
    meta: dict[str, Any] = {}
    if isinstance(obj, dict) and "scores" in obj:
        meta = {k: v for k, v in obj.items() if k != "scores"}
        obj = obj["scores"]
    if isinstance(obj, dict):
        keys = list(obj)
        return _frame(p, keys, [obj[k] for k in keys], [1] * len(keys), [0] * len(keys)), meta
    if isinstance(obj, list) and all(isinstance(r, dict) and "arch" in r and "score" in r for r in obj):
        return (
            _frame(
                p,
                [r["arch"] if isinstance(r["arch"], str) else str(r["arch"]) for r in obj],
                [r["score"] for r in obj],
                [r.get("epoch", 1) for r in obj],
                [r.get("seed", 0) for r in obj],
            ),
            meta,
        )
    raise WsbenchError(f'{p}: scores must be an object {{arch: score}} or a list of {{"arch", "score"}} records')


def _direction(p: Path, direction: str | None, meta: dict[str, Any]) -> bool:
    """Whether higher scores mean better architectures: the option, else the file's declaration."""
    if direction is not None:
        if direction not in ("higher", "lower"):
            raise WsbenchError(f"direction must be 'higher' or 'lower' (is a higher score better?), got {direction!r}")
        return direction == "higher"
    if "higher_is_better" in meta:
        if not isinstance(meta["higher_is_better"], bool):
            raise WsbenchError(f"{p}: higher_is_better must be true or false, got {meta['higher_is_better']!r}")
        return bool(meta["higher_is_better"])
    column = str(meta.get("score_column", ""))
    if _LOWER_NAMES.search(column):
        raise WsbenchError(
            f"{p}: score column {column!r} sounds like lower is better; declare it with --direction lower (or higher)"
        )
    return True


def _decode(p: Path, keys: list[Any], space: Any, key_format: str) -> list[str]:
    """The space's arch id of every key; one error naming the first undecodable key and the count."""
    ids: list[str] = []
    failed: list[tuple[Any, str]] = []
    cache: dict[Any, str] = {}
    for key in keys:
        if key not in cache:
            try:
                cache[key] = space.arch_id(space.decode_key(key, key_format))
            except WsbenchError as exc:
                failed.append((key, str(exc)))
                cache[key] = ""
        ids.append(cache[key])
    if failed:
        key, why = failed[0]
        raise WsbenchError(
            f"{p}: {len(failed)} of {len(set(keys))} keys are not {space.name} architectures "
            f"(key format {key_format}); the first, {str(key)[:80]!r}: {why}"
        )
    return ids


def _merge_duplicates(p: Path, rows: pd.DataFrame, rule: str) -> tuple[pd.DataFrame, list[str]]:
    """Rows with one score per (seed, epoch, arch); two keys for one architecture follow ``rule``."""
    keys = ["seed", "epoch", "arch"]
    dup = rows.duplicated(keys, keep=False)
    if not dup.any():
        return rows.sort_values(keys, kind="stable").reset_index(drop=True), []
    clash = rows[dup].groupby(keys, sort=True)
    n_arch = clash.ngroups
    first = next(iter(clash))[1]
    example = " and ".join(repr(str(k)[:60]) for k in first["key"].tolist()[:2])
    if rule == "error":
        raise WsbenchError(
            f"{p}: {n_arch} architectures are scored more than once (first: {example} are both {first['arch'].iloc[0]!r}); "
            "remove the duplicates, or pass --duplicates mean (average them) or --duplicates first"
        )
    agg = "mean" if rule == "mean" else "first"
    merged = rows.groupby(keys, sort=True, as_index=False).agg(key=("key", "first"), score=("score", agg))
    spread = clash["score"].agg(lambda s: float(s.max() - s.min()))
    note = (
        f"{p.name}: {n_arch} architectures were scored more than once ({int(dup.sum())} rows, e.g. {example}); "
        f"kept the {'mean' if rule == 'mean' else 'first'} score; the scores of one architecture differed by up to "
        f"{float(spread.max()):.4g}"
    )
    return merged[["key", "score", "epoch", "seed", "arch"]], [note]
