"""Picking vs pruning: is the supernet better at finding the best or at discarding the worst? (``harness.analysis.picking``)

Also the Kendall tau inside the space the estimator prunes, against random subsets of that size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from harness.analysis import picking as P
from harness.analysis.analyses.base import AnalysisPlugin, Figure, Findings, Groups, Rendered, attempt
from harness.analysis.bias import OverRuns
from harness.analysis.groups import GroupScores
from harness.analysis.labels import short_gt
from harness.analysis.markdown import blocks, notes, num, over_runs, table
from harness.analysis.plotting import band, grid, pyplot, save

#: Kept fractions shown in the pruned-space table (the plot shows the whole grid).
TABLE_KEEP = (0.1, 0.3, 0.5, 0.7, 0.9)
INTRO = (
    "Is the supernet better at finding the best architectures or at discarding the worst? Chance is a uniformly "
    "random pick (the metrics' exact expectation for a constant estimator). Each run's final snapshot."
)


@dataclass
class GroupPicking:
    """One group's picking-vs-pruning and pruned-space tau, per ground truth."""

    group: GroupScores
    picking: list[P.PickPrune] = field(default_factory=list)
    pruned: list[P.PrunedTau] = field(default_factory=list)


def _of_group(group: GroupScores, found: list[str]) -> GroupPicking:
    """Both analyses of one group, or notes saying why not."""
    if not group.truths:
        found.append(f"{group.where}: no ground truth: picking vs pruning needs one")
        return GroupPicking(group)
    picking: list[P.PickPrune] = attempt(found, group, "picking vs pruning", lambda: P.picking_vs_pruning(group), [])
    pruned: list[P.PrunedTau] = attempt(found, group, "pruned-space tau", lambda: P.pruned_tau(group), [])
    return GroupPicking(group, picking, pruned)


def compute(groups: Groups) -> Findings[GroupPicking]:
    """Picking vs pruning and the pruned-space tau of every strategy group."""
    result: Findings[GroupPicking] = Findings()
    result.entries = [_of_group(g, result.notes) for g in groups.strategies]
    return result


def _pair(a: OverRuns, b: OverRuns) -> str:
    """Two means side by side: ``a / b``."""
    return f"{num(a.mean)} / {num(b.mean)}"


def _picking_tables(members: Sequence[GroupPicking]) -> list[str]:
    """hit@k beside P@bottom-k and BR@k beside WR@k over the k grid, with chance per ground truth."""
    items = [(e.group.label, pp) for e in members for pp in e.picking]
    header = [f"k={k:.0%} ({n})" for k, n in zip(items[0][1].ks, items[0][1].counts)]
    hit_rows = [[label, short_gt(pp.truth), *(_pair(h, b) for h, b in zip(pp.hit, pp.bottom))] for label, pp in items]
    br_rows = [[label, short_gt(pp.truth), *(_pair(h, b) for h, b in zip(pp.br, pp.wr))] for label, pp in items]
    truths = {pp.truth: pp for _, pp in items}
    for truth, pp in truths.items():
        hit_rows.append(["*chance*", short_gt(truth), *(f"{h:.3f} / {b:.3f}" for h, b in zip(pp.chance_hit, pp.chance_bottom))])
        br_rows.append(["*chance*", short_gt(truth), *(f"{h:.3f} / {b:.3f}" for h, b in zip(pp.chance_br, pp.chance_wr))])
    return [
        "hit@k / P@bottom-k (higher is better; mean over seeds):",
        "",
        *table(["strategy", "ground truth", *header], hit_rows),
        "",
        "BR@k / WR@k (best / worst normalized true rank in the estimator's top k; 0 = the true best; lower is better):",
        "",
        *table(["strategy", "ground truth", *header], br_rows),
    ]


def _pruned_table(members: Sequence[GroupPicking]) -> list[str]:
    """Tau inside the estimator's top x / a random subset / the true top x, at the table's kept fractions."""
    rows = []
    for e in members:
        for pt in e.pruned:
            cells = [
                f"{num(pt.pruned[pt.at(x)].mean)} / {num(pt.random[pt.at(x)].mean)} / {num(pt.oracle[pt.at(x)].mean)}"
                for x in TABLE_KEEP
            ]
            rows.append([e.group.label, short_gt(pt.truth), *cells, over_runs(pt.full)])
    return [
        f"Kendall tau inside the kept subset: estimator's top x / random subset of that size (mean of {P.RANDOM_DRAWS} "
        "draws) / the true top x; mean over seeds:",
        "",
        *table(["strategy", "ground truth", *(f"keep {x:.0%}" for x in TABLE_KEEP), "full set"], rows),
    ]


