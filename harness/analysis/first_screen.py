"""The first screen of a report: per space, one row per strategy with the answer, then one paragraph saying it.

Each row puts a strategy's Kendall tau against every ground truth side by side, each with its 95 %
bootstrap interval over architectures (``harness.analysis.confidence``, the numbers of the report's
interval section), its hit@5 %, the tau between its seeds' final rankings, the tau of the best
training-free baseline and the ceiling (the report's ``params``, ``baseline`` and ``ceiling`` rows),
and a one-word verdict. The verdict rule lives here, in ``verdict`` and ``combined``, and its
wording in ``VERDICT_RULE``; the paragraph under each table is generated from the same numbers.
``compute`` builds the table (also written as ``<name>-first-screen.csv``), ``lines`` renders it.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from harness import metrics as M
from harness.analysis.labels import short_gt
from harness.analysis.markdown import num, table
from harness.engine.scoring import NO_GROUND_TRUTH

#: The verdict words, most favourable first; a row shows its least favourable over the ground truths.
VERDICTS = ("useful", "baseline-level", "random", "worse")
NO_VERDICT = "n/a"
#: The rule, as stated under every first-screen table.
VERDICT_RULE = (
    "Verdict against each ground truth, from the tau's 95 % interval [low, high] and the best training-free "
    "baseline's tau b (0, a random ranking's, where no baseline was scored): **random** if the interval contains 0; "
    "otherwise **useful** if low > b, **worse** if high < b, **baseline-level** if low ≤ b ≤ high. A row shows its "
    "least favourable word over the ground truths (worse < random < baseline-level < useful); n/a: no interval or "
    "no ground truth."
)
#: The hit rate the first screen shows.
HIT = "hit@5%"
#: Table kinds that rank without training (``harness.analysis.summary_rows.KINDS``).
TRAINING_FREE = ("params", "baseline")
SCREEN_COLUMNS = [
    "space", "protocol", "strategy", "ground_truth", "n_seeds", "n_archs", "tau", "tau_low", "tau_high", HIT,
    "seed_pairwise_tau", "best_baseline", "best_baseline_tau", "ceiling_tau", "verdict_vs_gt", "verdict",
]  # fmt: skip
NONE = "—"
#: Prose lines are wrapped at this width, so that the first screen reads in a terminal (Markdown joins them).
WIDTH = 110


def verdict(low: float, high: float, baseline: float) -> str:
    """One ground truth's word for a tau interval ``[low, high]`` against the best training-free baseline's tau."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return NO_VERDICT
    b = baseline if np.isfinite(baseline) else 0.0
    if low <= 0.0 <= high:
        return "random"
    if low > b:
        return "useful"
    if high < b:
        return "worse"
    return "baseline-level"


def combined(words: Iterable[str]) -> str:
    """A row's word: the least favourable of its ground truths' (n/a ones left out; none left: n/a)."""
    ranked = [w for w in words if w in VERDICTS]
    return max(ranked, key=VERDICTS.index) if ranked else NO_VERDICT


def _plain(label: str) -> str:
    """A baseline's name without the table's ``(baseline)`` suffix."""
    return label.removesuffix(" (baseline)")


def _references(summary: pd.DataFrame) -> dict[tuple[str, str, str], tuple[str, float, float]]:
    """(space, protocol, ground truth) -> best training-free baseline's name and tau, and the ceiling's tau."""
    c = f"{M.headline().column}_mean"
    out = {}
    for key, sub in summary.groupby(["space", "protocol", "ground_truth"], sort=False):
        taus = sub[c].astype(float)
        free = sub[sub["kind"].isin(TRAINING_FREE) & np.isfinite(taus)]
        # Ties (params and flops order NB201 identically) keep the table's order: params first.
        best = free.loc[free[c].astype(float).idxmax()] if not free.empty else None
        ceiling = taus[sub["kind"] == "ceiling"]
        out[key] = (
            _plain(str(best["label"])) if best is not None else "",
            float(best[c]) if best is not None else float("nan"),
            float(ceiling.max()) if ceiling.notna().any() else float("nan"),
        )
    return out


