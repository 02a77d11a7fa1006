"""Op bias: does the supernet overrate cells that use some op? (grid spaces; ``harness.analysis.bias``)"""

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
from harness.api.errors import WsbenchError

INTRO = (
    "Per op: the mean error (normalized estimator rank minus normalized true rank) of the architectures using it "
    "at a choice, averaged over the choices; > 0: the supernet overrates cells with this op. Mean ± sd over seeds."
)


@dataclass
class GroupOps:
    """One group's op bias per ground truth."""

    group: GroupScores
    ops: list[B.OpBias] = field(default_factory=list)


def _of_group(group: GroupScores, found: list[str]) -> GroupOps:
    """The op bias of one group (none without ground truth or a space object: the other sections say why)."""
    if not group.truths:
        return GroupOps(group)
    try:
        space = B.space_named(group.space)
    except WsbenchError:  # the isomorphism section notes an unknown space
        return GroupOps(group)
    return GroupOps(group, attempt(found, group, "op bias", lambda: B.op_bias(group, space), []))


def compute(groups: Groups) -> Findings[GroupOps]:
    """The op bias of every strategy group."""
    result: Findings[GroupOps] = Findings()
    result.entries = [_of_group(g, result.notes) for g in groups.strategies]
    return result


def _op_table(members: Sequence[GroupOps]) -> list[str]:
    """Per (strategy, ground truth): each op's mean error over its choices."""
    ops = list(dict.fromkeys(op for e in members for o in e.ops for op in o.per_op))
    rows = [[e.group.label, short_gt(o.truth), *(over_runs(o.per_op.get(op)) for op in ops)] for e in members for o in e.ops]
    return table(["strategy", "ground truth", *ops], rows)


def _choice_table(members: Sequence[GroupOps]) -> list[str]:
    """Per (strategy, choice): each option's mean error over runs, against each group's first ground truth."""
    first = [(e, e.ops[0]) for e in members if e.ops]
    options = list(dict.fromkeys(opt for _, o in first for opt in o.options))
    rows = []
    for e, o in first:
        for choice in o.choices:
            cells = [num(o.cells[(choice, opt)].mean) if (choice, opt) in o.cells else "-" for opt in options]
            rows.append([e.group.label, choice, *cells])
    counts = [n for _, o in first for n in o.counts.values() if n > 0]
    gt = short_gt(first[0][1].truth)
    caption = f"Per choice, vs {gt} (mean over runs; each option is used by {min(counts)}–{max(counts)} architectures):"
    return ["", caption, "", *table(["strategy", "choice", *options], rows)]


def finding(label: str, o: B.OpBias) -> str:
    """One line: the most over- and underrated op."""
    means = {op: v.mean for op, v in o.per_op.items() if np.isfinite(v.mean)}
    if not means:
        return f"- {label} vs {short_gt(o.truth)}: undefined."
    hi, lo = max(means, key=means.__getitem__), min(means, key=means.__getitem__)
    return (
        f"- {label} vs {short_gt(o.truth)}: most overrated op {hi} ({over_runs(o.per_op[hi])}), "
        f"most underrated {lo} ({over_runs(o.per_op[lo])})."
    )


def lines(result: Findings[GroupOps]) -> list[str]:
    """The section: per (space, protocol) the op and per-choice tables and one finding per row, then the notes."""
    out = ["", "### Op bias", "", INTRO]
    for heading, members in blocks(result.entries):
        if not any(e.ops for e in members):
            continue
        out += ["", heading, "", *_op_table(members), *_choice_table(members), ""]
        out += [finding(e.group.label, o) for e in members for o in e.ops]
    return out + notes(result.notes)


def _matrix(o: B.OpBias) -> np.ndarray:
    """(options, choices) mean error over runs; NaN where no scored cell uses the option."""
    m = np.full((len(o.options), len(o.choices)), np.nan)
    for (choice, option), v in o.cells.items():
        m[o.options.index(option), o.choices.index(choice)] = v.mean
    return m


def plot(entries: Sequence[GroupOps], path: Path) -> Path:
    """Heatmap of the mean rank error per option (rows) and choice (columns); red = overrated."""
    plt = pyplot()
    matrices = [_matrix(e.ops[0]) for e in entries]
    bound = max(float(np.nanmax(np.abs(m))) for m in matrices) or 1.0
    fig, axes = grid(plt, len(entries), width=5.0, height=3.6)
    for ax, e, m in zip(axes, entries, matrices):
        o = e.ops[0]
        image = ax.imshow(m, cmap="RdBu_r", vmin=-bound, vmax=bound, aspect="auto")
        for (i, j), v in np.ndenumerate(m):
            if np.isfinite(v):
                ax.text(j, i, f"{v:+.2f}", ha="center", va="center", fontsize=7)
        ax.set_xticks(range(len(o.choices)), o.choices, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(len(o.options)), o.options, fontsize=7)
        ax.set_title(f"{e.group.where}\nvs {short_gt(o.truth)}: mean rank error", fontsize=8)
        fig.colorbar(image, ax=ax, shrink=0.8).ax.tick_params(labelsize=7)
    return save(fig, plt, path)


def render(result: Findings[GroupOps], name: str) -> Rendered:
    """The section and, where some group has an op bias, its heatmap."""
    if not result.entries:
        return Rendered()
    shown = [e for e in result.entries if e.ops]
    if not shown:
        return Rendered(lines=lines(result))
    figure = Figure("op-bias", partial(plot, shown))
    return Rendered(lines=[*lines(result), *figure.link(name)], figures=[figure])


ANALYSIS = AnalysisPlugin(order=32, compute=compute, render=render)
PLUGINS = {"analysis": {"op_bias": ANALYSIS}}
