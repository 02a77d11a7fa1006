"""How much a supernet's ranking varies across snapshot epochs and seeds, beside its baselines.

Per space x strategy label x protocol x ground truth, from the cells' metric rows (computed by the
cell runner with ``harness.analysis.metrics``) and their score files:

- each metric at the final snapshot as mean ± sd over seeds (sd with ddof=1);
- Kendall tau over the last K snapshots within a run: mean and sd per run, averaged over seeds;
- ranking stability without any ground truth: Kendall tau between the rankings of different seeds
  at the final snapshot, and between different snapshots of one run (averaged over seeds), both as
  the mean of the off-diagonal of ``harness.analysis.metrics.pairwise_kendall``;
- the ``params`` baseline (parameter count of the standard network as the estimator) and the
  ground-truth ceiling (another ground truth of the same dataset family as the estimator) on the
  same architectures.

Every number comes from ``harness.analysis.metrics``; nothing here re-implements a metric.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis import metrics as M
from harness.analysis.groups import GroupScores, RunScores
from harness.analysis.gt_report import family
from harness.api.errors import WsbenchError
from harness.api.ground_truth import GroundTruthTable
from harness.api.task import ScoreField, estimator_values, known_estimators
from harness.engine.scoring import NO_GROUND_TRUTH
from harness.run.store import Cell, Scan, frame_of, load_scores, scan
from harness.settings import results_dir

#: Metrics reported per snapshot as mean ± sd over seeds (names from ``harness.analysis.metrics``).
SEED_METRICS = ("kendall_tau", "spearman_rho", "hit@1%", "hit@5%", "hit@10%", "br@1%", "tau_top10%")
PARAMS_LABEL = "params (baseline)"
KINDS = ("supernet", "params", "baseline", "ceiling")
#: Seeds over which seeded training-free baselines are averaged (init and minibatch for proxies).
#: jacob_cov costs ~0.5 s per architecture on a CPU, so it gets one seed unless asked otherwise.
BASELINE_SEEDS = {"random": (0, 1, 2), "synflow": (0, 1), "jacob_cov": (0,)}


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


def table_columns() -> list[str]:
    """Column order of ``Analysis.table`` (and of the report CSV)."""
    cols = [
        "space",
        "protocol",
        "kind",
        "label",
        "ground_truth",
        "score",
        "n_seeds",
        "seeds",
        "epochs",
        "final_epoch",
        "n_archs",
        "train_mimg_paths",
        "device_hours",
        "tau_mean",
        "tau_sd",
        "tau_lastk_mean",
        "tau_lastk_sd",
        "seed_pairwise_tau",
        "snapshot_pairwise_tau",
    ]
    for m in SEED_METRICS[1:]:
        cols += [f"{m}_mean", f"{m}_sd"]
    return cols


def mean_sd(values: Any) -> tuple[float, float]:
    """Mean and sample sd (ddof=1; nan for fewer than 2 values) of a sequence."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else float("nan")


def score_vectors(scores: pd.DataFrame, epoch: int, archs: list[str], score: str) -> np.ndarray:
    """One snapshot's estimator values (higher is better) on ``archs``, in that order."""
    snap = scores[scores["epoch"] == epoch]
    col = pd.Series(estimator_values(snap, score, _fields_of(snap)), index=snap["arch"].to_numpy())
    return col.reindex(archs).to_numpy(dtype=float)


def _fields_of(frame: pd.DataFrame) -> tuple[ScoreField, ...]:
    """The score fields a score frame carries (its columns past epoch and arch, with their task's direction)."""
    from harness.tasks import TASKS
    from harness.tasks.imported import IMPORTED_SCORES

    columns = [c for c in frame.columns if c not in ("epoch", "arch")]
    for fields in [TASKS.get(name).score_fields for name in TASKS.names()] + [IMPORTED_SCORES.score_fields]:
        if [f.name for f in fields] == columns:
            return fields
    raise WsbenchError(f"score columns {columns} match no registered task's score fields")


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
    from harness.engine.scoring import task_of_config

    return estimator_name(task_of_config(cell.config).primary())


def _check_choice(score: str, last_k: int | None) -> None:
    if score != PRIMARY and score not in known_estimators():
        from harness.api.errors import unknown

        raise unknown("score kind", score, [PRIMARY, *known_estimators()])
    if last_k is not None and (isinstance(last_k, bool) or not isinstance(last_k, int) or last_k < 1):
        raise WsbenchError(f"last_k must be an int >= 1 (the number of final snapshots to use), got {last_k!r}")


