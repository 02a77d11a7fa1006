"""How much a supernet's ranking varies across snapshot epochs and seeds, beside its baselines.

Per space x strategy label x protocol x ground truth, from the cells' metric rows (computed by the
cell runner with ``harness.metrics``) and their score files:

- each summary metric at the final snapshot, aggregated over seeds as its spec declares (mean ± sd,
  ddof=1), and over the last K snapshots within a run where it declares that (Kendall tau);
- ranking stability without any ground truth: Kendall tau between the rankings of different seeds
  at the final snapshot, and between different snapshots of one run (averaged over seeds), both as
  the mean of the off-diagonal of ``harness.metrics.pairwise_kendall``;
- the ``params`` baseline, training-free baselines and the ground-truth ceiling on the same
  architectures (``harness.analysis.summary_rows``);
- per strategy group, every run's snapshot vectors (``GroupScores``): what the analyses read.

Every number comes from ``harness.metrics``; nothing here re-implements a metric.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness import metrics as M
from harness.analysis.groups import GroupScores, RunScores, Schedule
from harness.analysis.labels import short_gt
from harness.analysis.summary_rows import (
    BASELINE_SEEDS,
    KINDS,
    PARAMS_LABEL,
    baseline_rows,
    device_hours,
    over_seeds,
    params_estimator,
    reference_rows,
    summary_specs,
    table_columns,
    training_compute,
    undefined_metrics,
)
from harness.analysis.truths import default_tables, fingerprint_notes, load_tables, oriented
from harness.api.errors import WsbenchError
from harness.api.ground_truth import GroundTruthTable
from harness.api.task import ScoreField, estimator_values
from harness.catalog import known_estimators
from harness.engine.scoring import NO_GROUND_TRUTH
from harness.metrics import mean_sd
from harness.run.store import Cell, Scan, frame_of, load_scores, scan
from harness.settings import results_dir

# Names callers know from here, defined in the modules this one composes.
__all__ = [
    "BASELINE_SEEDS",
    "NO_GROUND_TRUTH",
    "PARAMS_LABEL",
    "PRIMARY",
    "Analysis",
    "analyse",
    "epoch_curves",
    "load_tables",
    "mean_sd",
    "params_estimator",
    "primary_estimator",
    "score_vectors",
    "short_gt",
    "table_columns",
]


@dataclass
class Analysis:
    """Everything a report needs: the summary table, per-epoch curves, scatter data, notes."""

    table: pd.DataFrame  # one row per (space, protocol, label, ground truth); see ``table_columns``
    curves: pd.DataFrame  # per (space, protocol, label, ground truth, metric, epoch): mean/sd/min/max over seeds
    scatter: pd.DataFrame  # final snapshot, lowest seed: arch, score, true value per ground truth
    aggregate: pd.DataFrame  # the store's long table (all score kinds)
    score: str
    last_k: int | None
    notes: list[str] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    #: Per strategy group: every run's snapshot vectors and the covering ground truths (for analyses).
    groups: list[GroupScores] = field(default_factory=list)


def score_vectors(scores: pd.DataFrame, epoch: int, archs: list[str], score: str) -> np.ndarray:
    """One snapshot's estimator values (higher is better) on ``archs``, in that order."""
    fields = _fields_of(scores)
    snap = scores[scores["epoch"] == epoch]
    col = pd.Series(estimator_values(snap, score, fields), index=snap["arch"].to_numpy())
    return col.reindex(archs).to_numpy(dtype=float)


def _fields_of(frame: pd.DataFrame) -> tuple[ScoreField, ...]:
    """The score fields of a cell's score frame: those of the task its folder names (``RunFolder.scores``)."""
    from harness.engine.run_folder import FIELDS_ATTR

    if FIELDS_ATTR not in frame.attrs:
        raise WsbenchError("a score frame without its task's score fields; read cells with harness.engine.run_folder")
    return frame.attrs[FIELDS_ATTR]


