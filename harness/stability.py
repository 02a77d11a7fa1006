"""How much a supernet's ranking varies across snapshot epochs and seeds, beside its baselines.

Per space x strategy label x protocol x ground truth, from the cells' metric rows (computed by the
cell runner with ``harness.metrics``) and their score files:

- each metric at the final snapshot as mean ± sd over seeds (sd with ddof=1);
- Kendall tau over the last K snapshots within a run: mean and sd per run, averaged over seeds;
- ranking stability without any ground truth: Kendall tau between the rankings of different seeds
  at the final snapshot, and between different snapshots of one run (averaged over seeds), both as
  the mean of the off-diagonal of ``harness.metrics.pairwise_kendall``;
- the ``params`` baseline (parameter count of the standard network as the estimator) and the
  ground-truth ceiling (another ground truth of the same dataset family as the estimator) on the
  same architectures.

Every number comes from ``harness.metrics``; nothing here re-implements a metric.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness import metrics as M
from harness.errors import WsbenchError
from harness.ground_truth import GroundTruthTable
from harness.gt_report import family
from harness.store import Cell, Scan, frame_of, load_scores, scan

#: Metrics reported per snapshot as mean ± sd over seeds (names from ``harness.metrics``).
SEED_METRICS = ("kendall_tau", "spearman_rho", "hit@1%", "hit@5%", "hit@10%", "br@1%", "tau_top10%")
SCORE_KINDS = ("accuracy", "neg_loss")
PARAMS_LABEL = "params (baseline)"
KINDS = ("supernet", "params", "ceiling")


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


def table_columns() -> list[str]:
    """Column order of ``Analysis.table`` (and of the report CSV)."""
    cols = ["space", "protocol", "kind", "label", "ground_truth", "score", "n_seeds", "seeds", "epochs",
            "final_epoch", "n_archs", "tau_mean", "tau_sd", "tau_lastk_mean", "tau_lastk_sd",
            "seed_pairwise_tau", "snapshot_pairwise_tau"]
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
    snap = scores[scores["epoch"] == epoch].set_index("arch")
    col = snap["accuracy"] if score == "accuracy" else -snap["loss"]
    return col.reindex(archs).to_numpy(dtype=float)


def seed_pairwise_tau(vectors: list[np.ndarray]) -> float:
    """Mean Kendall tau between the rankings of different seeds (nan with fewer than 2)."""
    return M.mean_offdiag(M.pairwise_kendall(vectors)) if len(vectors) >= 2 else float("nan")


def snapshot_pairwise_tau(vectors: list[np.ndarray]) -> float:
    """Mean Kendall tau between the rankings of different snapshots of one run (nan with fewer than 2)."""
    return M.mean_offdiag(M.pairwise_kendall(vectors)) if len(vectors) >= 2 else float("nan")


def _check_choice(score: str, last_k: int | None) -> None:
    if score not in SCORE_KINDS:
        from harness.errors import unknown

        raise unknown("score kind", score, SCORE_KINDS)
    if last_k is not None and (isinstance(last_k, bool) or not isinstance(last_k, int) or last_k < 1):
        raise WsbenchError(f"last_k must be an int >= 1 (the number of final snapshots to use), got {last_k!r}")


def load_tables(space: str, specs: list[list[str]]) -> tuple[dict[str, GroundTruthTable], list[str]]:
    """The ground-truth tables named in a cell config that can be read here, by label; and why not others."""
    from harness.train import available_ground_truths

    try:
        tables, skipped = available_ground_truths(space, tuple(tuple(s) for s in specs))
    except WsbenchError as exc:
        return {}, [str(exc)]
    return {t.query.label(): t for t in tables}, skipped


def _oriented(table: GroundTruthTable, archs: list[str]) -> np.ndarray:
    v = table.lookup(archs)
    return v if table.higher_is_better else -v


def params_estimator(space_name: str, archs: list[str]) -> np.ndarray:
    """Parameter count (millions) of each architecture's standard stand-alone network."""
    from spaces import SPACES

    space = SPACES.get(space_name)
    return np.array([space.cost(a).params_m for a in archs], dtype=float)


