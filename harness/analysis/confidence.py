"""How far each metric can be trusted on this many architectures, and how estimators agree.

- **Bootstrap intervals**: for every strategy group and ground truth, each metric declared for the
  ``interval`` place (``harness.metrics``) at the final snapshot with a 95 % percentile interval over
  resampled architectures. With several runs, one resample draws the same architectures for every
  run and the statistic is the mean over runs, so the interval covers the seed mean the summary
  table shows.
- **Agreement**: Kendall tau between the final rankings of every pair of estimators of one
  (space, protocol) on the architectures both score (several runs: the mean over run pairs).

Every number comes from ``harness.metrics``.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from harness import metrics as M
from harness.analysis.groups import GroupScores

INTERVAL_COLUMNS = ["space", "protocol", "label", "ground_truth", "metric", "value", "low", "high", "n_runs", "n_archs"]
AGREEMENT_COLUMNS = ["space", "protocol", "a", "b", "kendall_tau", "n_archs"]


def group_intervals(
    g: GroupScores, n_resamples: int = 500, seed: int = 0, metrics: Sequence[str] | None = None
) -> list[dict[str, object]]:
    """One row per (ground truth, metric): the seed-mean value at the final snapshot and its 95 % interval.

    ``metrics``: these names only (default: every ``interval`` metric); each metric's resamples depend
    only on ``seed``, so its interval is the same whichever others are asked for.
    """
    specs = M.shown_in(M.INTERVAL) if metrics is None else tuple(M.METRICS[m] for m in metrics)
    finals = np.stack([r.final for r in g.runs])
    rows: list[dict[str, object]] = []
    for gt, true in g.truths.items():
        keep = np.isfinite(true) & np.isfinite(finals).all(axis=0)
        if keep.sum() < 3:
            continue
        runs, t = finals[:, keep], true[keep]
        for spec in specs:
            values = [spec(run, t) for run in runs]
            value = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
            low, high = M.bootstrap_ci(spec, runs, t, n_resamples=n_resamples, seed=seed)
            rows.append(
                {"space": g.space, "protocol": g.protocol, "label": g.label, "ground_truth": gt, "metric": spec.name,
                 "value": value, "low": low, "high": high, "n_runs": len(runs), "n_archs": int(t.size)}
            )  # fmt: skip
    return rows


def interval_table(
    groups: Sequence[GroupScores], n_resamples: int = 500, seed: int = 0, metrics: Sequence[str] | None = None
) -> pd.DataFrame:
    """``group_intervals`` of every group with ground truth."""
    rows = [r for g in groups for r in group_intervals(g, n_resamples, seed, metrics)]
    return pd.DataFrame(rows, columns=INTERVAL_COLUMNS)


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
    return pd.DataFrame(rows, columns=AGREEMENT_COLUMNS)
