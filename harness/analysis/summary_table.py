"""The report's summary in Markdown: one table per (space, protocol) and a verdict per strategy against params.

The metric columns are those declared for the ``table`` place in ``harness.metrics``, after the
headline metric (final snapshot, and within a run where its spec declares ``Over.last_k``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness import metrics as M
from harness.analysis.labels import short_gt
from harness.analysis.markdown import mean_pm, num
from harness.engine.scoring import NO_GROUND_TRUTH

WITHIN_RUN = "(last K, within run)"


def _hours(x: float) -> str:
    """Device-hours to three significant digits (they span minutes to days)."""
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.3g}"


def _table_specs() -> list[M.MetricSpec]:
    """The metrics with a column after the headline's, in declaration order."""
    return [s for s in M.shown_in(M.TABLE) if s is not M.headline()]


def header() -> list[str]:
    """The Markdown table's column headers."""
    head = M.headline()
    cols = ["strategy", "ground truth", f"{head.column} (final)"]
    cols += [f"{head.column} {WITHIN_RUN}"] if head.over.last_k else []
    cols += ["seed-vs-seed tau", "snapshot-vs-snapshot tau"]
    for spec in _table_specs():
        cols += [spec.header, *([f"{spec.header} {WITHIN_RUN}"] if spec.over.last_k else [])]
    return [*cols, "seeds", "epochs", "compute (M examples×path)", "device-h"]


def _metric_cells(r: pd.Series, spec: M.MetricSpec) -> list[str]:
    """mean ± sd of one metric at the final snapshot, then within a run where its spec asks for it."""
    c = spec.column
    within = [mean_pm(r[f"{c}_lastk_mean"], r[f"{c}_lastk_sd"])] if spec.over.last_k else []
    return [mean_pm(r[f"{c}_mean"], r[f"{c}_sd"]), *within]


def markdown_table(table: pd.DataFrame) -> str:
    """The Markdown table of one (space, protocol) block: strategies, then params and ceiling rows."""
    cols = header()
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * 2 + "---:|" * (len(cols) - 2)]
    for _, r in table.iterrows():
        supernet = r["kind"] == "supernet"
        cells = [
            str(r["label"]) if supernet else f"**{r['label']}**",
            short_gt(r["ground_truth"]),
            *_metric_cells(r, M.headline()),
            num(r["seed_pairwise_tau"]),
            num(r["snapshot_pairwise_tau"]),
            *(cell for spec in _table_specs() for cell in _metric_cells(r, spec)),
            str(int(r["n_seeds"])) if supernet else "-",
            r["epochs"] or "-",
            num(r["train_mimg_paths"], 3) if supernet else "-",
            _hours(r["device_hours"]) if supernet else "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _verdict(mean: float, sd: float, base: float, ceiling: pd.DataFrame, column: str) -> str:
    """How a strategy's headline mean compares with the params baseline's, in words."""
    sd = sd if np.isfinite(sd) else 0.0
    if mean <= base:
        verdict = f"does NOT beat the params baseline ({base:.3f}): ranking by parameter count is better"
    elif mean - sd <= base:
        verdict = f"beats the params baseline ({base:.3f}) on average, but within one sd over seeds"
    else:
        verdict = f"beats the params baseline ({base:.3f}) by more than one sd over seeds"
    if not ceiling.empty:
        verdict += f"; ground-truth ceiling {float(ceiling[f'{column}_mean'].iloc[0]):.3f}"
    return verdict


def verdicts(table: pd.DataFrame) -> list[str]:
    """One line per strategy and ground truth: does its final headline metric beat the params baseline, and by how much."""
    c = M.headline().column
    out = []
    for (space, protocol, gt), sub in table.groupby(["space", "protocol", "ground_truth"], sort=False):
        base = sub[sub["kind"] == "params"][f"{c}_mean"]
        ceiling = sub[sub["kind"] == "ceiling"]
        for _, r in sub[sub["kind"] == "supernet"].iterrows():
            if gt == NO_GROUND_TRUTH:
                out.append(
                    f"- {space}/{protocol} {r['label']}: no ground truth for its data, so stability only: seed-vs-seed tau "
                    f"{num(r['seed_pairwise_tau'])}, snapshot-vs-snapshot tau {num(r['snapshot_pairwise_tau'])}."
                )
                continue
            head = f"- {space}/{protocol} {r['label']} vs {short_gt(gt)}: {c} {mean_pm(r[f'{c}_mean'], r[f'{c}_sd'])}"
            if base.empty or not np.isfinite(r[f"{c}_mean"]):
                out.append(head + " (no params baseline to compare with here).")
            elif not np.isfinite(float(base.iloc[0])):
                out.append(head + " (the params baseline is undefined here: every architecture has the same parameter count).")
            else:
                out.append(f"{head} {_verdict(r[f'{c}_mean'], r[f'{c}_sd'], float(base.iloc[0]), ceiling, c)}.")
    return out
