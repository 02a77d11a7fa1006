"""The "Biases" section heading; the complexity, op and isomorphism analyses follow under it (orders 31-33)."""

from __future__ import annotations

from harness.analysis.analyses.base import AnalysisPlugin, Groups, Rendered


def compute(groups: Groups) -> int:
    """How many strategy groups there are to analyse."""
    return len(groups.strategies)


def render(n_groups: int, name: str) -> Rendered:
    """The heading, after two blank lines (what follows the interval and agreement sections); or why it stays empty."""
    heading = ["", "", "## Biases"]
    return Rendered(lines=heading if n_groups else [*heading, "", "No strategy groups to analyse."])


ANALYSIS = AnalysisPlugin(order=30, compute=compute, render=render)
PLUGINS = {"analysis": {"biases": ANALYSIS}}