def _reference_row(space: str, protocol: str, kind: str, label: str, gt: str, score: str,
                   est: np.ndarray, true: np.ndarray) -> dict[str, Any]:
    """A row for a fixed estimator (params, another ground truth): no seeds, no sd."""
    vals = M.compute_all(est, true, names=list(SEED_METRICS))
    row: dict[str, Any] = {
        "space": space, "protocol": protocol, "kind": kind, "label": label, "ground_truth": gt, "score": score,
        "n_seeds": 0, "seeds": "", "epochs": "", "final_epoch": np.nan, "n_archs": len(est),
        "tau_mean": vals["kendall_tau"], "tau_sd": np.nan, "tau_lastk_mean": np.nan, "tau_lastk_sd": np.nan,
        "seed_pairwise_tau": np.nan, "snapshot_pairwise_tau": np.nan,
    }
    for m in SEED_METRICS[1:]:
        row[f"{m}_mean"], row[f"{m}_sd"] = vals[m], np.nan
    return row


def _short_gt(label: str) -> str:
    """``nb201/analog:cifar10/test/accuracy@as-published`` -> ``analog:cifar10/test``."""
    body = label.split("/", 1)[-1]
    return body.rsplit("/", 1)[0]


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


def _common_archs(frames: dict[str, pd.DataFrame], epoch_of: dict[str, int]) -> list[str]:
    sets = [set(df.loc[df["epoch"] == epoch_of[h], "arch"]) for h, df in frames.items()]
    return sorted(set.intersection(*sets)) if sets else []