def load_tables(space: str, specs: list[list[str]]) -> tuple[dict[str, GroundTruthTable], list[str]]:
    """The ground-truth tables named in a cell config that can be read here, by label; and why not others."""
    from harness.engine.scoring import available_ground_truths

    try:
        tables, skipped = available_ground_truths(space, tuple(tuple(s) for s in specs))
    except WsbenchError as exc:
        return {}, [str(exc)]
    return {t.query.label(): t for t in tables}, skipped


def _default_tables(space: str) -> dict[str, GroundTruthTable]:
    """The space's default ground truths readable here: candidates for the ceiling's estimator.

    A cell may be scored against one ground truth only; the ceiling still needs a second
    measurement of the same thing, which any other default table of that dataset family is.
    """
    from spaces import SPACES

    specs = [list(s) for s in getattr(SPACES.get(space), "default_ground_truths", ())]
    return load_tables(space, specs)[0] if specs else {}


def _oriented(table: GroundTruthTable, archs: list[str]) -> np.ndarray:
    v = table.lookup(archs)
    return v if table.higher_is_better else -v


def params_estimator(space_name: str, archs: list[str]) -> np.ndarray:
    """Parameter count (millions) of each architecture's standard stand-alone network."""
    from harness.analysis.baselines import score_baseline

    return score_baseline("params", space_name, archs, seed=0)


def _reference_row(
    space: str, protocol: str, kind: str, label: str, gt: str, score: str, est: np.ndarray, true: np.ndarray
) -> dict[str, Any]:
    """A row for a fixed estimator (params, another ground truth): no seeds, no sd.

    An estimator that gives every architecture the same score (params on a space whose cells all
    have the same weights) ranks nothing: every metric is undefined (NaN), not a tie-break artefact.
    """
    vals = M.compute_all(est, true, names=list(SEED_METRICS))
    if len(est) and np.ptp(np.asarray(est, dtype=np.float64)) == 0:
        vals = {k: float("nan") for k in vals}
    row: dict[str, Any] = {
        "space": space,
        "protocol": protocol,
        "kind": kind,
        "label": label,
        "ground_truth": gt,
        "score": score,
        "n_seeds": 0,
        "seeds": "",
        "epochs": "",
        "final_epoch": np.nan,
        "n_archs": len(est),
        "device_hours": np.nan,
        "tau_mean": vals["kendall_tau"],
        "tau_sd": np.nan,
        "tau_lastk_mean": np.nan,
        "tau_lastk_sd": np.nan,
        "seed_pairwise_tau": np.nan,
        "snapshot_pairwise_tau": np.nan,
    }
    for m in SEED_METRICS[1:]:
        row[f"{m}_mean"], row[f"{m}_sd"] = vals[m], np.nan
    return row


#: Seed reductions that name no particular run; any other (``seed:42``, ``run:1``, ``mean-of-seeds``) is shown.
_PLAIN_REDUCTIONS = ("as-published", "mean", "one-run", "mean-of-rows")
#: Metrics a short label leaves out: each is its source's one (or main) metric.
_PLAIN_METRICS = ("accuracy", "perplexity", "best-accuracy", "accuracy@108", "top1")


def short_gt(label: str) -> str:
    """``nb201/analog:cifar10/test/accuracy@as-published`` -> ``analog:cifar10/test`` (for tables and plots).

    A reduction that picks runs stays: ``darts/seedpaper:cifar10/test/accuracy@seed:42`` ->
    ``seedpaper:cifar10/test@seed:42``, so two runs of one source are told apart.
    """
    query = label.split("/", 1)[-1].split("@", 1)[0]  # source:dataset/split/metric
    short, _, metric = query.rpartition("/")
    if not short:  # not a ground-truth label (e.g. "none")
        short = query
    elif metric not in _PLAIN_METRICS:  # e.g. ProxylessNAS's top5 beside its top1
        short = query
    reduction = label.rsplit("@", 1)[-1] if "@" in label else ""
    return short if not reduction or reduction in _PLAIN_REDUCTIONS else f"{short}@{reduction}"


