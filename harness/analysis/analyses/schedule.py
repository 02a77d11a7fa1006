"""Where each snapshot sits in its learning-rate schedule: annealed, or taken mid-schedule.

A supernet scored halfway through a cosine (learning rate still high) ranks differently from the
same recipe annealed; a comparison with a peer's released scores is fair only on annealed
snapshots. The section lists every group whose snapshots are not all annealed, with each
snapshot's learning rate, and says so in one line when every final snapshot is annealed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from harness.analysis.analyses.base import AnalysisPlugin, Groups, Rendered
from harness.analysis.groups import GroupScores
from harness.analysis.markdown import table


@dataclass
class Positions:
    """Each trained run's snapshots with their learning rate and position in the schedule."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # groups whose schedule is not recorded


def _rows(g: GroupScores) -> list[dict[str, Any]]:
    out = []
    for run in g.runs:
        s = run.schedule
        assert s is not None
        for epoch in sorted(run.snapshots):
            out.append({
                "space": g.space, "protocol": g.protocol, "strategy": g.label, "seed": run.seed, "epoch": epoch,
                "of_epochs": s.epochs, "lr": s.at.get(epoch, float("nan")), "peak_lr": s.lr, "lr_min": s.lr_min,
                "position": s.position(epoch), "annealed": s.annealed(epoch), "final": epoch == run.final_epoch,
            })  # fmt: skip
    return out


def compute(groups: Groups) -> Positions:
    """Every trained group's snapshot positions (imported scores have no schedule)."""
    result = Positions()
    for g in groups.strategies:
        if g.imported:
            continue
        if any(run.schedule is None for run in g.runs):
            result.unknown.append(g.where)
            continue
        result.rows += _rows(g)
    return result


def render(result: Positions, name: str) -> Rendered:
    """A table of the groups with mid-schedule snapshots, and ``<name>-schedule.csv`` with every snapshot."""
    frame = pd.DataFrame(result.rows)
    if frame.empty and not result.unknown:
        return Rendered()
    lines = ["", "## Snapshots in their learning-rate schedule", ""]
    mid = frame[~frame["position"].isin(["annealed", "constant lr"])] if not frame.empty else frame
    if mid.empty:
        lines.append("Every snapshot was taken at the end of an annealed (or constant) schedule.")
    else:
        finals = mid[mid["final"]]
        lines.append(
            f"{len(mid)} snapshot(s) were taken mid-schedule, {len(finals)} of them a run's final one: their rankings are "
            "those of a supernet still training at a high learning rate; fidelity comparisons use annealed snapshots."
        )
        lines.append("")
        rows = [
            [f"{r.space}/{r.protocol}", str(r.strategy), str(r.seed), f"{r.epoch} / {r.of_epochs}", str(r.position)]
            for r in mid.itertuples()
        ]
        lines += table(["space/protocol", "strategy", "seed", "epoch / of", "position"], rows, names=3)
    lines += [f"- note: {w}: no learning-rate log (an unfinished or old cell): positions unknown" for w in result.unknown]
    return Rendered(lines=lines, frames={"schedule": frame})


ANALYSIS = AnalysisPlugin(order=5, compute=compute, render=render)
PLUGINS = {"analysis": {"schedule": ANALYSIS}}
