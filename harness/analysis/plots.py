"""The report's three figures (PNG, matplotlib Agg): tau vs epoch, score vs truth, top-k hit rates.

Each function takes the tables ``harness.analysis.stability.analyse`` builds and writes one small PNG
(dpi 100); panels split spaces, protocols and ground truths so no two unrelated numbers share axes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis import metrics as M
from harness.analysis.stability import short_gt
from harness.fileio import atomic_write_bytes

DPI = 100
HIT_METRICS = ("hit@1%", "hit@5%", "hit@10%")


def _pyplot() -> Any:
    """pyplot on the non-interactive Agg backend (chosen before pyplot is imported: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _grid(plt: Any, n: int, width: float = 4.2, height: float = 3.2) -> tuple[Any, list[Any]]:
    cols = min(3, max(1, n))
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _save(fig: Any, plt: Any, path: Path) -> Path:
    import io

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path


def _reference(table: pd.DataFrame, space: str, protocol: str, gt: str, kind: str, column: str) -> list[tuple[str, float]]:
    sel = table[
        (table["space"] == space) & (table["protocol"] == protocol) & (table["ground_truth"] == gt) & (table["kind"] == kind)
    ]
    return [(str(r["label"]), float(r[column])) for _, r in sel.iterrows()]


def plot_tau_vs_epoch(curves: pd.DataFrame, table: pd.DataFrame, path: str | Path) -> Path:
    """Kendall tau vs snapshot epoch: mean over seeds with a min-max band, one line per strategy."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    tau = curves[curves["metric"] == "kendall_tau"]
    panels = list(tau.groupby(["space", "protocol", "ground_truth"], sort=True))
    fig, axes = _grid(plt, max(1, len(panels)))
    for ax, ((space, protocol, gt), sub) in zip(axes, panels):
        for label, line in sub.groupby("label", sort=True):
            line = line.sort_values("epoch")
            ax.plot(line["epoch"], line["mean"], marker="o", ms=3, label=f"{label} (n={int(line['n'].max())})")
            ax.fill_between(line["epoch"], line["min"], line["max"], alpha=0.2)
        for name, value in _reference(table, space, protocol, gt, "params", "tau_mean"):
            ax.axhline(value, color="k", ls="--", lw=1, label=f"{name} {value:.2f}")
        for name, value in _reference(table, space, protocol, gt, "ceiling", "tau_mean"):
            ax.axhline(value, color="grey", ls=":", lw=1, label=f"{name} {value:.2f}")
        ax.set_title(f"{space}/{protocol} vs {short_gt(gt)}", fontsize=9)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("Kendall tau (band: min-max over seeds)", fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _save(fig, plt, Path(path))


def _primary_gt(frame: pd.DataFrame, fixed: set[str]) -> str | None:
    """The first ground-truth column holding values for this panel (the cells' first configured truth)."""
    for col in frame.columns:
        if col not in fixed and frame[col].notna().all():
            return col
    return None


def plot_score_vs_truth(scatter: pd.DataFrame, path: str | Path, score: str = "accuracy") -> Path:
    # Ground-truth columns are oriented like the score (higher = better), so the title's tau is the metric's.
    """Final-snapshot supernet score vs true accuracy, one panel per strategy (lowest seed), tau in the title."""
    plt = _pyplot()
    fixed = {"space", "protocol", "label", "seed", "epoch", "arch", "score", "estimator"}
    panels = list(scatter.groupby(["space", "protocol", "label"], sort=True)) if len(scatter) else []
    fig, axes = _grid(plt, max(1, len(panels)), width=3.8, height=3.4)
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
        tau = M.kendall_tau(est, true) if len(est) >= 2 else float("nan")
        ax.scatter(true, est, s=8, alpha=0.7)
        ax.set_title(f"{label} seed {seed} ep {epoch}: tau={tau:.3f}", fontsize=8)
        percent = "accuracy" in gt or "/top" in gt
        ax.set_xlabel(f"true {short_gt(gt)}" + (" (%)" if percent else " (negated: higher = better)"), fontsize=8)
        shown = str(sub["estimator"].iloc[0]) if "estimator" in sub else score
        ax.set_ylabel("supernet accuracy (%)" if shown == "accuracy" else f"supernet {shown}", fontsize=8)
        ax.grid(alpha=0.3)
    return _save(fig, plt, Path(path))


def plot_hit_rates(table: pd.DataFrame, path: str | Path) -> Path:
    """Top-k hit rate bars (k = 1, 5, 10 %) per strategy with sd-over-seeds error bars, beside params."""
    plt = _pyplot()
    rows = table[table["kind"].isin(["supernet", "params"])]
    panels = list(rows.groupby(["space", "protocol", "ground_truth"], sort=True))
    fig, axes = _grid(plt, max(1, len(panels)), width=4.6)
    for ax, ((space, protocol, gt), sub) in zip(axes, panels):
        sub = pd.concat([sub[sub["kind"] == "supernet"], sub[sub["kind"] == "params"]])
        n = len(sub)
        width = 0.8 / max(1, n)
        x = np.arange(len(HIT_METRICS))
        for i, (_, r) in enumerate(sub.iterrows()):
            means = [float(r[f"{m}_mean"]) for m in HIT_METRICS]
            sds = np.nan_to_num([float(r[f"{m}_sd"]) for m in HIT_METRICS])
            # A hit rate lives in [0, 1]: clip the sd bars there rather than draw impossible values.
            err = np.vstack([np.minimum(sds, means), np.minimum(sds, 1 - np.asarray(means))])
            style = {"hatch": "//", "color": "lightgrey", "edgecolor": "k"} if r["kind"] == "params" else {}
            ax.bar(x - 0.4 + width * (i + 0.5), means, width, yerr=err, capsize=2, label=str(r["label"]), **style)
        ax.set_xticks(x, [m.replace("hit@", "top ") for m in HIT_METRICS])
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("hit rate (error bar: sd over seeds)", fontsize=8)
        ax.set_title(f"{space}/{protocol} vs {short_gt(gt)}", fontsize=9)
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=7)
    return _save(fig, plt, Path(path))
