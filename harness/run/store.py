"""The results store: find the finished cells under a results folder and gather them into one table.

A cell folder (``runs/<space>/<strategy>/<protocol>/seed<k>-<hash10>/``, see results/README.md)
is finished iff its ``result.json`` validates (``harness.engine.integrity``); anything else (still running, interrupted, crashed,
damaged) is listed with the reason and left out, never guessed at. The aggregate is long format:
one row per (cell, snapshot epoch, ground truth, score kind, metric), the metric values exactly as
the cell runner computed them, beside the cell's identity and provenance.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harness.api.errors import WsbenchError
from harness.api.task import ScoreField
from harness.engine.integrity import FINISHED, cell_state, read_json
from harness.engine.reuse import recorded_identity
from harness.engine.run_folder import RunFolder
from harness.fileio import atomic_write_bytes, atomic_write_text
from harness.settings import results_dir

#: Column -> description of the aggregate table (``aggregate.csv``), in column order.
AGGREGATE_SCHEMA: dict[str, str] = {
    "space": "search space name (e.g. nb201)",
    "strategy": "strategy name (e.g. spos)",
    "strategy_options": "the strategy's resolved options (defaults included) as a JSON object with sorted keys",
    "label": "display name of the strategy variant: the matrix's label when one is passed in (labels=), else the "
    "name plus its non-default options, e.g. spos[sampling=deisomorphic]",
    "protocol": "protocol name (the folder under the strategy)",
    "seed": "run seed",
    "cell_hash": "SHA-256 of the cell's resolved config (the folder name holds its first 10 hex digits)",
    "epoch": "snapshot epoch (1-based; the supernet after that epoch)",
    "ground_truth": "ground-truth label space/source:dataset/split/metric@seed_reduction",
    "gt_fingerprint": "first 16 hex digits of the SHA-256 of the ground-truth table's content",
    "score": "estimator: accuracy (shared-weight accuracy) or neg_loss (minus its cross-entropy)",
    "metric": "metric name from harness.metrics (kendall_tau, hit@5%, br@1%, ...)",
    "value": "metric value (orientation as documented in harness.metrics; br@1% lower is better)",
    "wsbench_version": "wsbench version that ran the cell",
    "git": "git commit of the code that ran the cell (empty when unknown)",
    "git_dirty": "whether that checkout had uncommitted changes",
    "device": "torch device the cell ran on (cpu, cuda:0, ...)",
    "torch_version": "PyTorch version",
    "run_dir": "the cell folder, relative to the results folder",
}


@dataclass
class Cell:
    """One finished cell folder: where it is, its config, its summary and its display label."""

    run_dir: Path
    config: dict[str, Any]
    result: dict[str, Any]
    label: str
    #: The protocol's display name: its name, or ``name@<fingerprint>`` where one name covers
    #: different protocol settings (so they are never pooled as if they were seeds).
    protocol: str = ""

    def __post_init__(self) -> None:
        self.protocol = self.protocol or str(self.config.get("protocol", {}).get("name", ""))

    @property
    def key(self) -> tuple[str, str, str]:
        """(space, label, protocol): the cells that differ only by seed."""
        return (self.config["space"]["name"], self.label, self.protocol)

    @property
    def seed(self) -> int:
        """The run seed."""
        return int(self.config["seed"])

    @property
    def cell_hash(self) -> str:
        """Full SHA-256 of the resolved config."""
        return str(self.config["cell_hash"])


@dataclass
class Scan:
    """What a results folder holds: finished cells, and the folders left out with the reason."""

    root: Path
    cells: list[Cell] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def strategy_label(name: str, options: dict[str, Any]) -> str:
    """``name`` plus the options that differ from the strategy's defaults, e.g. ``spos[sampling=deisomorphic]``."""
    try:
        from harness.catalog import STRATEGIES

        defaults = dict(STRATEGIES.get(name).defaults)
    except WsbenchError:
        defaults = {}  # an unregistered strategy: show every option, hide nothing
    extra = {k: v for k, v in sorted(options.items()) if k not in defaults or defaults[k] != v}
    if not extra:
        return name
    return f"{name}[{','.join(f'{k}={v}' for k, v in extra.items())}]"


def _cell_label(config: dict[str, Any]) -> str:
    strat = config["strategy"]
    return strategy_label(strat["name"], strat.get("options", {}))


def _variant(cell: Cell) -> str:
    strat = cell.config["strategy"]
    return json.dumps([strat["name"], strat.get("options", {})], sort_keys=True)


def _apply_labels(sc: Scan, labels: Mapping[str, str]) -> None:
    """Use the launcher's labels (keyed by full cell hash); keep derived ones where a label would merge variants."""
    derived = {id(c): c.label for c in sc.cells}
    for c in sc.cells:
        if labels.get(c.cell_hash):
            c.label = str(labels[c.cell_hash])
    by_label: dict[tuple[str, str], set[str]] = {}
    for c in sc.cells:
        by_label.setdefault((c.config["space"]["name"], c.label), set()).add(_variant(c))
    for (space, label), variants in by_label.items():
        if len(variants) > 1:
            # One label over different options would pool different strategies as if they were seeds.
            sc.notes.append(
                f"{space}: label {label!r} names {len(variants)} different strategy variants; "
                "they are shown under their derived labels instead"
            )
            for c in sc.cells:
                if c.label == label and c.config["space"]["name"] == space:
                    c.label = derived[id(c)]