def seed_pairwise_tau(vectors: list[np.ndarray]) -> float:
    """Mean Kendall tau between the rankings of different seeds (nan with fewer than 2)."""
    return M.mean_offdiag(M.pairwise_kendall(vectors)) if len(vectors) >= 2 else float("nan")


def snapshot_pairwise_tau(vectors: list[np.ndarray]) -> float:
    """Mean Kendall tau between the rankings of different snapshots of one run (nan with fewer than 2)."""
    return M.mean_offdiag(M.pairwise_kendall(vectors)) if len(vectors) >= 2 else float("nan")


#: The report's default estimator: each cell's task's primary score (accuracy, neg_perplexity, ...).
PRIMARY = "primary"


def primary_estimator(cell: Cell) -> str:
    """The oriented name of the primary score field of the task ``cell`` ran."""
    from harness.api.task import estimator_name
    from harness.engine.run_folder import task_of_config

    return estimator_name(task_of_config(cell.config).primary())


def _check_choice(score: str, last_k: int | None) -> None:
    """Refuse an unknown estimator or a last_k that is not a positive int."""
    if score != PRIMARY and score not in known_estimators():
        from harness.api.errors import unknown

        raise unknown("score kind", score, [PRIMARY, *known_estimators()])
    if last_k is not None and (isinstance(last_k, bool) or not isinstance(last_k, int) or last_k < 1):
        raise WsbenchError(f"last_k must be an int >= 1 (the number of final snapshots to use), got {last_k!r}")


@dataclass
class _Group:
    """The cells of one strategy group: one (space, label, protocol), every seed."""

    space: str
    label: str
    protocol: str
    cells: list[Cell]


def _groups(cells: list[Cell]) -> list[_Group]:
    """The cells grouped by (space, label, protocol), groups and cells in a fixed order."""
    out: dict[tuple[str, str, str], _Group] = {}
    for c in sorted(cells, key=lambda c: (c.key, c.seed, c.cell_hash)):
        out.setdefault(c.key, _Group(*c.key, []))
        out[c.key].cells.append(c)
    return list(out.values())


def _common_archs(frames: dict[str, pd.DataFrame]) -> list[str]:
    """Architectures every run scored at its final snapshot, sorted (the order is irrelevant to tau)."""
    sets = [set(df.loc[df["epoch"] == df["epoch"].max(), "arch"]) for df in frames.values()]
    return sorted(set.intersection(*sets)) if sets else []


def _selection_notes(cells: list[Cell]) -> list[str]:
    """What strategies that select an architecture themselves (DARTS, GDAS) picked, and how good it is."""
    notes = []
    for c in sorted(cells, key=lambda c: (c.config["space"]["name"], c.label, c.seed)):
        sel = (c.result or {}).get("selected")
        if not sel:
            continue
        truth = "; ".join(
            f"{lbl.split('/')[1].split(':')[0]} {g['value']:.2f} (top {100 * g['fraction_better']:.1f} % of the space)"
            for lbl, g in sorted(sel.get("ground_truth", {}).items())
        )
        notes.append(
            f"SELECTED {c.config['space']['name']}/{c.label} seed {c.seed}: {sel['arch']} — {truth or 'no ground truth'}"
        )
    return notes


def _prepare_partial(root: str | Path | None) -> list[str]:
    """Give every unfinished cell that has score files a ``metrics.csv``; one note per such cell."""
    from harness.engine.scoring import metrics_from_scores

    notes = []
    for folder, _why in scan(root).skipped:
        if (folder / "failed.json").exists() or not any((folder / "scores").glob("epoch_*.csv")):
            continue
        if not (folder / "metrics.csv").is_file():
            metrics_from_scores(folder)
        try:
            planned = json.loads((folder / "config.json").read_text())["schedule"]["snapshot_epochs"]
        except (OSError, ValueError, KeyError):
            planned = []
        done = sorted(int(f.stem.split("_")[1]) for f in (folder / "scores").glob("epoch_*.csv"))
        notes.append(
            f"PARTIAL {folder.relative_to(Path(root) if root is not None else results_dir())}: unfinished, "
            f"scored at epochs {done} of the planned {planned}; its rows use those snapshots only"
        )
    return notes


