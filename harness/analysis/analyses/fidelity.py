"""Fidelity: a recipe's supernet beside a peer's released scores of the same space.

``wsbench score REFERENCE_FILE --space S --with RESULTS`` puts a peer's released scores (an
imported group) beside trained cells. For every trained group and every imported group of one
space this section reports, on the architectures both scored: the Kendall tau between the two
rankings, each one's tau against every ground truth both cover, and the gap between those taus in
units of the seed-to-seed spread (the sd over seeds of the trained group's tau; the reference's
when the trained group has one seed). A trained run is read at its last annealed snapshot (the
schedule section says which were mid-schedule); where it has none, its final snapshot is used and
the row says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from harness import metrics as M
from harness.analysis.analyses.base import AnalysisPlugin, Groups, Rendered
from harness.analysis.groups import GroupScores, RunScores
from harness.analysis.labels import short_gt
from harness.analysis.markdown import mean_pm, num, table

INTRO = (
    "A trained recipe beside a peer's released scores of the same space, on the architectures both scored. "
    "`gap` is the reference's tau minus the recipe's; `gap / seed sd` puts it in units of the seed-to-seed spread "
    "of the recipe's tau (the reference's where the recipe has one seed)."
)


@dataclass
class Fidelity:
    """The rows of every (trained group, reference) pair, and why some pairs could not be compared."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _snapshot(run: RunScores) -> tuple[int, str]:
    """The run's last annealed snapshot epoch (and ""), else its final one (and why it is not annealed)."""
    s = run.schedule
    if s is None:
        return run.final_epoch, "schedule unknown"
    annealed = [e for e in sorted(run.snapshots) if s.annealed(e)]
    return (annealed[-1], "") if annealed else (run.final_epoch, s.position(run.final_epoch).split(" (")[0])


def _snapshots(picks: list[tuple[int, str]]) -> str:
    """The epochs read, per seed, and (once) why they are not annealed snapshots."""
    why = sorted({w for _, w in picks if w})
    return ", ".join(str(e) for e, _ in picks) + (f" ({'; '.join(why)})" if why else "")


def _aligned(a: GroupScores, b: GroupScores) -> tuple[np.ndarray, np.ndarray]:
    """Positions in ``a`` and in ``b`` of the architectures both scored."""
    common = sorted(set(a.archs) & set(b.archs))
    ia, ib = {x: i for i, x in enumerate(a.archs)}, {x: i for i, x in enumerate(b.archs)}
    return np.array([ia[x] for x in common], dtype=int), np.array([ib[x] for x in common], dtype=int)


def _taus(vectors: list[np.ndarray], truth: np.ndarray) -> np.ndarray:
    return np.array([M.kendall_tau(v, truth) for v in vectors])


def _spread(*tau_lists: np.ndarray) -> float:
    """The seed-to-seed sd of a tau: the first list with two or more runs."""
    for taus in tau_lists:
        if len(taus) >= 2:
            return float(np.std(taus, ddof=1))
    return float("nan")


def _pair(t: GroupScores, r: GroupScores) -> list[dict[str, Any]]:
    it, ir = _aligned(t, r)
    picks = [_snapshot(run) for run in t.runs]
    ours = [run.snapshots[e][it] for run, (e, _) in zip(t.runs, picks)]
    theirs = [run.final[ir] for run in r.runs]
    between = float(np.mean([M.kendall_tau(a, b) for a in ours for b in theirs]))
    base = {
        "space": t.space, "recipe": t.label, "protocol": t.protocol, "reference": r.label, "archs": len(it),
        "tau_recipe_reference": between, "snapshots": _snapshots(picks),
    }  # fmt: skip
    rows = []
    for label in sorted(set(t.truths) & set(r.truths)):
        mine, peer = _taus(ours, t.truths[label][it]), _taus(theirs, r.truths[label][ir])
        gap = float(np.mean(peer) - np.mean(mine))
        sd = _spread(mine, peer)
        rows.append({**base, "ground_truth": label, "tau_recipe_mean": float(np.mean(mine)),
                     "tau_recipe_sd": float(np.std(mine, ddof=1)) if len(mine) > 1 else float("nan"),
                     "tau_reference": float(np.mean(peer)), "gap": gap, "seed_sd": sd,
                     "gap_in_seed_sd": gap / sd if sd > 0 else float("nan")})  # fmt: skip
    return rows or [{**base, "ground_truth": "none"}]


def compute(groups: Groups) -> Fidelity:
    """Every trained group against every imported group of its space."""
    result = Fidelity()
    references = [g for g in groups.strategies if g.imported]
    for t in (g for g in groups.strategies if not g.imported):
        for r in (r for r in references if r.space == t.space):
            if len(set(t.archs) & set(r.archs)) < 2:
                result.notes.append(f"{t.where} and {r.where}: fewer than 2 architectures in common: not compared")
                continue
            result.rows += _pair(t, r)
    return result


def render(result: Fidelity, name: str) -> Rendered:
    """The fidelity table (only when a reference is in the report) and ``<name>-fidelity.csv``."""
    if not result.rows and not result.notes:
        return Rendered()
    header = ["recipe", "reference", "ground truth", "archs", "tau(recipe, reference)", "tau recipe", "tau reference",
              "gap", "gap / seed sd", "snapshots"]  # fmt: skip
    rows = [
        [f"{r['space']}/{r['recipe']} (`{r['protocol']}`)", str(r["reference"]), short_gt(str(r["ground_truth"])),
         str(r["archs"]), num(r["tau_recipe_reference"]), mean_pm(r.get("tau_recipe_mean"), r.get("tau_recipe_sd")),
         num(r.get("tau_reference")), num(r.get("gap")), num(r.get("gap_in_seed_sd"), 2), str(r["snapshots"])]
        for r in result.rows
    ]  # fmt: skip
    lines = ["", "## Fidelity: recipes beside released reference scores", "", INTRO, "", *table(header, rows, names=3)]
    lines += [f"- note: {n}" for n in result.notes]
    return Rendered(lines=lines, frames={"fidelity": pd.DataFrame(result.rows)})


ANALYSIS = AnalysisPlugin(order=60, compute=compute, render=render)
PLUGINS = {"analysis": {"fidelity": ANALYSIS}}