def lines(result: Findings[GroupPicking]) -> list[str]:
    """The section: per (space, protocol) both tables with one finding per row, then the notes."""
    out = ["", "## Picking vs pruning", "", INTRO]
    for heading, members in blocks(result.entries):
        if not any(e.picking for e in members):
            continue
        out += ["", heading, "", *_picking_tables(members), ""]
        out += [f"- {e.group.label} vs {short_gt(pp.truth)}: {P.pruning_finding(pp)}." for e in members for pp in e.picking]
        if any(e.pruned for e in members):
            out += ["", *_pruned_table(members), ""]
            out += [f"- {e.group.label} vs {short_gt(pt.truth)}: {P.pruned_finding(pt)}." for e in members for pt in e.pruned]
    return out + notes(result.notes)


def _title(group: GroupScores, truth: str) -> str:
    """A panel's title: the group and the ground truth."""
    return f"{group.where}\nvs {short_gt(truth)}"


def plot_picking(entries: Sequence[GroupPicking], path: Path) -> Path:
    """Per group: hit@k and P@bottom-k vs k, and BR@k and WR@k vs k, each with its chance line."""
    plt = pyplot()
    fig, axes = plt.subplots(len(entries), 2, figsize=(9.0, 3.2 * len(entries)), squeeze=False)
    for (left, right), e in zip(axes, entries):
        pp = e.picking[0]
        k = 100 * np.asarray(pp.ks)
        band(left, k, pp.hit, "hit@k (top)", "C0")
        band(left, k, pp.bottom, "P@bottom-k", "C1")
        left.plot(k, pp.chance_hit, color="grey", ls="--", lw=1, label="chance")
        left.set_ylabel("share found (band: min-max over seeds)", fontsize=8)
        left.set_ylim(-0.02, 1.02)
        band(right, k, pp.br, "BR@k (best in top k)", "C2")
        band(right, k, pp.wr, "WR@k (worst in top k)", "C3")
        right.plot(k, pp.chance_br, color="grey", ls="--", lw=1, label="chance BR")
        right.plot(k, pp.chance_wr, color="grey", ls=":", lw=1, label="chance WR")
        right.set_ylabel("normalized true rank (0 = best)", fontsize=8)
        right.set_ylim(-0.02, 1.02)
        for ax in (left, right):
            ax.set_xscale("log")
            ax.set_xticks(k, [f"{v:g}" for v in k])
            ax.set_xlabel("k (% of the archset)", fontsize=8)
            ax.set_title(_title(e.group, pp.truth), fontsize=8)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    return save(fig, plt, path)


def plot_pruned(entries: Sequence[GroupPicking], path: Path) -> Path:
    """Kendall tau inside the estimator's top x vs x, beside random subsets, the true top x and the full set."""
    plt = pyplot()
    fig, axes = grid(plt, len(entries), width=4.2, height=3.4)
    for ax, e in zip(axes, entries):
        pt = e.pruned[0]
        x = 100 * np.asarray(pt.keep)
        band(ax, x, pt.pruned, "estimator's top x", "C0")
        band(ax, x, pt.random, "random subset, same size", "C1")
        band(ax, x, pt.oracle, "true top x", "C2")
        ax.axhline(pt.full.mean, color="k", ls="--", lw=1, label=f"full set {pt.full.mean:.2f}")
        ax.set_xlabel("kept (% of the archset)", fontsize=8)
        ax.set_ylabel("Kendall tau inside (band: min-max over seeds)", fontsize=8)
        ax.set_title(_title(e.group, pt.truth), fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, framealpha=0.6)
    return save(fig, plt, path)


def render(result: Findings[GroupPicking], name: str) -> Rendered:
    """The section and its two figures, each where some group could fill it."""
    if not result.entries:
        return Rendered()
    picked = [e for e in result.entries if e.picking]
    pruned = [e for e in result.entries if e.pruned]
    figures = [Figure("picking-vs-pruning", partial(plot_picking, picked))] if picked else []
    figures += [Figure("pruned-space-tau", partial(plot_pruned, pruned))] if pruned else []
    return Rendered(lines=lines(result) + [line for f in figures for line in f.link(name)], figures=figures)


ANALYSIS = AnalysisPlugin(order=40, compute=compute, render=render)
PLUGINS = {"analysis": {"picking_vs_pruning": ANALYSIS}}