def analyse(
    root: str | Path | None = None,
    last_k: int | None = None,
    score: str = "accuracy",
    cells: list[str] | None = None,
) -> Analysis:
    """Stability table, curves and scatter data over the finished cells under ``root``.

    ``last_k``: how many final snapshots per run enter the within-run numbers (default: all the
    protocol's snapshots). ``cells``: restrict to these cell hashes (full or 10-digit prefixes).
    """
    _check_choice(score, last_k)
    sc = scan(root)
    if cells is not None:
        wanted = tuple(str(h) for h in cells)
        sc = Scan(sc.root, [c for c in sc.cells if c.cell_hash.startswith(wanted)], sc.skipped)
    agg = frame_of(sc)
    notes: list[str] = []
    rows: list[dict[str, Any]] = []
    scatter_rows: list[pd.DataFrame] = []
    mine = agg[agg["score"] == score]
    reference_done: set[tuple[str, str]] = set()
    table_cache: dict[tuple[str, str], tuple[dict[str, GroundTruthTable], list[str]]] = {}

    for g in _groups(sc.cells):
        dup = pd.Series([c.seed for c in g.cells]).value_counts()
        if (dup > 1).any():
            notes.append(
                f"{g.space}/{g.label}/{g.protocol}: seed(s) {sorted(dup[dup > 1].index.tolist())} appear in "
                "more than one cell (their configs differ, e.g. device or an edited protocol); each cell counts as a run"
            )
        hashes = [c.cell_hash for c in g.cells]
        gm = mine[mine["cell_hash"].isin(hashes)]
        scores = {c.cell_hash: load_scores(c.run_dir) for c in g.cells}
        snaps = {h: sorted(df["epoch"].unique().tolist()) for h, df in scores.items()}
        used = {h: (e[-last_k:] if last_k else e) for h, e in snaps.items()}
        final = {h: e[-1] for h, e in snaps.items()}
        if last_k and any(len(e) < last_k for e in snaps.values()):
            notes.append(f"{g.space}/{g.label}/{g.protocol}: fewer than last_k={last_k} snapshots; used all of them")
        archs = _common_archs(scores, final)
        if any(len(scores[h][scores[h]["epoch"] == final[h]]) != len(archs) for h in hashes):
            notes.append(f"{g.space}/{g.label}/{g.protocol}: runs scored different architecture sets; "
                         f"pairwise taus use the {len(archs)} they share")
        seed_vecs = [score_vectors(scores[h], final[h], archs, score) for h in hashes]
        seed_tau = seed_pairwise_tau(seed_vecs)
        snap_tau = float(np.mean([
            snapshot_pairwise_tau([score_vectors(scores[h], e, archs, score) for e in used[h]]) for h in hashes
        ]))
        epochs_txt = ",".join(str(e) for e in sorted({e for v in used.values() for e in v}))
        seeds_txt = ",".join(str(c.seed) for c in g.cells)
        final_epoch = max(final.values())

        for gt in sorted(gm["ground_truth"].unique()):
            sub = gm[gm["ground_truth"] == gt]
            row: dict[str, Any] = {
                "space": g.space, "protocol": g.protocol, "kind": "supernet", "label": g.label, "ground_truth": gt,
                "score": score, "n_seeds": len(hashes), "seeds": seeds_txt, "epochs": epochs_txt,
                "final_epoch": final_epoch, "n_archs": len(archs),
                "seed_pairwise_tau": seed_tau, "snapshot_pairwise_tau": snap_tau,
            }
            for m in SEED_METRICS:
                finals = [_value(sub, h, final[h], m) for h in hashes]
                key = "tau" if m == "kendall_tau" else m
                row[f"{key}_mean"], row[f"{key}_sd"] = mean_sd(finals)
            within = [mean_sd([_value(sub, h, e, "kendall_tau") for e in used[h]]) for h in hashes]
            row["tau_lastk_mean"] = float(np.mean([w[0] for w in within]))
            row["tau_lastk_sd"] = float(np.mean([w[1] for w in within]))
            rows.append(row)

        # Fixed-estimator rows and scatter data need the ground-truth tables themselves.
        first = g.cells[0].config
        ck = (g.space, g.protocol)
        if ck not in table_cache:
            table_cache[ck] = load_tables(g.space, first.get("ground_truths", []))
            for why in table_cache[ck][1]:
                notes.append(f"{g.space}/{g.protocol}: ground truth not readable here, so no baseline or ceiling for it: {why}")
        tables, _ = table_cache[ck]
        for lbl, t in tables.items():
            recorded = set(gm.loc[gm["ground_truth"] == lbl, "gt_fingerprint"].astype(str))
            if recorded and recorded != {t.fingerprint[:16]}:
                notes.append(f"{lbl}: the table read here (fingerprint {t.fingerprint[:16]}) differs from the one "
                             f"the runs used ({', '.join(sorted(recorded))}); baseline and ceiling rows use today's")
        lowest = g.cells[0]
        sframe = scores[lowest.cell_hash]
        snap = sframe[sframe["epoch"] == final[lowest.cell_hash]]
        sdf = pd.DataFrame({
            "space": g.space, "protocol": g.protocol, "label": g.label, "seed": lowest.seed,
            "epoch": final[lowest.cell_hash], "arch": snap["arch"].to_numpy(),
            "score": snap["accuracy"].to_numpy() if score == "accuracy" else -snap["loss"].to_numpy(),
        })
        for lbl, t in tables.items():
            sdf[lbl] = t.lookup(sdf["arch"].tolist())
        scatter_rows.append(sdf)

        if ck in reference_done or not tables or len(archs) < 2:
            continue
        reference_done.add(ck)
        params = params_estimator(g.space, archs)
        for lbl, t in tables.items():
            true = _oriented(t, archs)
            rows.append(_reference_row(g.space, g.protocol, "params", PARAMS_LABEL, lbl, score, params, true))
            for other_lbl, other in tables.items():
                if other_lbl != lbl and family(other.query.dataset) == family(t.query.dataset):
                    rows.append(_reference_row(
                        g.space, g.protocol, "ceiling", f"ceiling ({_short_gt(other_lbl)})", lbl, score,
                        _oriented(other, archs), true,
                    ))

    table = pd.DataFrame(rows, columns=table_columns())
    order = {k: i for i, k in enumerate(KINDS)}
    table = table.sort_values(
        ["space", "protocol", "ground_truth", "kind", "label"], key=lambda s: s.map(order) if s.name == "kind" else s,
        kind="stable",
    ).reset_index(drop=True)
    return Analysis(
        table=table, curves=epoch_curves(agg, score), scatter=pd.concat(scatter_rows, ignore_index=True),
        aggregate=agg, score=score, last_k=last_k, notes=notes, skipped=sc.skipped,
    )


def _value(sub: pd.DataFrame, cell_hash: str, epoch: int, metric: str) -> float:
    hit = sub[(sub["cell_hash"] == cell_hash) & (sub["epoch"] == epoch) & (sub["metric"] == metric)]["value"]
    return float(hit.iloc[0]) if len(hit) else float("nan")


def epoch_curves(agg: pd.DataFrame, score: str = "accuracy", metrics: tuple[str, ...] = ("kendall_tau",)) -> pd.DataFrame:
    """Per (space, protocol, label, ground truth, metric, epoch): mean, sd (ddof=1), min, max over seeds."""
    sub = agg[(agg["score"] == score) & (agg["metric"].isin(metrics))]
    keys = ["space", "protocol", "label", "ground_truth", "metric", "epoch"]
    out = sub.groupby(keys, sort=True)["value"].agg(
        mean="mean", sd=lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else np.nan, min="min", max="max", n="count"
    )
    return out.reset_index()
