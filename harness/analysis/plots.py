"""The report's summary figures (PNG): each epoch-tracked metric vs epoch, score vs truth, top-k hit rates.

Each function takes the tables ``harness.analysis.stability.analyse`` builds and writes one small PNG;
panels split spaces, protocols and ground truths so no two unrelated numbers share axes. Which metrics
are drawn is declared in ``harness.metrics`` (``Over.epochs``, the ``hit_plot`` place, the headline).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from harness import metrics as M
from harness.analysis.labels import short_gt
from harness.analysis.plotting import grid, pyplot, save


def _reference(table: pd.DataFrame, space: str, protocol: str, gt: str, kind: str, column: str) -> list[tuple[str, float]]:
    """(label, value) of the fixed-estimator rows of one kind in one panel."""
    sel = table[
        (table["space"] == space) & (table["protocol"] == protocol) & (table["ground_truth"] == gt) & (table["kind"] == kind)
    ]
    return [(str(r["label"]), float(r[column])) for _, r in sel.iterrows()]


def plot_metric_vs_epoch(curves: pd.DataFrame, table: pd.DataFrame, path: str | Path, spec: M.MetricSpec) -> Path:
    """A metric vs snapshot epoch: mean over seeds with a min-max band, one line per strategy, params and ceiling levels."""
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator

    lines = curves[curves["metric"] == spec.name]
    panels = list(lines.groupby(["space", "protocol", "ground_truth"], sort=True))
    fig, axes = grid(plt, max(1, len(panels)))
    for ax, ((space, protocol, gt), sub) in zip(axes, panels):
        for label, line in sub.groupby("label", sort=True):
            line = line.sort_values("epoch")
            ax.plot(line["epoch"], line["mean"], marker="o", ms=3, label=f"{label} (n={int(line['n'].max())})")
            ax.fill_between(line["epoch"], line["min"], line["max"], alpha=0.2)
        for name, value in _reference(table, space, protocol, gt, "params", f"{spec.column}_mean"):
            ax.axhline(value, color="k", ls="--", lw=1, label=f"{name} {value:.2f}")
        for name, value in _reference(table, space, protocol, gt, "ceiling", f"{spec.column}_mean"):
            ax.axhline(value, color="grey", ls=":", lw=1, label=f"{name} {value:.2f}")
        ax.set_title(f"{space}/{protocol} vs {short_gt(gt)}", fontsize=9)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(f"{spec.header} (band: min-max over seeds)", fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return save(fig, plt, Path(path))


def _primary_gt(frame: pd.DataFrame, fixed: set[str]) -> str | None:
    """The first ground-truth column holding values for this panel (the cells' first configured truth)."""
    for col in frame.columns:
        if col not in fixed and frame[col].notna().all():
            return col
    return None


def plot_score_vs_truth(scatter: pd.DataFrame, path: str | Path, score: str = "accuracy") -> Path:
    """Final-snapshot supernet score vs true accuracy, one panel per strategy (lowest seed), the headline metric in the title."""
    # Ground-truth columns are oriented like the score (higher = better), so the title's value is the metric's.
    plt = pyplot()
    head = M.headline()
    fixed = {"space", "protocol", "label", "seed", "epoch", "arch", "score", "estimator"}
    panels = list(scatter.groupby(["space", "protocol", "label"], sort=True)) if len(scatter) else []
    fig, axes = grid(plt, max(1, len(panels)), width=3.8, height=3.4)
    for ax, ((_space, _protocol, label), sub) in zip(axes, panels):
        sub = sub.dropna(axis=1, how="all")
        gt = _primary_gt(sub, fixed)
        seed, epoch = int(sub["seed"].iloc[0]), int(sub["epoch"].iloc[0])
        if gt is None:
            ax.text(0.5, 0.5, "no ground truth readable here", ha="center", va="center", transform=ax.transAxes)
            ax.set_title(f"{label}", fontsize=9)
            continue
        true = sub[gt].to_numpy(dtype=float)
        est = sub["score"].to_numpy(dtype=float)
        value = head(est, true) if len(est) >= 2 else float("nan")
        ax.scatter(true, est, s=8, alpha=0.7)
        ax.set_title(f"{label} seed {seed} ep {epoch}: {head.column}={value:.3f}", fontsize=8)
        percent = "accuracy" in gt or "/top" in gt
        ax.set_xlabel(f"true {short_gt(gt)}" + (" (%)" if percent else " (negated: higher = better)"), fontsize=8)
        shown = str(sub["estimator"].iloc[0]) if "estimator" in sub else score
        ax.set_ylabel("supernet accuracy (%)" if shown == "accuracy" else f"supernet {shown}", fontsize=8)
        ax.grid(alpha=0.3)
    return save(fig, plt, Path(path))


def plot_hit_rates(table: pd.DataFrame, path: str | Path) -> Path:
    """Hit-rate bars (the ``hit_plot`` metrics) per strategy with sd-over-seeds error bars, beside params."""
    plt = pyplot()
    specs = M.shown_in(M.HIT_PLOT)
    rows = table[table["kind"].isin(["supernet", "params"])]
    panels = list(rows.groupby(["space", "protocol", "ground_truth"], sort=True))
    fig, axes = grid(plt, max(1, len(panels)), width=4.6)
    for ax, ((space, protocol, gt), sub) in zip(axes, panels):
        sub = pd.concat([sub[sub["kind"] == "supernet"], sub[sub["kind"] == "params"]])
        width = 0.8 / max(1, len(sub))
        x = np.arange(len(specs))
        for i, (_, r) in enumerate(sub.iterrows()):
            means = [float(r[f"{s.column}_mean"]) for s in specs]
            sds = np.nan_to_num([float(r[f"{s.column}_sd"]) for s in specs])
            # A hit rate lives in [0, 1]: clip the sd bars there rather than draw impossible values.
            err = np.vstack([np.minimum(sds, means), np.minimum(sds, 1 - np.asarray(means))])
            style = {"hatch": "//", "color": "lightgrey", "edgecolor": "k"} if r["kind"] == "params" else {}
            ax.bar(x - 0.4 + width * (i + 0.5), means, width, yerr=err, capsize=2, label=str(r["label"]), **style)
        ax.set_xticks(x, [s.name.replace("hit@", "top ") for s in specs])
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("hit rate (error bar: sd over seeds)", fontsize=8)
        ax.set_title(f"{space}/{protocol} vs {short_gt(gt)}", fontsize=9)
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=7)
    return save(fig, plt, Path(path))


def write_summary_plots(
    curves: pd.DataFrame, table: pd.DataFrame, scatter: pd.DataFrame, out: Path, name: str, score: str
) -> list[Path]:
    """Every summary figure of a report: ``<name>-<column>-vs-epoch.png`` per epoch-tracked metric, then the other two."""
    tracked = [s for s in M.METRICS.values() if s.over.epochs]
    return [
        *(plot_metric_vs_epoch(curves, table, out / f"{name}-{s.column}-vs-epoch.png", s) for s in tracked),
        plot_score_vs_truth(scatter, out / f"{name}-score-vs-truth.png", score=score),
        plot_hit_rates(table, out / f"{name}-hit-rates.png"),
    ]
