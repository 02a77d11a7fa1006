"""Bootstrap intervals (95 %, over architectures) of the ``interval`` metrics, per group and ground truth."""

from __future__ import annotations

import pandas as pd

from harness import metrics as M
from harness.analysis.analyses.base import AnalysisPlugin, Groups, Rendered
from harness.analysis.confidence import interval_table
from harness.analysis.labels import short_gt
from harness.analysis.markdown import num


def compute(groups: Groups) -> pd.DataFrame | None:
    """The interval table of every strategy and fixed-estimator group (None: the report asked for no intervals)."""
    return interval_table(groups.estimators, n_resamples=groups.bootstrap) if groups.bootstrap else None


def _cell(cells: pd.DataFrame, metric: str) -> str:
    """``value [low, high]`` of one metric, or n/a where it has no row."""
    if metric not in cells.index:
        return "n/a"
    return f"{num(cells.at[metric, 'value'])} [{num(cells.at[metric, 'low'])}, {num(cells.at[metric, 'high'])}]"


def _footnote(names: list[str]) -> str:
    """What the values are, and which metrics are lower-better."""
    lower = [s.name for s in M.shown_in(M.INTERVAL) if not s.higher_is_better]
    said = f" {' and '.join(lower)} {'is' if len(lower) == 1 else 'are'} lower-better." if lower else ""
    return (
        "With several runs the value is the mean over runs and one resample draws the same architectures for all of them." + said
    )


def lines(table: pd.DataFrame) -> list[str]:
    """Markdown: one table per (space, protocol), a row per group and ground truth, ``value [low, high]`` cells."""
    if table.empty:
        return []
    names = list(M.names_shown(M.INTERVAL))
    out = ["## Bootstrap intervals (95 %, over architectures)", ""]
    for (space, protocol), block in table.groupby(["space", "protocol"], sort=True):
        out += [f"### {space} · `{protocol}`", "", "| strategy | ground truth | runs | archs | " + " | ".join(names) + " |"]
        out.append("|---|---|---:|---:|" + "---:|" * len(names))
        for (label, gt), sub in block.groupby(["label", "ground_truth"], sort=True):
            cells = sub.set_index("metric")
            first = sub.iloc[0]
            vals = [_cell(cells, m) for m in names]
            out.append(f"| {label} | {short_gt(gt)} | {first['n_runs']} | {first['n_archs']} | " + " | ".join(vals) + " |")
        out.append("")
    return [*out, _footnote(names)]


def render(table: pd.DataFrame | None, name: str) -> Rendered:
    """The interval section and ``<name>-intervals.csv``; nothing without intervals."""
    if table is None:
        return Rendered()
    return Rendered(lines=lines(table), frames={"intervals": table})


ANALYSIS = AnalysisPlugin(order=10, compute=compute, render=render)
PLUGINS = {"analysis": {"intervals": ANALYSIS}}