def compute(summary: pd.DataFrame, intervals: pd.DataFrame | None) -> pd.DataFrame:
    """The first screen's numbers: one row per (space, protocol, strategy, ground truth), ``SCREEN_COLUMNS``.

    ``summary`` is the report's stability table (``Analysis.table``); ``intervals`` the interval table
    of the strategy groups (``confidence.interval_table``; None or empty: no intervals, verdict n/a).
    """
    head, hit = M.headline(), M.METRICS[HIT].column
    refs = _references(summary)
    bounds: dict[tuple[str, str, str, str], tuple[float, float]] = {}
    if intervals is not None and len(intervals):
        tau = intervals[intervals["metric"] == head.name]
        keys = zip(tau["space"], tau["protocol"], tau["label"], tau["ground_truth"], strict=True)
        bounds = {k: (float(lo), float(hi)) for k, lo, hi in zip(keys, tau["low"], tau["high"], strict=True)}
    rows = []
    for _, r in summary[summary["kind"] == "supernet"].iterrows():
        gt = str(r["ground_truth"])
        name, base, ceiling = refs.get((r["space"], r["protocol"], gt), ("", float("nan"), float("nan")))
        low, high = bounds.get((r["space"], r["protocol"], r["label"], gt), (float("nan"), float("nan")))
        rows.append(
            {"space": r["space"], "protocol": r["protocol"], "strategy": r["label"], "ground_truth": gt,
             "n_seeds": int(r["n_seeds"]), "n_archs": int(r["n_archs"]), "tau": float(r[f"{head.column}_mean"]),
             "tau_low": low, "tau_high": high, HIT: float(r[f"{hit}_mean"]),
             "seed_pairwise_tau": float(r["seed_pairwise_tau"]), "best_baseline": name, "best_baseline_tau": base,
             "ceiling_tau": ceiling, "verdict_vs_gt": verdict(low, high, base) if gt != NO_GROUND_TRUTH else NO_VERDICT}
        )  # fmt: skip
    frame = pd.DataFrame(rows, columns=SCREEN_COLUMNS)
    if len(frame):
        frame["verdict"] = frame.groupby(["space", "protocol", "strategy"])["verdict_vs_gt"].transform(combined)
    return frame


# --------------------------------------------------------------------------- rendering


def _each(values: Sequence[str]) -> str:
    """Values per ground truth as ``a / b``, or one value where they are all equal."""
    return values[0] if len(set(values)) == 1 else " / ".join(values)


def _gt_names(gts: list[str]) -> tuple[list[str], str]:
    """Column names of the ground truths, and what they share (``cifar10/test``) where only their source differs."""
    shorts = [short_gt(g) for g in gts]
    parts = [s.split(":", 1) for s in shorts]
    if len(gts) > 1 and all(len(p) == 2 for p in parts) and len({p[1] for p in parts}) == 1:
        return [p[0] for p in parts], parts[0][1]
    return shorts, ""


def _row_name(strategy: str, protocol: str, several: bool) -> str:
    """A strategy's name in the text: with its protocol where the space has several."""
    return f"{strategy} (`{protocol}`)" if several else strategy


