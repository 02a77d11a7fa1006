"""Isomorphism: do isomorphic cells among the scored architectures get equal scores? (``harness.analysis.bias``)"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from harness.analysis import bias as B
from harness.analysis.analyses.base import AnalysisPlugin, Figure, Findings, Groups, Rendered, attempt
from harness.analysis.groups import GroupScores
from harness.analysis.labels import short_gt
from harness.analysis.markdown import blocks, notes, num, over_runs, table
from harness.analysis.plotting import grid, pyplot, save

#: At most this many isomorphism classes are drawn per panel (the widest spreads first).
MAX_CLASSES = 60

HEADER = [
    "strategy",
    "classes with > 1 member (archs)",
    "mean within-class sd / overall sd",
    "share of those classes with unequal scores",
    "the same ratio on each ground truth",
]
INTRO = (
    "Do isomorphic cells among the scored architectures get equal scores (final snapshots)? Only classes with more "
    "than one scored member can tell; the ground-truth ratio shows how much separate training alone spreads a class."
)


@dataclass
class GroupIsomorphism:
    """One group's isomorphism check (None: the space has no classes, or it could not run)."""

    group: GroupScores
    check: B.IsomorphismCheck | None = None


def _of_group(group: GroupScores, found: list[str]) -> GroupIsomorphism:
    """The isomorphism check of one group (it needs no ground truth), or notes saying why not."""
    space = attempt(found, group, "space", lambda: B.space_named(group.space), None)
    if space is None:
        return GroupIsomorphism(group)
    return GroupIsomorphism(group, attempt(found, group, "isomorphism check", lambda: B.isomorphism_check(group, space), None))


def compute(groups: Groups) -> Findings[GroupIsomorphism]:
    """The isomorphism check of every strategy group."""
    result: Findings[GroupIsomorphism] = Findings()
    result.entries = [_of_group(g, result.notes) for g in groups.strategies]
    return result


def _row(e: GroupIsomorphism) -> list[str]:
    """One table row: a group whose scored architectures share classes."""
    iso = e.check
    assert iso is not None and iso.measurable
    truths = "; ".join(f"{short_gt(k)} {num(v)}" for k, v in iso.truth_ratio.items()) or "no ground truth"
    return [e.group.label, f"{iso.n_multi} ({iso.n_in_multi})", over_runs(iso.ratio), over_runs(iso.unequal_fraction), truths]


def _unmeasurable(members: Sequence[GroupIsomorphism]) -> list[str]:
    """One line per group whose archset holds one member per class."""
    out = []
    for e in members:
        iso = e.check
        if iso is not None and not iso.measurable:
            out.append(
                f"- {e.group.label}: not measurable on this archset: its {iso.n_archs} architectures fall in "
                f"{iso.n_classes} distinct isomorphism classes (one member per class), so no two scored cells are isomorphic."
            )
    return out


def lines(result: Findings[GroupIsomorphism]) -> list[str]:
    """The section: per (space, protocol) the measurable groups' table and the unmeasurable ones, then the notes."""
    out = ["", "### Isomorphism", "", INTRO]
    for heading, members in blocks(result.entries):
        checked = [e for e in members if e.check is not None]
        if not checked:
            continue
        out += ["", heading, ""]
        measurable = [e for e in checked if e.check is not None and e.check.measurable]
        if measurable:
            out += [*table(HEADER, [_row(e) for e in measurable], names=1), ""]
        out += _unmeasurable(checked)
    return out + notes(result.notes)


def plot(entries: Sequence[GroupIsomorphism], path: Path) -> Path:
    """Scores of the members of each isomorphism class with > 1 scored member (first run): a bar per class."""
    plt = pyplot()
    fig, axes = grid(plt, len(entries), width=4.6, height=3.2)
    for ax, e in zip(axes, entries):
        classes = B.isomorphism_classes_of(B.space_named(e.group.space), e.group.archs)
        scores = np.asarray(e.group.runs[0].final, dtype=float)
        ids, sizes = np.unique(classes, return_counts=True)
        multi = sorted(ids[sizes > 1], key=lambda c: -float(np.ptp(scores[classes == c])))[:MAX_CLASSES]
        for x, c in enumerate(sorted(multi, key=lambda c: float(scores[classes == c].mean()))):
            inside = scores[classes == c]
            ax.vlines(x, inside.min(), inside.max(), color="C0", lw=1)
            ax.scatter(np.full(inside.size, x), inside, s=8, color="C0")
        iso = e.check
        assert iso is not None and iso.ratio is not None
        ax.set_title(f"{e.group.where}: within/overall sd={iso.ratio.mean:.2f}", fontsize=8)
        ax.set_xlabel(f"isomorphism class (by mean score; {len(multi)} of {iso.n_multi})", fontsize=8)
        ax.set_ylabel(f"supernet {e.group.estimator}", fontsize=8)
        ax.grid(alpha=0.3)
    return save(fig, plt, path)


def render(result: Findings[GroupIsomorphism], name: str) -> Rendered:
    """The section and, where some group's scored cells share classes, its figure."""
    if not result.entries:
        return Rendered()
    shown = [e for e in result.entries if e.check is not None and e.check.measurable]
    if not shown:
        return Rendered(lines=lines(result))
    figure = Figure("isomorphism", partial(plot, shown))
    return Rendered(lines=[*lines(result), *figure.link(name)], figures=[figure])


ANALYSIS = AnalysisPlugin(order=33, compute=compute, render=render)
PLUGINS = {"analysis": {"isomorphism": ANALYSIS}}
