"""Per-architecture scores written by any estimator, read and checked: the input of ``wsbench score``.

A score file holds one score per architecture, from anything that ranks architectures: a supernet
of another code base, a zero-cost proxy, a learning-curve predictor. Two forms:

- **CSV** with a header: an architecture column (``arch``, ``architecture``, ``arch_str``, ``key``
  or ``genotype``), a score column (``score``, or the one other column), and optionally ``epoch``
  (snapshots of one run) and ``seed`` (runs).
- **JSON**: ``{"arch key": score, ...}``, or an object with ``scores`` (that mapping, or a list of
  ``{"arch", "score"[, "epoch", "seed"]}`` records) and optional metadata: ``label``,
  ``higher_is_better``, ``key_format``, ``space``, ``note``, ``cost`` (``device_hours``,
  ``device``, ``what``), ``provenance`` (free form) and ``wsbench_scores`` (the format version, 1).

Keys may be in any form the space decodes (``Space.key_formats``: for NB201 the official string,
an xautodl genotype list, NASLib's 6-tuple, ...). Nothing is dropped or changed silently, and the
whole file is checked before anything is written: scores are JSON numbers (or numeric CSV text),
epochs and seeds integers in range, a JSON object never names one key twice, a CSV row has the
header's fields, a CSV header names each column once, metadata and cost fields are known and
typed, and a label is one short line (it becomes a table row and, slugged, a folder name). An
undecodable key is a one-line error naming the first offender, why it is not an architecture, and
the count; two keys naming one architecture are an error unless ``duplicates`` says how to merge
them, and then the report says what was merged.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.api.errors import WsbenchError, unknown

ARCH_COLUMNS = ("arch", "architecture", "arch_str", "arch_id", "key", "genotype")
#: Column names that usually mean lower is better: such a file must declare its direction.
_LOWER_NAMES = re.compile(r"loss|err|perplex|ppl|latency|rank", re.I)
DUPLICATE_RULES = ("error", "mean", "first")
#: What a JSON scores object may hold beside ``scores``. Anything else is most likely a typo
#: (``higher_is_beter``) whose silent neglect would flip or mislabel a ranking.
META_KEYS = ("label", "higher_is_better", "key_format", "space", "note", "cost", "provenance", "wsbench_scores")
RECORD_KEYS = ("arch", "score", "epoch", "seed")
COST_KEYS = ("device_hours", "device", "what")
#: The score-file format versions this reader knows (``wsbench_scores``).
FORMAT_VERSIONS = (1,)
#: A label names a table row, a legend entry and (slugged) a folder: one short line.
MAX_LABEL = 80
MAX_NOTE = 1000
#: Epochs and seeds an imported run may carry (a seed is a run's name here; int32 keeps it one everywhere).
EPOCH_RANGE = (0, 100_000)
SEED_RANGE = (0, 2**31 - 1)
#: How the report names its reference rows: an estimator labelled so would pass for one of them.
_RESERVED = re.compile(r"\(baseline\)\s*$|^ceiling \(")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: The text ``Space.decode_key`` gives when no automatic format read a key: the reason is elsewhere.
_GENERIC_DECODE = "in any automatic format"


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
        # A pipe (``<(cmd)``) exists but is read once, and its SHA-256 is recorded: a file is needed.
        kind = "is a folder, not a file" if p.is_dir() else "is a pipe or device, not a file" if p.exists() else "does not exist"
        raise WsbenchError(f"score file {p} {kind}; give the path of a CSV or JSON score file")
    if duplicates not in DUPLICATE_RULES:
        raise unknown("duplicates rule", duplicates, DUPLICATE_RULES)
    raw, meta = _read_json(p) if p.suffix.lower() == ".json" else _read_csv(p)
    if meta.get("space") not in (None, space.name):
        raise WsbenchError(f"{p} holds scores for space {meta['space']!r}, not {space.name!r}; pass --space {meta['space']}")
    name = _label(p, label, meta)
    hib = _direction(p, direction, meta)
    fmt = _key_format(p, space, key_format, meta)
    raw = raw.assign(arch=_decode(p, raw["key"].tolist(), space, fmt))
    raw["score"] = raw["score"] if hib else -raw["score"]
    rows, merged = _merge_duplicates(p, raw, duplicates)
    return ScoreFile(
        path=p,
        sha256=sha256_file(p),
        label=name,
        higher_is_better=hib,
        key_format=fmt,
        rows=rows,
        cost=dict(meta.get("cost") or {}),
        note=str(meta.get("note") or ""),
        merged=merged,
    )


# --------------------------------------------------------------------------- labels


def check_label(label: Any, where: str) -> str:
    """``label`` as display text, or a one-line error for what a table row or a legend cannot show."""
    if not isinstance(label, str):
        raise WsbenchError(f'{where} must be text, got {_shown(label)}; give a short name such as "my-supernet"')
    if not label.strip():
        raise WsbenchError(f'{where} is empty; give a short name such as "my-supernet"')
    if _CONTROL.search(label) or "|" in label:
        raise WsbenchError(
            f"{where} {label[:40]!r} holds a line break, a control character or '|', which break the report's tables; "
            "give one line without '|'"
        )
    if _RESERVED.search(label):
        raise WsbenchError(
            f"{where} {label!r} reads like one of the report's reference rows ('params (baseline)', 'ceiling (...)'); "
            "give another name"
        )
    if len(label) > MAX_LABEL:
        raise WsbenchError(
            f"{where} is {len(label)} characters long; give at most {MAX_LABEL} (it names a table row and a folder)"
        )
    return label


def slug(label: str) -> str:
    """The folder name of a label: letters, digits and ``._@+=-`` only, never ``.``/``..``, at most MAX_LABEL long.

    A label is display text; only this slug ever becomes a path component, so ``../x`` cannot leave the folder.
    """
    return re.sub(r"[^A-Za-z0-9._@+=-]+", "-", label).strip("-.")[:MAX_LABEL].rstrip("-.") or "scores"


def _label(p: Path, option: str | None, meta: dict[str, Any]) -> str:
    """The file's label: ``--label``, else the file's ``label``, else its name; checked whichever it is."""
    if option is not None:
        return check_label(option, "--label")
    if meta.get("label") is not None:
        return check_label(meta["label"], f"{p}: label")
    return check_label(p.stem, f"the label taken from the file name of {p} (pass --label)")


# --------------------------------------------------------------------------- reading


def _shown(value: Any) -> str:
    """A value as the user wrote it: JSON text for JSON values (never a Python repr), quoted text for strings."""
    if isinstance(value, str):
        return repr(value[:60])
    try:
        return json.dumps(value, allow_nan=True)[:60]
    except (TypeError, ValueError):
        return type(value).__name__


def _json_number(value: Any) -> float:
    """A JSON number as a float; NaN for anything else (a boolean is no number, though Python counts it an int)."""
    if type(value) not in (int, float):
        return math.nan
    try:
        return float(value)
    except OverflowError:  # an integer beyond a float's range
        return math.nan


def _numbers(
    p: Path, col: str, values: Sequence[Any], where: Callable[[int], str], *, text: bool, bounds: tuple[int, int] | None
) -> np.ndarray:
    """One checked numeric column: finite numbers, or integers within ``bounds`` (epochs, seeds)."""
    if text:  # CSV cells: numeric text, as pandas reads it
        parsed = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    else:
        parsed = np.fromiter((_json_number(v) for v in values), dtype=float, count=len(values))
    bad = ~np.isfinite(parsed)
    need = "a finite number"
    if bounds is not None:
        lo, hi = bounds
        with np.errstate(invalid="ignore"):
            bad |= (parsed != np.floor(parsed)) | (parsed < lo) | (parsed > hi)
        need = f"an integer in {lo}..{hi:,}"
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise WsbenchError(
            f"{p} {where(i)}: {col} is {_shown(values[i])}, not {need} ({int(bad.sum())} such rows); fix or drop those rows"
        )
    return parsed if bounds is None else parsed.astype(np.int64)


def _frame(
    p: Path, keys: list[Any], columns: Mapping[str, Sequence[Any]], where: Callable[[int], str], *, text: bool
) -> pd.DataFrame:
    """The common long form (key, score, epoch, seed), every value checked; errors name the first bad row."""
    if not keys:
        raise WsbenchError(f"{p} holds no scores; write one row per architecture")
    bounds = {"score": None, "epoch": EPOCH_RANGE, "seed": SEED_RANGE}
    out: dict[str, Any] = {"key": keys}
    for col in ("score", "epoch", "seed"):
        out[col] = _numbers(p, col, columns[col], where, text=text, bounds=bounds[col])
    return pd.DataFrame(out)


def _csv_rows(p: Path) -> tuple[list[str], list[list[str]], list[int]]:
    """Header, rows and their line numbers; every row must have the header's number of fields."""
    try:
        with open(p, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            rows, lines = [], []
            for row in reader:
                if not row:
                    continue  # a blank line holds no row (as pandas reads it)
                if len(row) != len(header or ()):
                    raise WsbenchError(_field_count(p, reader.line_num, len(row), len(header or ())))
                rows.append(row)
                lines.append(reader.line_num)
    except UnicodeDecodeError as exc:
        raise WsbenchError(f"{p} is not UTF-8 text (byte {exc.start}: {exc.reason}); save it as a UTF-8 CSV file") from None
    except csv.Error as exc:
        raise WsbenchError(f"{p} is not a readable CSV file ({exc}); write a header row and one row per architecture") from None
    if header is None:
        raise WsbenchError(f"{p} is empty; write a header row (e.g. arch,score) and one row per architecture")
    return header, rows, lines


def _field_count(p: Path, line: int, got: int, want: int) -> str:
    """Why a CSV row has the wrong number of fields, and the fix."""
    if got > want:
        return (
            f"{p} line {line} has {got} fields but the header has {want}: an extra field, or a key holding commas "
            'that is not quoted (quote genotypes and tuples: "[(...), ...]"); fix that line'
        )
    return (
        f"{p} line {line} has {got} field{'s' if got != 1 else ''} but the header has {want}: a value is missing; fix that line"
    )


def _csv_columns(p: Path, header: list[str]) -> tuple[int, int, int | None, int | None]:
    """Indices of the architecture, score, epoch and seed columns; each named once."""
    names = [h.strip().lower() for h in header]
    twice = next((n for n in names if names.count(n) > 1), None)
    if twice is not None:
        raise WsbenchError(f"{p}: column {twice!r} appears twice in the header; keep one (which one counts is not clear)")
    archs = [i for i, n in enumerate(names) if n in ARCH_COLUMNS]
    if not archs:
        hint = "; it looks like JSON: name the file .json" if header and header[0].lstrip().startswith(("{", "[")) else ""
        raise WsbenchError(f"{p} has no architecture column; name one of {', '.join(ARCH_COLUMNS)}{hint}")
    if len(archs) > 1:
        both = " and ".join(repr(header[i]) for i in archs)
        raise WsbenchError(f"{p} has two architecture columns ({both}); keep one, or rename the other")
    epoch = names.index("epoch") if "epoch" in names else None
    seed = names.index("seed") if "seed" in names else None
    rest = [i for i in range(len(names)) if i not in (archs[0], epoch, seed)]
    score = names.index("score") if "score" in names else (rest[0] if len(rest) == 1 else None)
    if score is None:
        raise WsbenchError(f"{p} has columns {', '.join(repr(h) for h in header)}: name the score column 'score'")
    return archs[0], score, epoch, seed


def _read_csv(p: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    header, rows, lines = _csv_rows(p)
    arch, score, epoch, seed = _csv_columns(p, header)
    n = len(rows)
    columns = {
        "score": [r[score] for r in rows],
        "epoch": [r[epoch] for r in rows] if epoch is not None else ["1"] * n,
        "seed": [r[seed] for r in rows] if seed is not None else ["0"] * n,
    }
    frame = _frame(p, [r[arch] for r in rows], columns, lambda i: f"line {lines[i]}", text=True)
    return frame, {"score_column": header[score]}


class _RepeatedKey(Exception):
    """A JSON object names one key twice."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refusing a repeated key: a plain reader keeps the last value and drops the first silently."""
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _RepeatedKey(key)
        obj[key] = value
    return obj


def _load_json(p: Path) -> Any:
    try:
        return json.loads(p.read_text(encoding="utf-8"), object_pairs_hook=_unique_keys)
    except _RepeatedKey as exc:
        raise WsbenchError(
            f"{p}: key {str(exc.args[0])[:80]!r} appears twice in one JSON object (a JSON reader keeps only the last "
            "value, silently); keep one"
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WsbenchError(f'{p} is not valid JSON ({exc}); write {{"arch key": score, ...}} or a scores object') from None
    except RecursionError:
        raise WsbenchError(f"{p} nests JSON too deeply to be a score file; write a flat scores object") from None


def _read_json(p: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    obj = _load_json(p)
    meta: dict[str, Any] = {}
    if isinstance(obj, dict) and "scores" in obj:
        meta = _check_meta(p, {k: v for k, v in obj.items() if k != "scores"})
        obj = obj["scores"]
    elif isinstance(obj, dict):
        stray = [k for k in obj if k in META_KEYS or k.lower() in ("score", "scores")]
        if stray:
            raise WsbenchError(
                f'{p} has {stray[0]!r} beside architecture keys but no "scores"; put the scores under "scores" '
                'and the metadata beside it: {"label": ..., "scores": {...}}'
            )
    if isinstance(obj, dict):
        keys = list(obj)
        columns = {"score": [obj[k] for k in keys], "epoch": [1] * len(keys), "seed": [0] * len(keys)}
        return _frame(p, keys, columns, lambda i: f"architecture {str(keys[i])[:60]!r}", text=False), meta
    if isinstance(obj, list):
        return _records(p, obj), meta
    raise WsbenchError(
        f'{p}: scores must be an object {{arch: score}} or a list of {{"arch", "score"}} records, got {_shown(obj)}'
    )


def _records(p: Path, records: list[Any]) -> pd.DataFrame:
    """A list of ``{"arch", "score"[, "epoch", "seed"]}`` records as the long form; each record checked."""
    keys: list[str] = []
    columns: dict[str, list[Any]] = {"score": [], "epoch": [], "seed": []}
    for i, r in enumerate(records):
        if not isinstance(r, dict):
            raise WsbenchError(f'{p}: scores[{i}] is {_shown(r)}, not a record {{"arch": ..., "score": ...}}')
        extra = next((k for k in r if k not in RECORD_KEYS), None)
        if extra is not None:
            raise unknown(f"field in {p} scores[{i}]", extra, RECORD_KEYS)
        missing = next((k for k in ("arch", "score") if k not in r), None)
        if missing is not None:
            raise WsbenchError(f'{p}: scores[{i}] has no "{missing}"; every record needs "arch" and "score"')
        keys.append(_record_key(p, i, r["arch"]))
        columns["score"].append(r["score"])
        columns["epoch"].append(r.get("epoch", 1))
        columns["seed"].append(r.get("seed", 0))
    return _frame(p, keys, columns, lambda i: f"scores[{i}]", text=False)


def _record_key(p: Path, i: int, arch: Any) -> str:
    """A record's architecture key as text: a JSON value (e.g. a seed-paper object) as the JSON the file holds."""
    if isinstance(arch, str):
        return arch
    if arch is None or isinstance(arch, bool):
        raise WsbenchError(f'{p}: scores[{i}] has "arch": {_shown(arch)}; give the architecture key')
    return json.dumps(arch)


def _check_meta(p: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """The metadata of a scores object, every field known and typed (JSON null: not given)."""
    for key in meta:
        if key not in META_KEYS:
            raise unknown(f"field of the scores object in {p}", key, ("scores", *META_KEYS))
    for key in ("key_format", "space"):
        if meta.get(key) is not None and not (isinstance(meta[key], str) and meta[key]):
            raise WsbenchError(f"{p}: {key} must be a name (text), got {_shown(meta[key])}")
    note = meta.get("note")
    if note is not None and (not isinstance(note, str) or _CONTROL.search(note) or len(note) > MAX_NOTE):
        raise WsbenchError(f"{p}: note must be one line of text (at most {MAX_NOTE} characters), got {_shown(note)}")
    version = meta.get("wsbench_scores")
    if version is not None and (isinstance(version, bool) or version not in FORMAT_VERSIONS):
        raise WsbenchError(
            f"{p}: wsbench_scores {_shown(version)} is not a score-file format this wsbench reads ({FORMAT_VERSIONS[-1]}); "
            "write version 1 or update wsbench"
        )
    _check_cost(p, meta.get("cost"))
    return meta


def _check_cost(p: Path, cost: Any) -> None:
    """A cost block: {device_hours: a finite number >= 0, device: text, what: text}."""
    if cost is None:
        return
    if not isinstance(cost, dict):
        raise WsbenchError(f'{p}: cost must be an object {{"device_hours": ..., "device": ..., "what": ...}}, got {_shown(cost)}')
    for key in cost:
        if key not in COST_KEYS:
            raise unknown(f"cost field in {p}", key, COST_KEYS)
    if cost and "device_hours" not in cost:
        raise WsbenchError(f"{p}: cost states no device_hours; add them (what the scores cost to make) or drop the cost")
    hours = _json_number(cost.get("device_hours"))
    if cost and not (math.isfinite(hours) and hours >= 0):
        raise WsbenchError(f"{p}: cost.device_hours must be a finite number >= 0 (hours), got {_shown(cost['device_hours'])}")
    for key in ("device", "what"):
        value = cost.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip() or _CONTROL.search(value)):
            raise WsbenchError(f"{p}: cost.{key} must be one line of text, got {_shown(value)}")


def _direction(p: Path, direction: str | None, meta: dict[str, Any]) -> bool:
    """Whether higher scores mean better architectures: the option, else the file's declaration."""
    if direction is not None:
        if direction not in ("higher", "lower"):
            raise WsbenchError(f"direction must be 'higher' or 'lower' (is a higher score better?), got {direction!r}")
        return direction == "higher"
    if "higher_is_better" in meta:
        if not isinstance(meta["higher_is_better"], bool):
            raise WsbenchError(f"{p}: higher_is_better must be true or false, got {_shown(meta['higher_is_better'])}")
        return bool(meta["higher_is_better"])
    column = str(meta.get("score_column", ""))
    if _LOWER_NAMES.search(column):
        raise WsbenchError(
            f"{p}: score column {column!r} sounds like lower is better; declare it with --direction lower (or higher)"
        )
    return True


# --------------------------------------------------------------------------- keys


def _key_format(p: Path, space: Any, option: str | None, meta: dict[str, Any]) -> str:
    """The key format to read: the option, else the file's, else auto; an unknown one is refused before any key is read."""
    fmt = option or str(meta.get("key_format") or "auto")
    known = ("auto", *space.key_formats())
    if fmt not in known:
        where = "--key-format" if option else f"{p}: key_format"
        raise unknown(f"key format of space {space.name!r} ({where})", fmt, known)
    return fmt


#: What a space's key reader may raise on a shape it does not expect (a list where an op name goes):
#: a bad key, to be reported as one, not a traceback.
_READER_ERRORS = (WsbenchError, TypeError, ValueError, KeyError, IndexError, AttributeError, RecursionError)


def _decode(p: Path, keys: list[Any], space: Any, key_format: str) -> list[str]:
    """The space's arch id of every key; one error naming the first undecodable key, why, and the count."""
    ids: list[str] = []
    failed: list[tuple[Any, Exception]] = []
    cache: dict[Any, str] = {}
    for key in keys:
        if key not in cache:
            try:
                cache[key] = space.arch_id(space.decode_key(key, key_format))
            except _READER_ERRORS as exc:
                failed.append((key, exc))
                cache[key] = ""
        ids.append(cache[key])
    if failed:
        first, why = failed[0]
        raise WsbenchError(
            f"{p}: {len(failed)} of {len(set(keys))} keys are not {space.name} architectures "
            f"(key format {key_format}); the first, {str(first)[:80]!r}: {_why(space, first, key_format, why)}"
        )
    return ids


def _why(space: Any, key: Any, key_format: str, exc: Exception) -> str:
    """Why a key is no architecture: the precise reason ``wsbench arch`` gives where no automatic format read it."""
    formats = space.key_formats()
    if isinstance(exc, WsbenchError) and (key_format != "auto" or _GENERIC_DECODE not in str(exc)):
        return str(exc)
    if not isinstance(exc, WsbenchError):
        culprit = key_format if key_format != "auto" else _reader_that_broke(formats, key)
        if culprit is not None:
            return (
                f"read as {culprit} ({formats[culprit].description}) it holds a value of the wrong kind "
                "(e.g. a list or an object where an op name or a number belongs)"
            )
    try:
        space.parse(key)
    except WsbenchError as precise:
        return f"{precise} (if the key is in another format, name it with --key-format: {', '.join(formats)})"
    except _READER_ERRORS:
        pass
    if isinstance(exc, WsbenchError):
        return str(exc)
    return f"no automatic {space.name} key format reads it; name its format with --key-format ({', '.join(formats)})"


def _reader_that_broke(formats: dict[str, Any], key: Any) -> str | None:
    """The automatic key format whose reader failed on ``key`` with something other than a one-line error."""
    for name, fmt in formats.items():
        if not fmt.auto:
            continue
        try:
            fmt.decode(key)
        except WsbenchError:
            continue
        except _READER_ERRORS:
            return str(name)
    return None


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
