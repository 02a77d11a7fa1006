"""Variance of the best-found architecture: the true rank of the estimator's pick at every snapshot of every run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from harness.analysis import bias as B
from harness.analysis import picking as P
from harness.analysis.analyses.base import AnalysisPlugin, Figure, Findings, Groups, Rendered, attempt
from harness.analysis.groups import GroupScores
from harness.analysis.labels import short_gt
from harness.analysis.markdown import blocks, notes, pct, table
from harness.analysis.plotting import grid, pyplot, save
from harness.api.errors import WsbenchError

HEADER = [
    "strategy",
    "ground truth",
    "final pick per seed",
    "min / median / max over seeds",
    "per run over snapshots",
    "random pick",
    "params pick",
]
INTRO = (
    "The estimator's argmax at each snapshot of each run, and its TRUE rank as the share of the archset truly "
    "better (0 % = it found the best); ties at the top: the mean rank of the tied. `params pick` is the largest "
    "network's rank."
)


@dataclass
class GroupBest:
    """One group's best-found architecture per ground truth."""

    group: GroupScores
    best: list[P.BestFound] = field(default_factory=list)


def _params(group: GroupScores) -> np.ndarray | None:
    """Each architecture's parameter count, for the params pick (None where it cannot be counted: the complexity section says why)."""
    try:
        return B.arch_costs(group.space, group.archs).get("params")
    except WsbenchError:
        return None


def _of_group(group: GroupScores, found: list[str]) -> GroupBest:
    """The best-found ranks of one group, or notes saying why not."""
    if not group.truths:
        found.append(f"{group.where}: no ground truth: the best-found architecture's true rank needs one")
        return GroupBest(group)
    params = _params(group)
    return GroupBest(group, attempt(found, group, "best-found rank", lambda: P.best_found(group, params), []))


def compute(groups: Groups) -> Findings[GroupBest]:
    """The best-found architecture of every strategy group."""
    result: Findings[GroupBest] = Findings()
    result.entries = [_of_group(g, result.notes) for g in groups.strategies]
    return result


def _spread(values: Sequence[float]) -> str:
    """min / median / max of the defined values, as shares truly better."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not v.size:
        return "n/a"
    return f"{pct(float(v.min()))} / {pct(float(np.median(v)))} / {pct(float(v.max()))}"


def _snapshots(bf: P.BestFound) -> str:
    """Each run's picks over its snapshots (with the number tied at the top where more than one)."""
    return "; ".join(
        f"seed {r.seed}: "
        + ", ".join(f"ep {e} {pct(v)}" + (f" ({t} tied)" if t > 1 else "") for e, v, t in zip(r.epochs, r.ranks, r.tied))
        for r in bf.runs
    )


def _row(label: str, bf: P.BestFound) -> list[str]:
    """One table row: a group against one ground truth."""
    return [
        label,
        short_gt(bf.truth),
        ", ".join(f"{pct(v)}" for v in bf.final.values),
        _spread(bf.final.values),
        _snapshots(bf),
        pct(bf.chance),
        pct(bf.params_pick),
    ]


def finding(label: str, bf: P.BestFound) -> str:
    """One line: how far apart the seeds' and the snapshots' picks land in true rank."""
    pooled = np.asarray(bf.pooled, dtype=float)
    pooled = pooled[np.isfinite(pooled)]
    if not pooled.size:
        return f"- {label} vs {short_gt(bf.truth)}: undefined."
    seeds = bf.final.finite
    seed_part = (
        f"over {seeds.size} seeds the final pick lands between {pct(float(seeds.min()))} and {pct(float(seeds.max()))} "
        "of the archset truly better"
        if seeds.size > 1
        else f"one seed: the final pick has {pct(float(seeds[0]))} of the archset truly better"
    )
    widest = max(bf.runs, key=lambda r: float(np.ptp(r.ranks)) if len(r.ranks) > 1 else -1.0)
    snap_part = (
        f"; across snapshots of one run it moves by up to {100 * float(np.ptp(widest.ranks)):.1f} points (seed {widest.seed})"
        if len(widest.ranks) > 1
        else "; one snapshot per run: no spread across snapshots"
    )
    return f"- {label} vs {short_gt(bf.truth)}: {seed_part}{snap_part} (random pick {pct(bf.chance)})."