def independent(a: GroundTruthTable, b: GroundTruthTable) -> bool:
    """Whether two tables measure independently: not when both name their training runs and share one
    (seed 42 vs the mean of seeds 42 and 43 is no ceiling: the mean contains the run)."""
    runs_a, runs_b = a.provenance.get("runs"), b.provenance.get("runs")
    return not (runs_a and runs_b and set(runs_a) & set(runs_b))


@dataclass
class _Group:
    space: str
    label: str
    protocol: str
    cells: list[Cell]


def _groups(cells: list[Cell]) -> list[_Group]:
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
    sc = scan(root, labels=labels, require_finished=not partial)
    if cells is not None:
        wanted = tuple(str(h)[:10] for h in cells)
        # Folder names end in the first 10 digits of the hash, so left-out folders filter too.
        sc = Scan(
            sc.root,
            [c for c in sc.cells if c.cell_hash[:10] in wanted],
            [(p, why) for p, why in sc.skipped if p.name.rsplit("-", 1)[-1] in wanted],
            sc.notes,
        )
    agg = frame_of(sc)
    notes: list[str] = list(sc.notes) + partial_notes + _selection_notes(sc.cells)
    rows: list[dict[str, Any]] = []
    scatter_rows: list[pd.DataFrame] = []
    wanted = {c.cell_hash: (primary_estimator(c) if score == PRIMARY else score) for c in sc.cells}
    mine = agg[agg["score"] == agg["cell_hash"].map(wanted)]
    reference_done: set[tuple[str, str]] = set()
    group_scores: list[GroupScores] = []
    table_cache: dict[tuple[str, str], dict[str, GroundTruthTable]] = {}
    ceiling_cache: dict[str, dict[str, GroundTruthTable]] = {}

    for g in _groups(sc.cells):
        g_score = wanted[g.cells[0].cell_hash]  # one task per space: every cell of a group has the same
        scores = {c.cell_hash: load_scores(c.run_dir) for c in g.cells}
        rows += _supernet_rows(g, mine[mine["cell_hash"].isin([c.cell_hash for c in g.cells])], scores, last_k, g_score, notes)
        # Fixed-estimator rows and scatter data need the ground-truth tables themselves.
        ck = (g.space, g.protocol)
        if ck not in table_cache:
            table_cache[ck], why_not = load_tables(g.space, g.cells[0].config.get("ground_truths", []))
            notes += [
                f"{g.space}/{g.protocol}: ground truth not readable here, so no baseline, ceiling or scatter for it: {why}"
                for why in why_not
            ]
            notes += _fingerprint_notes(table_cache[ck], mine[(mine["space"] == g.space) & (mine["protocol"] == g.protocol)])
        archs = _common_archs(scores)
        if not table_cache[ck] and ck not in reference_done:
            notes.append(_no_ground_truth_note(g))
        partial = sorted(lbl for lbl, t in table_cache[ck].items() if not set(archs) <= set(t.arch_ids))
        if partial and ck not in reference_done:
            # A table covering only some architectures (e.g. NB101's 500-cell set) still has its
            # per-cell metrics (computed on the covered cells); fixed-estimator rows need full coverage.
            notes.append(
                f"{g.space}/{g.protocol}: {', '.join(partial)} cover only part of the architectures: "
                "no baseline, ceiling or scatter rows against them"
            )
        tables = {lbl: t for lbl, t in table_cache[ck].items() if lbl not in partial}
        group_scores.append(_group_scores(g, scores, archs, tables, g_score))
        try:
            scatter_rows.append(_scatter_frame(g, scores, tables, g_score))
        except WsbenchError as exc:  # e.g. a partial table that lacks some of the architectures
            notes.append(f"{g.space}/{g.label}/{g.protocol}: no scatter plot: {exc}")
        if not table_cache[ck]:
            # Training-free baselines do not depend on the cells' data: they still meet the space's
            # own ground truth (e.g. ImageNet's, for a supernet trained on CIFAR-10).
            tables = {lbl: t for lbl, t in _default_tables(g.space).items() if set(archs) <= set(t.arch_ids)}
        if ck in reference_done or not tables:
            continue
        reference_done.add(ck)
        if g.space not in ceiling_cache:
            ceiling_cache[g.space] = _default_tables(g.space)
        try:
            rows += _reference_rows(g, archs, tables, ceiling_cache[g.space], g_score)
            rows += _baseline_rows(g, archs, tables, g_score, baselines, Path(root) if root else None, notes)
        except WsbenchError as exc:
            notes.append(f"{g.space}/{g.protocol}: no params baseline or ceiling: {exc}")

    table = pd.DataFrame(rows, columns=table_columns())
    table = table.astype({"n_seeds": "Int64", "final_epoch": "Int64", "n_archs": "Int64"})
    order = {k: i for i, k in enumerate(KINDS)}
    table = table.sort_values(
        ["space", "protocol", "ground_truth", "kind", "label"],
        key=lambda s: s.map(order) if s.name == "kind" else s,
        kind="stable",
    ).reset_index(drop=True)
    return Analysis(
        table=table,
        curves=epoch_curves(mine),
        scatter=pd.concat(scatter_rows, ignore_index=True) if scatter_rows else pd.DataFrame(),
        aggregate=agg,
        score=score,
        last_k=last_k,
        notes=notes,
        skipped=sc.skipped,
        groups=group_scores,
    )