@dataclass
class _Walk:
    """What ``analyse`` accumulates while it walks the groups (rows and notes keep their order)."""

    root: str | Path | None
    last_k: int | None
    baselines: tuple[str, ...]
    mine: pd.DataFrame  # the metric rows of each cell's own estimator
    notes: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    scatter: list[pd.DataFrame] = field(default_factory=list)
    groups: list[GroupScores] = field(default_factory=list)
    tables: dict[tuple[str, str], dict[str, GroundTruthTable]] = field(default_factory=dict)
    ceilings: dict[str, dict[str, GroundTruthTable]] = field(default_factory=dict)
    referenced: set[tuple[str, str]] = field(default_factory=set)  # (space, protocol) with fixed-estimator rows


def analyse(
    root: str | Path | None = None,
    last_k: int | None = None,
    score: str = PRIMARY,
    cells: list[str] | None = None,
    labels: Mapping[str, str] | None = None,
    baselines: tuple[str, ...] = (),
    partial: bool = False,
) -> Analysis:
    """Stability table, curves and scatter data over the finished cells under ``root``.

    ``last_k``: how many final snapshots per run enter the within-run numbers (default: all the
    protocol's snapshots). ``cells``: restrict to these cell hashes (full, or prefixes of at least
    10 hex digits). ``labels``: full cell hash -> strategy label (e.g. a matrix's labels).
    """
    _check_choice(score, last_k)
    partial_notes = _prepare_partial(root) if partial else []
    sc = _only(scan(root, labels=labels, require_finished=not partial), cells)
    agg = frame_of(sc)
    notes: list[str] = list(sc.notes) + partial_notes + _selection_notes(sc.cells)
    wanted = {c.cell_hash: (primary_estimator(c) if score == PRIMARY else score) for c in sc.cells}
    walk = _Walk(root, last_k, baselines, agg[agg["score"] == agg["cell_hash"].map(wanted)], notes)
    for g in _groups(sc.cells):
        _analyse_group(walk, g, wanted[g.cells[0].cell_hash])  # one task per space: every cell of a group has the same
    return Analysis(
        table=_table_frame(walk.rows),
        curves=epoch_curves(walk.mine),
        scatter=pd.concat(walk.scatter, ignore_index=True) if walk.scatter else pd.DataFrame(),
        aggregate=agg,
        score=score,
        last_k=last_k,
        notes=walk.notes,
        skipped=sc.skipped,
        groups=walk.groups,
    )


def _only(sc: Scan, cells: list[str] | None) -> Scan:
    """The scan restricted to the given cell hashes (None: all of it)."""
    if cells is None:
        return sc
    wanted = tuple(str(h)[:10] for h in cells)
    # Folder names end in the first 10 digits of the hash, so left-out folders filter too.
    return Scan(
        sc.root,
        [c for c in sc.cells if c.cell_hash[:10] in wanted],
        [(p, why) for p, why in sc.skipped if p.name.rsplit("-", 1)[-1] in wanted],
        sc.notes,
    )


def _analyse_group(walk: _Walk, g: _Group, score: str) -> None:
    """Supernet rows, group vectors and scatter data of one strategy group; fixed-estimator rows once per block."""
    scores = {c.cell_hash: load_scores(c.run_dir) for c in g.cells}
    mine = walk.mine[walk.mine["cell_hash"].isin([c.cell_hash for c in g.cells])]
    walk.rows += _supernet_rows(g, mine, scores, walk.last_k, score, walk.notes)
    archs = _common_archs(scores)
    tables = _covering_tables(walk, g, archs)
    walk.groups.append(_group_scores(g, scores, archs, tables, score))
    try:
        walk.scatter.append(_scatter_frame(g, scores, tables, score))
    except WsbenchError as exc:  # e.g. a partial table that lacks some of the architectures
        walk.notes.append(f"{g.space}/{g.label}/{g.protocol}: no scatter plot: {exc}")
    _fixed_estimator_rows(walk, g, archs, tables, score)