def lines(result: Findings[GroupBest]) -> list[str]:
    """The section: per (space, protocol) a table and one finding per row, then the notes."""
    out = ["", "## Variance of the best-found architecture", "", INTRO]
    for heading, members in blocks(result.entries):
        rows = [_row(e.group.label, bf) for e in members for bf in e.best]
        if not rows:
            continue
        out += ["", heading, "", *table(HEADER, rows), ""]
        out += [finding(e.group.label, bf) for e in members for bf in e.best]
    return out + notes(result.notes)


def _legend() -> list[Any]:
    """Proxy artists: the markers and lines of the best-found plot say nothing by themselves."""
    from matplotlib.lines import Line2D

    return [
        Line2D([], [], marker="o", ls="", color="grey", label="final snapshot (colour: seed)"),
        Line2D([], [], marker="o", ls="", mfc="none", color="grey", label="earlier snapshot"),
        Line2D([], [], color="grey", ls="--", label="random pick"),
        Line2D([], [], color="k", ls=":", label="params pick (largest)"),
    ]


def _draw_member(ax: Any, x: int, bf: P.BestFound) -> None:
    """One strategy's picks at position ``x``: every (seed, snapshot), the final ones filled, and the reference picks."""
    for i, run in enumerate(bf.runs):
        ranks = 100 * np.asarray(run.ranks)
        offsets = x + np.linspace(-0.15, 0.15, len(ranks)) if len(ranks) > 1 else np.array([x])
        color = f"C{i % 10}"  # one colour per seed, so a run's snapshots read as one series
        ax.scatter(offsets[:-1], ranks[:-1], s=18, facecolors="none", edgecolors=color)
        ax.scatter(offsets[-1:], ranks[-1:], s=24, color=color)
    ax.hlines(100 * bf.chance, x - 0.35, x + 0.35, color="grey", ls="--", lw=1)
    if bf.params_pick is not None:
        ax.hlines(100 * bf.params_pick, x - 0.35, x + 0.35, color="k", ls=":", lw=1)


def plot(entries: Sequence[GroupBest], path: Path) -> Path:
    """True rank of the best-found architecture per strategy: every (seed, snapshot), finals filled."""
    panels = sorted({(e.group.space, e.group.protocol) for e in entries})
    plt = pyplot()
    fig, axes = grid(plt, len(panels), width=4.6, height=3.4)
    for ax, (space, protocol) in zip(axes, panels):
        members = [e for e in entries if (e.group.space, e.group.protocol) == (space, protocol)]
        for x, e in enumerate(members):
            _draw_member(ax, x, e.best[0])
        ax.set_xticks(range(len(members)), [e.group.label for e in members], fontsize=8)
        ax.set_xlim(-0.6, len(members) - 0.4)
        ax.set_ylim(-2, 102)
        ax.set_title(f"{space}/{protocol} vs {short_gt(members[0].best[0].truth)}", fontsize=8)
        ax.set_ylabel("archs truly better than the pick (%)", fontsize=8)
        ax.grid(alpha=0.3, axis="y")
        ax.legend(handles=_legend(), fontsize=7)
    return save(fig, plt, path)


def render(result: Findings[GroupBest], name: str) -> Rendered:
    """The section and, where some group has a pick, its figure."""
    if not result.entries:
        return Rendered()
    shown = [e for e in result.entries if e.best]
    if not shown:
        return Rendered(lines=lines(result))
    figure = Figure("best-found-rank", partial(plot, shown))
    return Rendered(lines=[*lines(result), *figure.link(name)], figures=[figure])


ANALYSIS = AnalysisPlugin(order=50, compute=compute, render=render)
PLUGINS = {"analysis": {"best_found": ANALYSIS}}
