"""How far each headline metric can be trusted on this many architectures, and how estimators agree.

- **Bootstrap intervals**: for every strategy group and ground truth, each metric at the final
  snapshot with a 95 % percentile interval over resampled architectures. With several runs, one
  resample draws the same architectures for every run and the statistic is the mean over runs, so
  the interval covers the seed mean the summary table shows.
- **Agreement**: Kendall tau between the final rankings of every pair of estimators of one
  (space, protocol) on the architectures both score (several runs: the mean over run pairs).

Every number comes from ``harness.analysis.metrics``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from harness.analysis import metrics as M
from harness.analysis.groups import GroupScores

#: The metrics given an interval (names from ``harness.analysis.metrics.METRICS``).
INTERVAL_METRICS = ("kendall_tau", "spearman_rho", "hit@5%", "hit@10%", "p_bottom@10%", "br@1%")


def group_intervals(g: GroupScores, n_resamples: int = 500, seed: int = 0) -> list[dict[str, object]]:
    """One row per (ground truth, metric): the seed-mean value at the final snapshot and its 95 % interval."""
    finals = np.stack([r.final for r in g.runs])
    rows: list[dict[str, object]] = []
    for gt, true in g.truths.items():
        keep = np.isfinite(true) & np.isfinite(finals).all(axis=0)
        if keep.sum() < 3:
            continue
        runs, t = finals[:, keep], true[keep]
        for name in INTERVAL_METRICS:
            spec = M.METRICS[name]
            values = [spec(run, t) for run in runs]
            value = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
            low, high = M.bootstrap_ci(spec, runs, t, n_resamples=n_resamples, seed=seed)
            rows.append(
                {"space": g.space, "protocol": g.protocol, "label": g.label, "ground_truth": gt, "metric": name,
                 "value": value, "low": low, "high": high, "n_runs": len(runs), "n_archs": int(t.size)}
            )  # fmt: skip
    return rows


def interval_table(groups: Sequence[GroupScores], n_resamples: int = 500, seed: int = 0) -> pd.DataFrame:
    """``group_intervals`` of every group with ground truth."""
    rows = [r for g in groups for r in group_intervals(g, n_resamples, seed)]
    cols = ["space", "protocol", "label", "ground_truth", "metric", "value", "low", "high", "n_runs", "n_archs"]
    return pd.DataFrame(rows, columns=cols)


def _mean_cross_tau(a: GroupScores, b: GroupScores) -> tuple[float, int]:
    """Mean Kendall tau over run pairs of two groups, on the architectures both scored; and their count."""
    shared = sorted(set(a.archs) & set(b.archs))
    if len(shared) < 2:
        return float("nan"), len(shared)
    ia = [a.archs.index(x) for x in shared]
    ib = [b.archs.index(x) for x in shared]
    taus = [M.kendall_tau(ra.final[ia], rb.final[ib]) for ra in a.runs for rb in b.runs]
    return float(np.nanmean(taus)) if np.isfinite(taus).any() else float("nan"), len(shared)


def agreement_table(groups: Sequence[GroupScores]) -> pd.DataFrame:
    """Kendall tau between every pair of estimators of one (space, protocol)."""
    rows = []
    by_block: dict[tuple[str, str], list[GroupScores]] = {}
    for g in groups:
        by_block.setdefault((g.space, g.protocol), []).append(g)
    for (space, protocol), members in sorted(by_block.items()):
        for a, b in combinations(members, 2):
            tau, n = _mean_cross_tau(a, b)
            rows.append({"space": space, "protocol": protocol, "a": a.label, "b": b.label, "kendall_tau": tau, "n_archs": n})
    return pd.DataFrame(rows, columns=["space", "protocol", "a", "b", "kendall_tau", "n_archs"])


def _fmt(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:.3f}"


def interval_lines(table: pd.DataFrame, short: Callable[[str], str]) -> list[str]:
    """Markdown: one table per (space, protocol), a row per group and ground truth, ``value [low, high]`` cells."""
    if table.empty:
        return []
    lines = ["## Bootstrap intervals (95 %, over architectures)", ""]
    for (space, protocol), block in table.groupby(["space", "protocol"], sort=True):
        lines += [
            f"### {space} · `{protocol}`",
            "",
            "| strategy | ground truth | runs | archs | " + " | ".join(INTERVAL_METRICS) + " |",
        ]
        lines.append("|---|---|---:|---:|" + "---:|" * len(INTERVAL_METRICS))
        for (label, gt), sub in block.groupby(["label", "ground_truth"], sort=True):
            cells = sub.set_index("metric")
            vals = [
                f"{_fmt(cells.at[m, 'value'])} [{_fmt(cells.at[m, 'low'])}, {_fmt(cells.at[m, 'high'])}]"
                if m in cells.index
                else "n/a"
                for m in INTERVAL_METRICS
            ]
            first = sub.iloc[0]
            lines.append(f"| {label} | {short(gt)} | {first['n_runs']} | {first['n_archs']} | " + " | ".join(vals) + " |")
        lines.append("")
    lines.append(
        "With several runs the value is the mean over runs and one resample draws the same architectures for all of them. br@1% is lower-better."
    )
    return lines


def agreement_lines(table: pd.DataFrame) -> list[str]:
    """Markdown: the pairwise agreement of estimators, per (space, protocol)."""
    if table.empty:
        return []
    lines = [
        "## Agreement between estimators (Kendall tau of their final rankings)",
        "",
        "| space | protocol | estimator | estimator | tau | archs |",
        "|---|---|---|---|---:|---:|",
    ]
    for _, r in table.iterrows():
        lines.append(f"| {r['space']} | {r['protocol']} | {r['a']} | {r['b']} | {_fmt(r['kendall_tau'])} | {r['n_archs']} |")
    return lines