def _covering_tables(walk: _Walk, g: _Group, archs: list[str]) -> dict[str, GroundTruthTable]:
    """The block's ground-truth tables that cover every architecture of the group (read once per block)."""
    ck = (g.space, g.protocol)
    if ck not in walk.tables:
        walk.tables[ck], why_not = load_tables(g.space, g.cells[0].config.get("ground_truths", []))
        walk.notes += [
            f"{g.space}/{g.protocol}: ground truth not readable here, so no baseline, ceiling or scatter for it: {why}"
            for why in why_not
        ]
        block = walk.mine[(walk.mine["space"] == g.space) & (walk.mine["protocol"] == g.protocol)]
        walk.notes += fingerprint_notes(walk.tables[ck], block)
    if not walk.tables[ck] and ck not in walk.referenced:
        walk.notes.append(_no_ground_truth_note(g))
    partial = sorted(lbl for lbl, t in walk.tables[ck].items() if not set(archs) <= set(t.arch_ids))
    if partial and ck not in walk.referenced:
        # A table covering only some architectures (e.g. NB101's 500-cell set) still has its
        # per-cell metrics (computed on the covered cells); fixed-estimator rows need full coverage.
        walk.notes.append(
            f"{g.space}/{g.protocol}: {', '.join(partial)} cover only part of the architectures: "
            "no baseline, ceiling or scatter rows against them"
        )
    return {lbl: t for lbl, t in walk.tables[ck].items() if lbl not in partial}


def _fixed_estimator_rows(walk: _Walk, g: _Group, archs: list[str], tables: dict[str, GroundTruthTable], score: str) -> None:
    """params, ceiling and baseline rows, once per (space, protocol), on the first group's architectures."""
    ck = (g.space, g.protocol)
    if not walk.tables[ck]:
        # Training-free baselines do not depend on the cells' data: they still meet the space's
        # own ground truth (e.g. ImageNet's, for a supernet trained on CIFAR-10).
        tables = {lbl: t for lbl, t in default_tables(g.space).items() if set(archs) <= set(t.arch_ids)}
    if ck in walk.referenced or not tables:
        return
    walk.referenced.add(ck)
    if g.space not in walk.ceilings:
        walk.ceilings[g.space] = default_tables(g.space)
    root = Path(walk.root) if walk.root else None
    try:
        walk.rows += reference_rows(g.space, g.protocol, archs, tables, walk.ceilings[g.space], score)
        walk.rows += baseline_rows(g.space, g.protocol, archs, tables, score, walk.baselines, root, walk.notes)
    except WsbenchError as exc:
        walk.notes.append(f"{g.space}/{g.protocol}: no params baseline or ceiling: {exc}")