def _group_scores(
    g: _Group, scores: dict[str, pd.DataFrame], archs: list[str], tables: dict[str, GroundTruthTable], score: str
) -> GroupScores:
    """Every run's snapshot vectors over the group's common architectures, and the covering truths."""
    runs = [
        RunScores(c.seed, c.cell_hash, {int(e): score_vectors(scores[c.cell_hash], int(e), archs, score)
                                        for e in sorted(scores[c.cell_hash]["epoch"].unique())})
        for c in g.cells
    ]  # fmt: skip
    truths = {lbl: _oriented(t, archs) for lbl, t in tables.items()}
    return GroupScores(g.space, g.protocol, g.label, score, archs, runs, truths)


def _no_ground_truth_note(g: _Group) -> str:
    """Which ground truth these cells lack, and what the report shows instead."""
    why = g.cells[0].config.get("ground_truths_skipped") or ["none is configured for this space"]
    return (
        f"{g.space}/{g.protocol}: no ground truth for these cells ({'; '.join(why)}); their rows show ranking "
        "stability only (seed-vs-seed and snapshot-vs-snapshot tau); any baseline rows are against the space's own ground truth"
    )


def _training_compute(cell: Cell, epoch: int) -> float:
    """Millions of (training example x path) forward/backward passes behind the snapshot at ``epoch``.

    The unit in which strategies are compared at equal compute: FairNAS's 5 paths on one image
    count 5, SPOS's one path counts 1. An example is an image, or a token for a language model (a
    step's ``batch_size`` streams x ``bptt`` tokens). NaN for cells that predate the recorded schedule.
    """
    try:
        sched = cell.config["schedule"]
        per_epoch = float(sched["path_passes"]) / int(sched["epochs"])
        per_step = int(cell.config["protocol"]["batch_size"])
        if cell.config.get("data", {}).get("unit") == "tokens":
            per_step *= int(cell.config["protocol"].get("task_options", {}).get("bptt", 35))
        return per_epoch * epoch * per_step / 1e6
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return float("nan")


def _device_hours(cell: Cell, epoch: int) -> float:
    """Device-hours behind the snapshot at ``epoch``: training seconds of a run, or an imported file's stated cost.

    A trained cell's are its seconds per training epoch times ``epoch`` (scoring not counted), on the
    device its provenance names; NaN where the cell did not finish (no timing is kept before).
    """
    imported = cell.config.get("imported")
    if imported is not None:
        return float((imported.get("cost") or {}).get("device_hours", float("nan")))
    per_epoch = (cell.result or {}).get("seconds_per_epoch")
    return float(per_epoch) * epoch / 3600.0 if isinstance(per_epoch, (int, float)) else float("nan")