def _read_cell(folder: Path) -> Cell:
    """Read a finished cell folder; raise WsbenchError naming what is wrong with it."""
    state, reason = cell_state(folder)
    if state != FINISHED:
        raise WsbenchError(reason or "result.json is missing")
    return _cell_of(folder, read_json(folder / "result.json"))


def _cell_of(folder: Path, result: dict[str, Any]) -> Cell:
    try:
        config = read_json(folder / "config.json")
    except (OSError, ValueError) as exc:
        raise WsbenchError(f"config.json is unreadable ({exc})") from None
    for key in ("space", "strategy", "protocol", "seed", "cell_hash"):
        if not isinstance(config, dict) or key not in config:
            raise WsbenchError(f"config.json lacks {key!r}")
    return Cell(folder, config, result, _cell_label(config))


def _unfinished_reason(folder: Path) -> str:
    failed = folder / "failed.json"
    if failed.exists():
        try:
            info = read_json(failed)
            if not isinstance(info, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError):
            return "failed (failed.json unreadable)"
        message = (str(info.get("message") or "").splitlines() or [""])[0]
        return f"failed: {info.get('type', 'error')}: {message}".rstrip(": ")
    if (folder / "checkpoint.pt").exists():
        return "unfinished: interrupted or still running (checkpoint.pt, no result.json)"
    return "unfinished: no result.json"


def scan(root: str | Path | None = None, require_finished: bool = True, labels: Mapping[str, str] | None = None) -> Scan:
    """Every cell folder under ``<root>/runs``: readable finished cells, and the others with why.

    With ``require_finished=False`` a folder whose ``metrics.csv`` exists but whose ``result.json``
    does not (a crash in the last write) is accepted too, with an empty summary. ``labels`` maps
    full cell hashes to display labels (e.g. a matrix's strategy labels).
    """
    root = Path(root) if root is not None else results_dir()
    out = Scan(root)
    runs = root / "runs"
    if not runs.is_dir():
        return out
    # Cell folders are exactly four levels below runs/; config.json comes first, unless the cell
    # failed before writing it, and then the executor's failed.json marks the folder.
    marks = ("config.json", "failed.json", "result.json")
    for folder in sorted({p.parent for m in marks for p in runs.glob(f"*/*/*/*/{m}")}):
        if not (folder / "result.json").exists():
            if require_finished or not (folder / "metrics.csv").is_file():
                out.skipped.append((folder, _unfinished_reason(folder)))
                continue
            try:
                out.cells.append(_cell_of(folder, {}))
            except WsbenchError as exc:
                out.skipped.append((folder, f"damaged: {exc}"))
            continue
        try:
            out.cells.append(_read_cell(folder))
        except WsbenchError as exc:
            out.skipped.append((folder, f"damaged: {exc}"))
    _drop_duplicates(out)
    if labels:
        _apply_labels(out, labels)
    _split_protocols(out)
    _split_data(out)
    return out


def protocol_fingerprint(protocol: Mapping[str, Any]) -> str:
    """SHA-256 (12 hex digits) of a protocol's settings, leaving out its name and prose."""
    settings = {k: v for k, v in protocol.items() if k not in ("name", "description", "notes", "references")}
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _split_protocols(sc: Scan) -> None:
    """Give each distinct setting of a protocol name its own display name (``name@fingerprint``)."""
    by_name: dict[tuple[str, str], set[str]] = {}
    for c in sc.cells:
        by_name.setdefault((c.config["space"]["name"], c.protocol), set()).add(protocol_fingerprint(c.config["protocol"]))
    for (space, name), prints in sorted(by_name.items()):
        if len(prints) < 2:
            continue
        sc.notes.append(
            f"{space}: protocol name {name!r} covers {len(prints)} different settings; shown apart as "
            + ", ".join(f"{name}@{p}" for p in sorted(prints))
        )
        for c in sc.cells:
            if c.config["space"]["name"] == space and c.protocol == name:
                c.protocol = f"{name}@{protocol_fingerprint(c.config['protocol'])}"


def _split_data(sc: Scan) -> None:
    """Cells of one protocol trained on different data (``data_identity``) are shown apart (``name@<data>``),
    never pooled as seeds; cells from before identities were recorded keep the plain name."""
    found: dict[tuple[str, str], dict[str, str]] = {}  # (space, protocol) -> content key -> short identity
    keys: dict[int, str] = {}
    for c in sc.cells:
        identity, _ = recorded_identity(c.run_dir, c.config)
        if identity is None:
            continue
        keys[id(c)] = json.dumps([identity.dataset, dict(identity.files)], sort_keys=True)
        found.setdefault((c.config["space"]["name"], c.protocol), {})[keys[id(c)]] = identity.short
    for (space, name), shorts in sorted(found.items()):
        if len(shorts) < 2:
            continue
        sc.notes.append(
            f"{space}: cells of protocol {name!r} were trained on {len(shorts)} different data ("
            + ", ".join(sorted(shorts.values()))
            + "); shown apart as "
            + ", ".join(f"{name}@{v}" for v in sorted(shorts.values()))
        )
        for c in sc.cells:
            if c.config["space"]["name"] == space and c.protocol == name and id(c) in keys:
                c.protocol = f"{name}@{shorts[keys[id(c)]]}"