def _table_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The stability table: its columns and integer types, sorted by block, ground truth, kind and label."""
    table = pd.DataFrame(rows, columns=table_columns())
    table = table.astype({"n_seeds": "Int64", "final_epoch": "Int64", "n_archs": "Int64"})
    order = {k: i for i, k in enumerate(KINDS)}
    return table.sort_values(
        ["space", "protocol", "ground_truth", "kind", "label"],
        key=lambda s: s.map(order) if s.name == "kind" else s,
        kind="stable",
    ).reset_index(drop=True)


def _group_scores(
    g: _Group, scores: dict[str, pd.DataFrame], archs: list[str], tables: dict[str, GroundTruthTable], score: str
) -> GroupScores:
    """Every run's snapshot vectors over the group's common architectures, and the covering truths."""
    runs = [
        RunScores(c.seed, c.cell_hash, {int(e): score_vectors(scores[c.cell_hash], int(e), archs, score)
                                        for e in sorted(scores[c.cell_hash]["epoch"].unique())}, _schedule(c))
        for c in g.cells
    ]  # fmt: skip
    truths = {lbl: oriented(t, archs) for lbl, t in tables.items()}
    imported = all(c.config.get("imported") is not None for c in g.cells)
    return GroupScores(g.space, g.protocol, g.label, score, archs, runs, truths, imported)


def _schedule(cell: Cell) -> Schedule | None:
    """The cell's learning-rate schedule: its train log's rates, else the protocol's cosine at each snapshot
    (cells cut short have no log); None where the config does not say."""
    from types import SimpleNamespace

    from harness.engine.run_folder import RunFolder
    from harness.engine.schedule import cosine_lr

    try:
        p, sched = cell.config["protocol"], cell.config["schedule"]
        epochs, peak, low = int(sched["epochs"]), float(p["lr"]), float(p["lr_min"])
        log = RunFolder(cell.run_dir).train_log()
        if log is not None and "lr" in log:
            return Schedule(epochs, peak, low, {int(e): float(lr) for e, lr in zip(log["epoch"], log["lr"])})
        steps = round(float(sched["path_passes"]) / (epochs * float(sched["paths_per_step"])))
        shape = SimpleNamespace(lr=peak, lr_min=low, epochs=int(p["epochs"]), warmup_epochs=int(p.get("warmup_epochs", 0)),
                                lr_restarts=int(p.get("lr_restarts", 0)))  # fmt: skip
        factor = cosine_lr(shape, epochs * steps)  # type: ignore[arg-type]
        return Schedule(epochs, peak, low, {e: peak * factor(e * steps) for e in range(1, epochs + 1)})
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None


def _no_ground_truth_note(g: _Group) -> str:
    """Which ground truth these cells lack, and what the report shows instead."""
    why = g.cells[0].config.get("ground_truths_skipped") or ["none is configured for this space"]
    return (
        f"{g.space}/{g.protocol}: no ground truth for these cells ({'; '.join(why)}); their rows show ranking "
        "stability only (seed-vs-seed and snapshot-vs-snapshot tau); any baseline rows are against the space's own ground truth"
    )


def _snapshots(scores: dict[str, pd.DataFrame], last_k: int | None) -> tuple[dict, dict, dict]:
    """Per run (cell hash): its snapshot epochs, those the within-run numbers use, and the final one."""
    snaps = {h: sorted(df["epoch"].unique().tolist()) for h, df in scores.items()}
    used = {h: (e[-last_k:] if last_k else e) for h, e in snaps.items()}
    final = {h: e[-1] for h, e in snaps.items()}
    return snaps, used, final


def _supernet_rows(
    g: _Group, rows: pd.DataFrame, scores: dict[str, pd.DataFrame], last_k: int | None, score: str, notes: list[str]
) -> list[dict[str, Any]]:
    """One row per ground truth for one strategy group: final-snapshot stats over seeds, within-run stats."""
    _, used, final = _snapshots(scores, last_k)
    base = _supernet_base(g, scores, last_k, score, notes)
    if rows.empty:  # no ground truth for these cells' data: what stays measurable is stability
        return [{**base, "ground_truth": NO_GROUND_TRUTH, **undefined_metrics()}]
    hashes = [c.cell_hash for c in g.cells]
    out = []
    for gt, sub in rows.groupby("ground_truth", sort=True):
        value = sub.set_index(["cell_hash", "epoch", "metric"])["value"]
        out.append({**base, "ground_truth": gt, **_metric_cells(value, hashes, used, final)})
    return out


def _metric_cells(value: pd.Series, hashes: list[str], used: dict, final: dict) -> dict[str, float]:
    """Each summary metric over seeds at the final snapshot, and within runs where its spec asks for it."""

    def at(h: str, e: int, m: str) -> float:
        """Metric ``m`` of run ``h`` at epoch ``e`` (NaN where not recorded)."""
        return float(value.get((h, e, m), np.nan))

    cells = over_seeds({s.name: [at(h, final[h], s.name) for h in hashes] for s in summary_specs()})
    for s in summary_specs():
        if s.over.last_k:
            within = [s.over.seeds([at(h, e, s.name) for e in used[h]]) for h in hashes]
            cells[f"{s.column}_lastk_mean"] = float(np.mean([w[0] for w in within]))
            cells[f"{s.column}_lastk_sd"] = float(np.mean([w[1] for w in within]))
    return cells


def _supernet_base(
    g: _Group, scores: dict[str, pd.DataFrame], last_k: int | None, score: str, notes: list[str]
) -> dict[str, Any]:
    """The columns of a group's rows that no ground truth enters: seeds, epochs, compute, pairwise taus."""
    where = f"{g.space}/{g.label}/{g.protocol}"
    dup = pd.Series([c.seed for c in g.cells]).value_counts()
    if (dup > 1).any():
        notes.append(
            f"{where}: seed(s) {sorted(dup[dup > 1].index.tolist())} appear in more than one cell (their "
            "configs differ, e.g. device or an edited protocol); each cell counts as a run"
        )
    hashes = [c.cell_hash for c in g.cells]
    snaps, used, final = _snapshots(scores, last_k)
    if last_k and any(len(e) < last_k for e in snaps.values()):
        notes.append(f"{where}: fewer than last_k={last_k} snapshots; used all of them")
    archs = _common_archs(scores)
    if any(len(df[df["epoch"] == final[h]]) != len(archs) for h, df in scores.items()):
        notes.append(f"{where}: runs scored different architecture sets; pairwise taus use the {len(archs)} they share")
    seed_tau = seed_pairwise_tau([score_vectors(scores[h], final[h], archs, score) for h in hashes])
    snap_tau = float(
        np.mean([snapshot_pairwise_tau([score_vectors(scores[h], e, archs, score) for e in used[h]]) for h in hashes])
    )
    return {
        "space": g.space,
        "protocol": g.protocol,
        "kind": "supernet",
        "label": g.label,
        "score": score,
        "n_seeds": len(hashes),
        "seeds": ",".join(str(c.seed) for c in g.cells),
        "epochs": ",".join(str(e) for e in sorted({e for v in used.values() for e in v})),
        "final_epoch": max(final.values()),
        "n_archs": len(archs),
        "train_mimg_paths": float(np.mean([training_compute(c, final[c.cell_hash]) for c in g.cells])),
        "device_hours": float(np.mean([device_hours(c, final[c.cell_hash]) for c in g.cells])),
        "seed_pairwise_tau": seed_tau,
        "snapshot_pairwise_tau": snap_tau,
    }