def _supernet_rows(
    g: _Group, rows: pd.DataFrame, scores: dict[str, pd.DataFrame], last_k: int | None, score: str, notes: list[str]
) -> list[dict[str, Any]]:
    """One row per ground truth for one strategy group: final-snapshot stats over seeds, within-run stats."""
    where = f"{g.space}/{g.label}/{g.protocol}"
    dup = pd.Series([c.seed for c in g.cells]).value_counts()
    if (dup > 1).any():
        notes.append(
            f"{where}: seed(s) {sorted(dup[dup > 1].index.tolist())} appear in more than one cell (their "
            "configs differ, e.g. device or an edited protocol); each cell counts as a run"
        )
    hashes = [c.cell_hash for c in g.cells]
    snaps = {h: sorted(df["epoch"].unique().tolist()) for h, df in scores.items()}
    used = {h: (e[-last_k:] if last_k else e) for h, e in snaps.items()}
    final = {h: e[-1] for h, e in snaps.items()}
    if last_k and any(len(e) < last_k for e in snaps.values()):
        notes.append(f"{where}: fewer than last_k={last_k} snapshots; used all of them")
    archs = _common_archs(scores)
    if any(len(df[df["epoch"] == final[h]]) != len(archs) for h, df in scores.items()):
        notes.append(f"{where}: runs scored different architecture sets; pairwise taus use the {len(archs)} they share")
    seed_tau = seed_pairwise_tau([score_vectors(scores[h], final[h], archs, score) for h in hashes])
    snap_tau = float(
        np.mean([snapshot_pairwise_tau([score_vectors(scores[h], e, archs, score) for e in used[h]]) for h in hashes])
    )
    base = {
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
        "train_mimg_paths": float(np.mean([_training_compute(c, final[c.cell_hash]) for c in g.cells])),
        "device_hours": float(np.mean([_device_hours(c, final[c.cell_hash]) for c in g.cells])),
        "seed_pairwise_tau": seed_tau,
        "snapshot_pairwise_tau": snap_tau,
    }
    out = []
    if rows.empty:  # no ground truth for these cells' data: what stays measurable is stability
        nan_row: dict[str, Any] = {**base, "ground_truth": NO_GROUND_TRUTH}
        for m in SEED_METRICS:
            key = "tau" if m == "kendall_tau" else m
            nan_row[f"{key}_mean"] = nan_row[f"{key}_sd"] = float("nan")
        nan_row["tau_lastk_mean"] = nan_row["tau_lastk_sd"] = float("nan")
        return [nan_row]
    for gt, sub in rows.groupby("ground_truth", sort=True):
        value = sub.set_index(["cell_hash", "epoch", "metric"])["value"]

        def at(h: str, e: int, m: str, value: pd.Series = value) -> float:
            return float(value.get((h, e, m), np.nan))

        row: dict[str, Any] = {**base, "ground_truth": gt}
        for m in SEED_METRICS:
            key = "tau" if m == "kendall_tau" else m
            row[f"{key}_mean"], row[f"{key}_sd"] = mean_sd([at(h, final[h], m) for h in hashes])
        within = [mean_sd([at(h, e, "kendall_tau") for e in used[h]]) for h in hashes]
        row["tau_lastk_mean"] = float(np.mean([w[0] for w in within]))
        row["tau_lastk_sd"] = float(np.mean([w[1] for w in within]))
        out.append(row)
    return out


def _fingerprint_notes(tables: dict[str, GroundTruthTable], rows: pd.DataFrame) -> list[str]:
    """Say when a ground truth read today is not the table the runs were scored against."""
    notes = []
    for lbl, t in tables.items():
        recorded = set(rows.loc[rows["ground_truth"] == lbl, "gt_fingerprint"].astype(str))
        if recorded and recorded != {t.fingerprint[:16]}:
            notes.append(
                f"{lbl}: the table read here (fingerprint {t.fingerprint[:16]}) differs from the one the runs "
                f"used ({', '.join(sorted(recorded))}); baseline and ceiling rows use today's"
            )
    return notes


def _scatter_frame(g: _Group, scores: dict[str, pd.DataFrame], tables: dict[str, GroundTruthTable], score: str) -> pd.DataFrame:
    """The lowest seed's final snapshot: each architecture's score and raw true value per ground truth."""
    lowest = g.cells[0]
    frame = scores[lowest.cell_hash]
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
            "score": estimator_values(snap, score, _fields_of(snap)),
        }
    )
    for lbl, t in tables.items():  # oriented like the score (higher = better), so the plot's tau is the metric's
        out[lbl] = _oriented(t, out["arch"].tolist())
    return out


def _reference_rows(
    g: _Group, archs: list[str], tables: dict[str, GroundTruthTable], defaults: dict[str, GroundTruthTable], score: str
) -> list[dict[str, Any]]:
    """params-baseline and ceiling rows of one (space, protocol) on its architecture set."""
    if len(archs) < 2:
        return []
    rows = []
    params = params_estimator(g.space, archs)
    others = {**defaults, **tables}
    for lbl, t in tables.items():
        true = _oriented(t, archs)
        rows.append(_reference_row(g.space, g.protocol, "params", PARAMS_LABEL, lbl, score, params, true))
        for other_lbl, other in others.items():
            # A partial table (some architectures missing) cannot serve as the ceiling's estimator.
            comparable = family(other.query.dataset) == family(t.query.dataset) and independent(other, t)
            if other_lbl != lbl and comparable and set(archs) <= set(other.arch_ids):
                rows.append(
                    _reference_row(
                        g.space,
                        g.protocol,
                        "ceiling",
                        f"ceiling ({short_gt(other_lbl)})",
                        lbl,
                        score,
                        _oriented(other, archs),
                        true,
                    )
                )
    return rows


