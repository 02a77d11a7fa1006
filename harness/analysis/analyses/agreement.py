"""Agreement between estimators: Kendall tau of the final rankings of every pair in one (space, protocol)."""

from __future__ import annotations

import pandas as pd

from harness.analysis.analyses.base import AnalysisPlugin, Groups, Rendered
from harness.analysis.confidence import agreement_table
from harness.analysis.markdown import num


def compute(groups: Groups) -> pd.DataFrame:
    """The agreement table of every strategy and fixed-estimator group."""
    return agreement_table(groups.estimators)


def lines(table: pd.DataFrame) -> list[str]:
    """Markdown: the pairwise agreement of estimators, per (space, protocol)."""
    if table.empty:
        return []
    out = [
        "## Agreement between estimators (Kendall tau of their final rankings)",
        "",
        "| space | protocol | estimator | estimator | tau | archs |",
        "|---|---|---|---|---:|---:|",
    ]
    for _, r in table.iterrows():
        out.append(f"| {r['space']} | {r['protocol']} | {r['a']} | {r['b']} | {num(r['kendall_tau'])} | {r['n_archs']} |")
    return out


def render(table: pd.DataFrame, name: str) -> Rendered:
    """The agreement section (after a blank line) and ``<name>-agreement.csv``, written even when empty."""
    section = lines(table)
    return Rendered(lines=["", *section] if section else [], frames={"agreement": table})


ANALYSIS = AnalysisPlugin(order=20, compute=compute, render=render)
PLUGINS = {"analysis": {"agreement": ANALYSIS}}