def _names(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


class _Space:
    """One space's first-screen rows, per strategy, with its ground truths in column order."""

    def __init__(self, block: pd.DataFrame) -> None:
        self.gts = [g for g in dict.fromkeys(block["ground_truth"]) if g != NO_GROUND_TRUTH]
        self.several = block["protocol"].nunique() > 1
        per = [(key, sub.set_index("ground_truth")) for key, sub in block.groupby(["protocol", "strategy"], sort=True)]
        # Best first: by the mean tau over the ground truths (stability-only rows last, by name).
        self.rows = sorted(per, key=lambda kv: (kv[0][0], -np.nan_to_num(self.mean_tau(kv[1]), nan=-np.inf)))

    def mean_tau(self, sub: pd.DataFrame) -> float:
        """A strategy's tau averaged over the ground truths (NaN where it has none)."""
        taus = [float(sub.at[g, "tau"]) for g in self.gts if g in sub.index]
        return float(np.nanmean(taus)) if np.isfinite(taus).any() else float("nan")

    def per_gt(self, sub: pd.DataFrame, column: str) -> list[float]:
        """One column's value against each ground truth (NaN where the strategy has no row for it)."""
        return [float(sub.at[g, column]) if g in sub.index else float("nan") for g in self.gts]

    def name(self, key: tuple[str, str]) -> str:
        """A (protocol, strategy) row's name in the text."""
        return _row_name(key[1], key[0], self.several)


def _tau_cell(sub: pd.DataFrame, gt: str) -> str:
    """``tau [low, high]``; the tau alone without an interval; a dash without a row."""
    if gt not in sub.index:
        return NONE
    r = sub.loc[gt]
    if not (np.isfinite(r["tau_low"]) and np.isfinite(r["tau_high"])):
        return num(r["tau"])
    return f"{num(r['tau'])} [{num(r['tau_low'])}, {num(r['tau_high'])}]"


def _table_lines(sp: _Space) -> list[str]:
    """The Markdown table of one space, cells padded so that it reads as a table in a terminal too."""
    names, _ = _gt_names(sp.gts)
    head = [*(["protocol"] if sp.several else []), "strategy", "verdict"]
    header = [*head, *(f"tau vs {n} [95 % CI]" for n in names)]
    header += ["hit@5 %", "seed-vs-seed tau", "best baseline", "ceiling"] if sp.gts else ["seed-vs-seed tau"]
    rows = []
    for (protocol, strategy), sub in sp.rows:
        first = sub.iloc[0]
        seeds = NONE if int(first["n_seeds"]) < 2 else num(first["seed_pairwise_tau"])
        cells = [*([protocol] if sp.several else []), strategy, str(first["verdict"]), *(_tau_cell(sub, g) for g in sp.gts)]
        if sp.gts:
            cells += [_each([num(v) for v in sp.per_gt(sub, HIT)]), seeds]
            cells += [_each([num(v) for v in sp.per_gt(sub, col)]) for col in ("best_baseline_tau", "ceiling_tau")]
        else:
            cells.append(seeds)
        rows.append(cells)
    return table(header, rows, names=len(head), pad=True)


def _legend(sp: _Space, block: pd.DataFrame) -> str:
    """What the per-ground-truth cells and the reference columns are, for this space."""
    if not sp.gts:
        return "No ground truth for these supernets' data: stability only (seed-vs-seed tau)."
    names, shared = _gt_names(sp.gts)
    parts = []
    if len(sp.gts) > 1:
        where = f" (all {shared})" if shared else ""
        parts.append(f"`a / b`: against {_names(names)}{where} in that order, one number where they are equal.")
    best = sorted({b for b in block["best_baseline"] if b})
    if best:
        parts.append(f"Best baseline: the tau of the best training-free baseline, {_names(best)}.")
    if np.isfinite(block["ceiling_tau"].astype(float)).any():
        parts.append("Ceiling: Kendall tau between two ground truths of the same data (the most to expect).")
    parts.append("Seed-vs-seed tau: mean Kendall tau between the seeds' final rankings.")
    return " ".join(parts)


#: How the paragraph says each verdict that is not "useful": (word, for one strategy, for several).
_OTHERS = (
    ("baseline-level", "is at its level", "are at its level"),
    ("worse", "is worse than it", "are worse than it"),
    ("random", "cannot be told from a random ranking", "cannot be told from a random ranking"),
    (NO_VERDICT, "has no interval to judge", "have no interval to judge"),
)


def _verdict_sentence(sp: _Space) -> str:
    """Which strategies beat the best training-free baseline, and what the others are."""
    by_word: dict[str, list[str]] = {}
    for key, sub in sp.rows:
        by_word.setdefault(str(sub.iloc[0]["verdict"]), []).append(sp.name(key))
    baselines = []
    for protocol in dict.fromkeys(p for (p, _), _ in sp.rows):
        sub = next(s for (p, _), s in sp.rows if p == protocol)
        names = [str(sub.at[g, "best_baseline"]) if g in sub.index else "" for g in sp.gts]
        taus = [num(v) for v in sp.per_gt(sub, "best_baseline_tau")]
        if any(names):
            baselines.append(
                f"{_each([n or NONE for n in names])}, tau {_each(taus)}" + (f" in `{protocol}`" if sp.several else "")
            )
    ref = (
        f"the best training-free baseline ({'; '.join(baselines)})"
        if baselines
        else "a random ranking (tau 0: no training-free baseline was scored)"
    )
    useful = by_word.get("useful", [])
    if useful:
        every = " against every ground truth" if len(sp.gts) > 1 else ""
        head = f"{_names(useful)} {'beats' if len(useful) == 1 else 'beat'} {ref}{every}"
    else:
        head = f"No strategy beats {ref}"
    rest = []
    for word, one, many in _OTHERS:
        if by_word.get(word):
            n = len(by_word[word])
            rest.append(f"{n} {one if n == 1 else many} ({', '.join(by_word[word])})")
    return head + (("; of the others, " if useful else ": ") + ", ".join(rest) if rest else "") + "."


def _seed_sentence(sp: _Space) -> str:
    """Whether seeds agree: their tau range, against the ceiling and against the ground truth."""
    seeds = [(sp.name(k), float(s.iloc[0]["seed_pairwise_tau"])) for k, s in sp.rows if int(s.iloc[0]["n_seeds"]) > 1]
    seeds = [(n, t) for n, t in seeds if np.isfinite(t)]
    if not seeds:
        return "Each strategy has one run, so seed agreement is not measured."
    lo, hi = min(seeds, key=lambda nt: nt[1]), max(seeds, key=lambda nt: nt[1])
    out = (
        f"Seed-vs-seed tau is {num(lo[1])} ({lo[0]})" if lo is hi
        else f"Seed-vs-seed tau ranges from {num(lo[1])} ({lo[0]}) to {num(hi[1])} ({hi[0]})"
    )  # fmt: skip
    ceilings = [c for _, s in sp.rows for c in sp.per_gt(s, "ceiling_tau") if np.isfinite(c)]
    if ceilings:
        c = max(ceilings)
        if hi[1] < c:
            out += f": seeds agree less with each other than the ground truths do ({num(c)})"
        elif lo[1] >= c:
            out += f": seeds agree with each other at least as well as the ground truths do ({num(c)})"
        else:
            out += f", around the ground truths' agreement ({num(c)})"
    named = {sp.name(k): s for k, s in sp.rows}
    above = [n for n, t in seeds if sp.gts and t > np.nanmax([*sp.per_gt(named[n], "tau"), -np.inf])]
    if above and len(above) == len(seeds) and len(seeds) > 1:
        out += "; every strategy's seeds agree with each other more than with any ground truth"
    elif above:
        verb = "agrees with its other seeds" if len(above) == 1 else "agree with their other seeds"
        out += f"; {_names(above)} {verb} more than with any ground truth"
    return out + "."


def _split_sentence(sp: _Space) -> str:
    """Rows whose ground truths give different words (the row shows the least favourable), grouped by pattern."""
    names, _ = _gt_names(sp.gts)
    split: dict[tuple[str, ...], list[str]] = {}
    for key, sub in sp.rows:
        words = tuple(str(sub.at[g, "verdict_vs_gt"]) if g in sub.index else NO_VERDICT for g in sp.gts)
        if len(set(words) - {NO_VERDICT}) > 1:
            split.setdefault(words, []).append(sp.name(key))
    parts = [
        f"{_names(who)} ({', '.join(f'{w} against {n}' for w, n in zip(words, names, strict=True) if w != NO_VERDICT)})"
        for words, who in split.items()
    ]
    return f"The ground truths split on {'; '.join(parts)}." if parts else ""


def _hit_sentence(sp: _Space) -> str:
    """Whether any strategy's top 5 % holds the truly best architectures."""
    hits = [(sp.name(k), max(sp.per_gt(s, HIT), default=float("nan"))) for k, s in sp.rows]
    hits = [(n, h) for n, h in hits if np.isfinite(h)]
    if not hits:
        return ""
    top = max(h for _, h in hits)
    if top == 0:
        return "No strategy's top 5 % holds any of the true top 5 %."
    return f"The highest hit@5 % is {num(top)} ({_names([n for n, h in hits if h == top])})."


def _ceiling_sentence(sp: _Space) -> str:
    """How far the best strategy (by mean tau) and the best baseline are from the ceiling."""
    scored = [(k, s) for k, s in sp.rows if np.isfinite(sp.mean_tau(s))]
    if not scored:
        return ""
    key, sub = max(scored, key=lambda ks: sp.mean_tau(ks[1]))
    ceilings = sp.per_gt(sub, "ceiling_tau")
    if not np.isfinite(ceilings).any():
        return "No second ground truth of the same data here, so no ceiling to measure the distance to."
    taus, bases = sp.per_gt(sub, "tau"), sp.per_gt(sub, "best_baseline_tau")
    gaps = [c - t for c, t in zip(ceilings, taus, strict=True)]
    where = "reaches" if all(g <= 0 for g in gaps if np.isfinite(g)) else f"is {_each([num(g) for g in gaps])} below"
    shown = _each([num(t) for t in taus])
    out = f"The best strategy by tau, {sp.name(key)} ({shown}), {where} the ceiling ({_each([num(c) for c in ceilings])})"
    if np.isfinite(bases).any():
        out += (
            f"; the best training-free baseline is {_each([num(c - b) for c, b in zip(ceilings, bases, strict=True)])} below it"
        )
    return out + "."


def paragraph(block: pd.DataFrame) -> str:
    """What one space's table shows, in words from its numbers."""
    sp = _Space(block)
    if not sp.gts:
        return "No ground truth for these supernets' data, so no verdict: " + _seed_sentence(sp)
    sentences = (_verdict_sentence(sp), _split_sentence(sp), _hit_sentence(sp), _seed_sentence(sp), _ceiling_sentence(sp))
    return " ".join(s for s in sentences if s)


def _span(values: pd.Series) -> str:
    """``50``, or ``36–93`` where the rows differ."""
    lo, hi = int(values.min()), int(values.max())
    return str(lo) if lo == hi else f"{lo}–{hi}"


def _heading(space: str, block: pd.DataFrame) -> str:
    """``## nb201 at a glance (8 strategies, 50 architectures, 2 seeds each)``."""
    n, protocols, seeds = block["strategy"].nunique(), block["protocol"].nunique(), _span(block["n_seeds"])
    facts = [f"{n} {'strategy' if n == 1 else 'strategies'}", *([f"{protocols} protocols"] if protocols > 1 else []),
             f"{_span(block['n_archs'])} architectures", f"{seeds} {'seed' if seeds == '1' else 'seeds'} each"]  # fmt: skip
    return f"## {space} at a glance ({', '.join(facts)})"


def lines(screen: pd.DataFrame) -> list[str]:
    """The first screen in Markdown: per space a heading, the table, its legend and verdict rule, and the paragraph."""
    out: list[str] = []
    for space, block in screen.groupby("space", sort=True):
        sp = _Space(block)
        prose = [_legend(sp, block), VERDICT_RULE, paragraph(block)]
        out += [_heading(str(space), block), "", *_table_lines(sp), ""]
        out += [line for text in prose for line in [*textwrap.wrap(text, WIDTH, break_on_hyphens=False), ""]]
    return out