def _baseline_rows(
    g: _Group,
    archs: list[str],
    tables: dict[str, GroundTruthTable],
    score: str,
    names: tuple[str, ...],
    root: Path | None,
    notes: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Rows of training-free baselines (random, flops, zero-cost proxies) on the same architectures.

    Seeded baselines are scored once per seed in ``BASELINE_SEEDS`` and reported as mean ± sd;
    scores are cached under ``<root>/baselines/`` since proxies cost seconds per architecture.
    """
    from harness.analysis.baselines import score_baseline

    if len(archs) < 2:
        return []
    import os

    from tqdm import tqdm

    rows = []
    # Proxies cost seconds per architecture when not cached: show a bar (off under CI).
    for name in tqdm(names, desc=f"baselines {g.space}", unit="baseline", disable=bool(os.environ.get("CI")), leave=False):
        if name == "params":
            continue  # always present as its own row
        seeds = BASELINE_SEEDS.get(name, (0,))
        try:
            per_seed = [_cached_baseline(root, g.space, name, archs, s, score_baseline) for s in seeds]
        except WsbenchError as exc:  # e.g. no FLOP count for this space: say so, keep the rest
            if notes is not None:
                notes.append(f"{g.space}/{g.protocol}: baseline {name!r} skipped: {exc}")
            continue
        for lbl, t in tables.items():
            true = _oriented(t, archs)
            vals = [M.compute_all(est, true, names=list(SEED_METRICS)) for est in per_seed]
            row = _reference_row(g.space, g.protocol, "baseline", f"{name} (baseline)", lbl, score, per_seed[0], true)
            row["n_seeds"], row["seeds"] = len(seeds), ",".join(map(str, seeds))
            for m in SEED_METRICS:
                key = "tau" if m == "kendall_tau" else m
                mean, sd = mean_sd([v[m] for v in vals])
                row[f"{key}_mean"], row[f"{key}_sd"] = mean, sd
            rows.append(row)
    return rows


def _cached_baseline(root: Path | None, space: str, name: str, archs: list[str], seed: int, fn: Any) -> np.ndarray:
    import hashlib

    from harness.analysis.baselines import PROXIES
    from harness.fileio import atomic_write_text

    text = "\n".join(archs)
    if name in PROXIES:  # proxies are built at the space's proxy network: a new one must not reuse old scores
        from spaces import SPACES

        network = SPACES.get(space).proxy_network
        text += ("\n" + json.dumps(dict(network), sort_keys=True)) if network else ""
    key = hashlib.sha256(text.encode()).hexdigest()[:12]
    path = (root / "baselines" / f"{space}-{name}-seed{seed}-{key}.csv") if root is not None else None
    if path is not None and path.exists():
        cached = pd.read_csv(path, dtype={"arch": str}, keep_default_na=False)
        if cached["arch"].tolist() == archs:
            return cached["score"].to_numpy(dtype=np.float64)
    scores = fn(name, space, archs, seed=seed)
    if path is not None:
        atomic_write_text(path, pd.DataFrame({"arch": archs, "score": scores}).to_csv(index=False))
    return scores


def epoch_curves(agg: pd.DataFrame, score: str | None = None, metrics: tuple[str, ...] = ("kendall_tau",)) -> pd.DataFrame:
    """Per (space, protocol, label, ground truth, metric, epoch): mean, sd (ddof=1), min, max over seeds.

    ``score``: keep only that estimator's rows (None: ``agg`` already holds one estimator per cell).
    """
    sub = agg[agg["metric"].isin(metrics)]
    if score is not None:
        sub = sub[sub["score"] == score]
    keys = ["space", "protocol", "label", "ground_truth", "metric", "epoch"]
    out = sub.groupby(keys, sort=True)["value"].agg(
        mean="mean", sd=lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else np.nan, min="min", max="max", n="count"
    )
    return out.reset_index()
