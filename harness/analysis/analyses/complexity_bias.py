"""Complexity bias: does the supernet overrate small (or large) cells? (``harness.analysis.bias``)"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from harness.analysis import bias as B
from harness.analysis.analyses.base import AnalysisPlugin, Figure, Findings, Groups, Rendered, attempt
from harness.analysis.groups import GroupScores
from harness.analysis.labels import short_gt
from harness.analysis.markdown import blocks, notes, num, over_runs, table
from harness.analysis.plotting import grid, pyplot, save

#: Bins of the mean-error line over the complexity scatter.
ERROR_BINS = 10

HEADER = [
    "strategy",
    "ground truth",
    "tau(est, truth)",
    "tau(params, truth)",
    "tau(error, params)",
    "tau(error, FLOPs)",
    "tau(seed-mean error, params)",
    "partial tau(est, params; truth held)",
    "partial tau(est, truth; params held)",
    f"tau within {B.N_STRATA} params strata",
]
INTRO = (
    "error = the estimator's normalized rank minus the true one (> 0: overrated); tau(error, params) < 0 means "
    "smaller cells are overrated. Where params predicts the truth, any noisy estimator shows a negative value "
    "there (it underrates the truly best, which are large): `partial tau(est, params; truth held)` is the "
    "estimator's own lean toward size. Partial tau: (t_xy - t_xz t_yz) / sqrt((1 - t_xz²)(1 - t_yz²)). "
    "Each run's final snapshot; mean ± sd over seeds."
)


@dataclass
class GroupComplexity:
    """One group's complexity bias per ground truth, and the costs it was measured against."""

    group: GroupScores
    costs: dict[str, np.ndarray] = field(default_factory=dict)
    biases: list[B.ComplexityBias] = field(default_factory=list)


def _of_group(group: GroupScores, found: list[str]) -> GroupComplexity:
    """The complexity bias of one group, or notes saying why not."""
    entry = GroupComplexity(group)
    if not group.truths:
        found.append(f"{group.where}: {B.NO_TRUTH}")
        return entry
    entry.costs = attempt(found, group, "params/FLOPs", lambda: B.arch_costs(group.space, group.archs), {})
    if entry.costs:
        entry.biases = attempt(found, group, "complexity bias", lambda: B.complexity_bias(group, entry.costs), [])
        if "flops" not in entry.costs:
            found.append(f"{group.where}: the space counts no FLOPs: error vs params only")
    return entry


def compute(groups: Groups) -> Findings[GroupComplexity]:
    """The complexity bias of every strategy group."""
    result: Findings[GroupComplexity] = Findings()
    result.entries = [_of_group(g, result.notes) for g in groups.strategies]
    return result


def _flops_cell(c: B.ComplexityBias) -> str:
    """tau(error, FLOPs), or why it is not shown."""
    if c.error_vs_flops is None:
        return "no FLOPs"
    return "= params (same order)" if c.flops_same_order else over_runs(c.error_vs_flops)


def _row(label: str, c: B.ComplexityBias) -> list[str]:
    """One table row: a group against one ground truth."""
    return [
        label,
        short_gt(c.truth),
        over_runs(c.tau),
        num(c.params_tau),
        over_runs(c.error_vs_params),
        _flops_cell(c),
        num(c.pooled_error_vs_params),
        over_runs(c.est_params_given_truth),
        over_runs(c.partial_tau),
        over_runs(c.stratified_tau),
    ]


def _lean(value: float) -> str:
    """The cells a signed tau with size favours."""
    return "smaller" if value < 0 else "larger" if value > 0 else "neither smaller nor larger"


def finding(label: str, c: B.ComplexityBias) -> str:
    """One line: which cells the error favours, whether that is the estimator's own lean, and what params costs tau."""
    err, lean = c.error_vs_params.mean, c.est_params_given_truth.mean
    if not (np.isfinite(err) and np.isfinite(lean)):
        return f"- {label} vs {short_gt(c.truth)}: undefined (a constant estimator or truth)."
    return (
        f"- {label} vs {short_gt(c.truth)}: tau(error, params) {over_runs(c.error_vs_params)}: {_lean(err)} cells are "
        f"overrated; with the truth held fixed the estimator itself leans toward {_lean(lean)} cells "
        f"(partial tau {over_runs(c.est_params_given_truth)}); holding params fixed moves tau from {over_runs(c.tau)} to "
        f"{over_runs(c.partial_tau)} (within params strata: {over_runs(c.stratified_tau)})."
    )


def lines(result: Findings[GroupComplexity]) -> list[str]:
    """The section: per (space, protocol) a table and one finding per row, then the notes."""
    out = ["", "### Complexity bias", "", INTRO]
    for heading, members in blocks(result.entries):
        rows = [_row(e.group.label, c) for e in members for c in e.biases]
        if not rows:
            continue
        out += ["", heading, "", *table(HEADER, rows), ""]
        out += [finding(e.group.label, c) for e in members for c in e.biases]
    return out + notes(result.notes)


def plot(entries: Sequence[GroupComplexity], path: Path) -> Path:
    """Rank error (estimator minus truth, first run's final snapshot) vs params, with its binned mean."""
    plt = pyplot()
    fig, axes = grid(plt, len(entries), width=4.2, height=3.4)
    for ax, e in zip(axes, entries):
        c = e.biases[0]
        params, error = B.error_scatter(e.group, c.truth, e.costs)
        ax.scatter(params, error, s=6, alpha=0.35, label=f"architectures (seed {e.group.runs[0].seed})")
        bins = B.strata(params, ERROR_BINS)
        centers = [params[bins == b].mean() for b in np.unique(bins)]
        means = [error[bins == b].mean() for b in np.unique(bins)]
        ax.plot(centers, means, color="C3", marker="o", ms=3, label="mean per params bin")
        ax.axhline(0, color="k", lw=0.8)
        ax.set_title(f"{e.group.where}\nvs {short_gt(c.truth)}: tau(err, params)={c.error_vs_params.mean:.2f}", fontsize=8)
        ax.set_xlabel("params (M)", fontsize=8)
        ax.set_ylabel("rank error (> 0: overrated)", fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return save(fig, plt, path)


def render(result: Findings[GroupComplexity], name: str) -> Rendered:
    """The section and, where some group has a bias to show, its figure."""
    if not result.entries:
        return Rendered()
    shown = [e for e in result.entries if e.biases]
    if not shown:
        return Rendered(lines=lines(result))
    figure = Figure("complexity-bias", partial(plot, shown))
    return Rendered(lines=[*lines(result), *figure.link(name)], figures=[figure])


ANALYSIS = AnalysisPlugin(order=31, compute=compute, render=render)
PLUGINS = {"analysis": {"complexity_bias": ANALYSIS}}