def _scatter_frame(g: _Group, scores: dict[str, pd.DataFrame], tables: dict[str, GroundTruthTable], score: str) -> pd.DataFrame:
    """The lowest seed's final snapshot: each architecture's score and raw true value per ground truth."""
    lowest = g.cells[0]
    frame = scores[lowest.cell_hash]
    fields = _fields_of(frame)
    epoch = int(frame["epoch"].max())
    snap = frame[frame["epoch"] == epoch]
    out = pd.DataFrame(
        {
            "space": g.space,
            "protocol": g.protocol,
            "label": g.label,
            "seed": lowest.seed,
            "epoch": epoch,
            "arch": snap["arch"].to_numpy(),
            "estimator": score,
            "score": estimator_values(snap, score, fields),
        }
    )
    for lbl, t in tables.items():  # oriented like the score (higher = better), so the plot's tau is the metric's
        out[lbl] = oriented(t, out["arch"].tolist())
    return out


def epoch_metrics() -> tuple[str, ...]:
    """The metrics whose spec asks for every snapshot epoch (``Over.epochs``): the report's curves."""
    return tuple(s.name for s in M.METRICS.values() if s.over.epochs)


def epoch_curves(agg: pd.DataFrame, score: str | None = None, metrics: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Per (space, protocol, label, ground truth, metric, epoch): mean, sd (ddof=1), min, max over seeds.

    ``score``: keep only that estimator's rows (None: ``agg`` already holds one estimator per cell);
    ``metrics``: default ``epoch_metrics()``.
    """
    sub = agg[agg["metric"].isin(metrics if metrics is not None else epoch_metrics())]
    if score is not None:
        sub = sub[sub["score"] == score]
    keys = ["space", "protocol", "label", "ground_truth", "metric", "epoch"]
    out = sub.groupby(keys, sort=True)["value"].agg(
        mean="mean", sd=lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else np.nan, min="min", max="max", n="count"
    )
    return out.reset_index()