def _drop_duplicates(sc: Scan) -> None:
    """Keep one folder per cell hash (e.g. a results folder copied into another): the first in path order."""
    first: dict[str, Path] = {}
    kept = []
    for c in sc.cells:
        h = c.config.get("cell_hash")
        if h is not None and h in first:
            sc.skipped.append(
                (c.run_dir, f"duplicate: the same cell (hash {str(h)[:10]}) as {first[h]}; delete one of the two folders")
            )
            continue
        if h is not None:
            first[h] = c.run_dir
        kept.append(c)
    sc.cells = kept


def _no_cells_error(sc: Scan) -> WsbenchError:
    where = sc.root / "runs"
    extra = f" ({len(sc.skipped)} unfinished or damaged cell folders)" if sc.skipped else ""
    return WsbenchError(
        f"no finished cells under {where}{extra}; run a matrix first (e.g. wsbench reproduce) "
        f"or point --root / WSBENCH_RESULTS at a results folder"
    )


def cell_frame(cell: Cell, root: Path | None = None) -> pd.DataFrame:
    """The aggregate rows of one cell: its metrics.csv with identity and provenance columns."""
    metrics = RunFolder(cell.run_dir).metrics()
    cfg = cell.config
    prov = cfg.get("provenance", {})
    try:
        rel = str(cell.run_dir.relative_to(root)) if root is not None else str(cell.run_dir)
    except ValueError:
        rel = str(cell.run_dir)
    ident = {
        "space": cfg["space"]["name"],
        "strategy": cfg["strategy"]["name"],
        "strategy_options": json.dumps(cfg["strategy"].get("options", {}), sort_keys=True),
        "label": cell.label,
        "protocol": cell.protocol,
        "seed": int(cfg["seed"]),
        "cell_hash": cell.cell_hash,
    }
    tail = {
        "wsbench_version": prov.get("wsbench", cfg.get("wsbench_version")),
        "git": prov.get("git") or "",
        "git_dirty": prov.get("git_dirty"),
        "device": prov.get("device", cfg.get("device_type")),
        "torch_version": prov.get("torch"),
        "run_dir": rel,
    }
    frame = metrics.assign(**ident, **tail)
    return frame[list(AGGREGATE_SCHEMA)]


def collect(
    root: str | Path | None = None, require_finished: bool = True, labels: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """The aggregate long-format table (columns ``AGGREGATE_SCHEMA``) over every finished cell."""
    return frame_of(scan(root, require_finished, labels))


def frame_of(sc: Scan) -> pd.DataFrame:
    """The aggregate table of an existing scan; one-line error when it found no cell."""
    frames = []
    for c in list(sc.cells):
        try:
            frames.append(cell_frame(c, sc.root))
        except WsbenchError as exc:  # leave the cell out with the reason; the rest is still reported
            sc.cells.remove(c)
            sc.skipped.append((c.run_dir, f"damaged: {exc}"))
    if not frames:
        raise _no_cells_error(sc)
    df = pd.concat(frames, ignore_index=True)
    return df.sort_values(["space", "label", "protocol", "seed", "cell_hash", "epoch"], kind="stable").reset_index(drop=True)


def read_aggregate(path: str | Path) -> pd.DataFrame:
    """Read an ``aggregate.csv`` back with the column types ``collect`` produces."""
    return pd.read_csv(
        path,
        dtype={"strategy_options": str, "git": str, "cell_hash": str},
        keep_default_na=False,
        na_values={"value": ["", "nan", "NaN"]},
    )


def write_aggregate(root: str | Path | None = None, labels: Mapping[str, str] | None = None) -> list[Path]:
    """Write ``<root>/aggregate.csv`` (and ``aggregate.parquet`` when pyarrow is importable), atomically."""
    root = Path(root) if root is not None else results_dir()
    df = collect(root, labels=labels)
    written = [root / "aggregate.csv"]
    atomic_write_text(written[0], df.to_csv(index=False))
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return written
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    atomic_write_bytes(root / "aggregate.parquet", buf.getvalue())
    written.append(root / "aggregate.parquet")
    return written


def load_scores(run_dir: str | Path, fields: Sequence[ScoreField] | None = None) -> pd.DataFrame:
    """Every snapshot's architecture scores of one cell: columns epoch, arch and the task's score fields.

    ``fields`` default to those of the task the cell's ``config.json`` names (``RunFolder.scores``).
    """
    return RunFolder(Path(run_dir)).scores(fields)
