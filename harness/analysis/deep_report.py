"""The report's deeper sections: biases, picking vs pruning, and the variance of the best-found architecture.

``deep_sections(analysis, out_dir, name)`` runs ``harness.analysis.bias`` and
``harness.analysis.picking`` on every strategy group of an ``Analysis``, writes one PNG per analysis
(``harness.analysis.deep_plots``) and returns the Markdown lines and the PNG paths. An analysis
that cannot run for a group (no ground truth, not a grid space, no FLOPs, too few architectures)
becomes a note in its section, never an exception.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np

from harness.analysis import bias as B
from harness.analysis import deep_plots
from harness.analysis import picking as P
from harness.analysis.groups import GroupScores
from harness.analysis.stability import Analysis, short_gt
from harness.api.errors import WsbenchError

T = TypeVar("T")

#: Section keys of ``DeepGroup.notes``.
SECTIONS = ("complexity", "ops", "isomorphism", "picking", "variance")
#: Kept fractions shown in the pruned-space table (the plot shows the whole grid).
TABLE_KEEP = (0.1, 0.3, 0.5, 0.7, 0.9)


@dataclass
class DeepGroup:
    """Every deep analysis of one strategy group, and why any of them could not run."""

    group: GroupScores
    costs: dict[str, np.ndarray] = field(default_factory=dict)
    complexity: list[B.ComplexityBias] = field(default_factory=list)
    ops: list[B.OpBias] = field(default_factory=list)
    isomorphism: B.IsomorphismCheck | None = None
    picking: list[P.PickPrune] = field(default_factory=list)
    pruned: list[P.PrunedTau] = field(default_factory=list)
    best: list[P.BestFound] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=lambda: {s: [] for s in SECTIONS})


def _attempt(deep: DeepGroup, section: str, what: str, fn: Callable[[], T], default: T) -> T:
    """``fn()``, or ``default`` with a note naming the group and the reason when it cannot run."""
    try:
        return fn()
    except WsbenchError as exc:
        deep.notes[section].append(f"{deep.group.where}: {what}: {exc}")
        return default


def deep_analyse(group: GroupScores) -> DeepGroup:
    """Run every deep analysis that applies to ``group``."""
    deep = DeepGroup(group)
    space = _attempt(deep, "isomorphism", "space", lambda: B.space_named(group.space), None)
    if space is not None:
        deep.isomorphism = _attempt(deep, "isomorphism", "isomorphism check", lambda: B.isomorphism_check(group, space), None)
    if not group.truths:
        deep.notes["complexity"].append(f"{group.where}: {B.NO_TRUTH}")
        deep.notes["picking"].append(f"{group.where}: no ground truth: picking vs pruning needs one")
        deep.notes["variance"].append(f"{group.where}: no ground truth: the best-found architecture's true rank needs one")
        return deep
    deep.costs = _attempt(deep, "complexity", "params/FLOPs", lambda: B.arch_costs(group.space, group.archs), {})
    if deep.costs:
        deep.complexity = _attempt(deep, "complexity", "complexity bias", lambda: B.complexity_bias(group, deep.costs), [])
        if "flops" not in deep.costs:
            deep.notes["complexity"].append(f"{group.where}: the space counts no FLOPs: error vs params only")
    if space is not None:
        deep.ops = _attempt(deep, "ops", "op bias", lambda: B.op_bias(group, space), [])
    deep.picking = _attempt(deep, "picking", "picking vs pruning", lambda: P.picking_vs_pruning(group), [])
    deep.pruned = _attempt(deep, "picking", "pruned-space tau", lambda: P.pruned_tau(group), [])
    params = deep.costs.get("params")
    deep.best = _attempt(deep, "variance", "best-found rank", lambda: P.best_found(group, params), [])
    return deep


# --------------------------------------------------------------------------- formatting


def _f(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _pm(v: B.OverRuns | None, digits: int = 3) -> str:
    """mean ± sd over seeds, or the mean alone for one run; n/a when undefined."""
    if v is None or not np.isfinite(v.mean):
        return "n/a"
    return f"{v.mean:.{digits}f}" if not np.isfinite(v.sd) else f"{v.mean:.{digits}f} ± {v.sd:.{digits}f}"


def _pct(rank: float | None) -> str:
    """A normalized true rank as the share of architectures truly better."""
    return "n/a" if rank is None or not np.isfinite(rank) else f"{100 * rank:.1f} %"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], names: int = 2) -> list[str]:
    """A Markdown table: the first ``names`` columns left-aligned, the rest (numbers) right-aligned."""
    align = ["---" if i < names else "---:" for i in range(len(header))]
    return ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|", *("| " + " | ".join(r) + " |" for r in rows)]


def _blocks(deeps: Sequence[DeepGroup]) -> Iterator[tuple[str, list[DeepGroup]]]:
    """(heading, groups) per (space, protocol), in sorted order."""
    keys = sorted({(d.group.space, d.group.protocol) for d in deeps})
    for space, protocol in keys:
        members = [d for d in deeps if (d.group.space, d.group.protocol) == (space, protocol)]
        yield f"#### {space} · protocol `{protocol}` ({len(members[0].group.archs)} architectures)", members


def _notes(deeps: Sequence[DeepGroup], section: str) -> list[str]:
    notes = [n for d in deeps for n in d.notes[section]]
    return ["", *(f"- note: {n}" for n in dict.fromkeys(notes))] if notes else []


def _image(path: Path | None, out_dir: Path) -> list[str]:
    if path is None:
        return []
    try:
        rel = path.relative_to(out_dir)
    except ValueError:
        rel = path
    return ["", f"![{path.stem}]({rel})"]


# --------------------------------------------------------------------------- biases


COMPLEXITY_HEADER = [
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


def _flops_cell(c: B.ComplexityBias) -> str:
    if c.error_vs_flops is None:
        return "no FLOPs"
    return "= params (same order)" if c.flops_same_order else _pm(c.error_vs_flops)


def _complexity_row(label: str, c: B.ComplexityBias) -> list[str]:
    return [
        label,
        short_gt(c.truth),
        _pm(c.tau),
        _f(c.params_tau),
        _pm(c.error_vs_params),
        _flops_cell(c),
        _f(c.pooled_error_vs_params),
        _pm(c.est_params_given_truth),
        _pm(c.partial_tau),
        _pm(c.stratified_tau),
    ]


def _lean(value: float) -> str:
    return "smaller" if value < 0 else "larger" if value > 0 else "neither smaller nor larger"


def complexity_finding(label: str, c: B.ComplexityBias) -> str:
    """One line: which cells the error favours, whether that is the estimator's own lean, and what params costs tau."""
    err, lean = c.error_vs_params.mean, c.est_params_given_truth.mean
    if not (np.isfinite(err) and np.isfinite(lean)):
        return f"- {label} vs {short_gt(c.truth)}: undefined (a constant estimator or truth)."
    return (
        f"- {label} vs {short_gt(c.truth)}: tau(error, params) {_pm(c.error_vs_params)}: {_lean(err)} cells are "
        f"overrated; with the truth held fixed the estimator itself leans toward {_lean(lean)} cells "
        f"(partial tau {_pm(c.est_params_given_truth)}); holding params fixed moves tau from {_pm(c.tau)} to "
        f"{_pm(c.partial_tau)} (within params strata: {_pm(c.stratified_tau)})."
    )


def _complexity_lines(deeps: Sequence[DeepGroup]) -> list[str]:
    lines = [
        "",
        "### Complexity bias",
        "",
        "error = the estimator's normalized rank minus the true one (> 0: overrated); tau(error, params) < 0 means "
        "smaller cells are overrated. Where params predicts the truth, any noisy estimator shows a negative value "
        "there (it underrates the truly best, which are large): `partial tau(est, params; truth held)` is the "
        "estimator's own lean toward size. Partial tau: (t_xy - t_xz t_yz) / sqrt((1 - t_xz²)(1 - t_yz²)). "
        "Each run's final snapshot; mean ± sd over seeds.",
    ]
    for heading, members in _blocks(deeps):
        rows = [_complexity_row(d.group.label, c) for d in members for c in d.complexity]
        if not rows:
            continue
        lines += ["", heading, "", *_table(COMPLEXITY_HEADER, rows), ""]
        lines += [complexity_finding(d.group.label, c) for d in members for c in d.complexity]
    return lines + _notes(deeps, "complexity")


def _op_table(members: Sequence[DeepGroup]) -> list[str]:
    ops = list(dict.fromkeys(op for d in members for o in d.ops for op in o.per_op))
    rows = [[d.group.label, short_gt(o.truth), *(_pm(o.per_op.get(op)) for op in ops)] for d in members for o in d.ops]
    return _table(["strategy", "ground truth", *ops], rows)


def _choice_table(members: Sequence[DeepGroup]) -> list[str]:
    """Per (strategy, choice): each option's mean error over runs, against each group's first ground truth."""
    first = [(d, d.ops[0]) for d in members if d.ops]
    options = list(dict.fromkeys(opt for _, o in first for opt in o.options))
    rows = []
    for d, o in first:
        for choice in o.choices:
            cells = [_f(o.cells[(choice, opt)].mean) if (choice, opt) in o.cells else "-" for opt in options]
            rows.append([d.group.label, choice, *cells])
    counts = [n for _, o in first for n in o.counts.values() if n > 0]
    gt = short_gt(first[0][1].truth)
    caption = f"Per choice, vs {gt} (mean over runs; each option is used by {min(counts)}–{max(counts)} architectures):"
    return ["", caption, "", *_table(["strategy", "choice", *options], rows)]


def op_finding(label: str, o: B.OpBias) -> str:
    """One line: the most over- and underrated op."""
    means = {op: v.mean for op, v in o.per_op.items() if np.isfinite(v.mean)}
    if not means:
        return f"- {label} vs {short_gt(o.truth)}: undefined."
    hi, lo = max(means, key=means.__getitem__), min(means, key=means.__getitem__)
    return (
        f"- {label} vs {short_gt(o.truth)}: most overrated op {hi} ({_pm(o.per_op[hi])}), "
        f"most underrated {lo} ({_pm(o.per_op[lo])})."
    )


def _op_lines(deeps: Sequence[DeepGroup]) -> list[str]:
    lines = [
        "",
        "### Op bias",
        "",
        "Per op: the mean error (normalized estimator rank minus normalized true rank) of the architectures using it "
        "at a choice, averaged over the choices; > 0: the supernet overrates cells with this op. Mean ± sd over seeds.",
    ]
    for heading, members in _blocks(deeps):
        if not any(d.ops for d in members):
            continue
        lines += ["", heading, "", *_op_table(members), *_choice_table(members), ""]
        lines += [op_finding(d.group.label, o) for d in members for o in d.ops]
    return lines + _notes(deeps, "ops")


ISO_HEADER = [
    "strategy",
    "classes with > 1 member (archs)",
    "mean within-class sd / overall sd",
    "share of those classes with unequal scores",
    "the same ratio on each ground truth",
]


def _iso_row(d: DeepGroup) -> list[str]:
    iso = d.isomorphism
    assert iso is not None and iso.measurable
    truths = "; ".join(f"{short_gt(k)} {_f(v)}" for k, v in iso.truth_ratio.items()) or "no ground truth"
    return [d.group.label, f"{iso.n_multi} ({iso.n_in_multi})", _pm(iso.ratio), _pm(iso.unequal_fraction), truths]


def _iso_unmeasurable(members: Sequence[DeepGroup]) -> list[str]:
    out = []
    for d in members:
        iso = d.isomorphism
        if iso is not None and not iso.measurable:
            out.append(
                f"- {d.group.label}: not measurable on this archset: its {iso.n_archs} architectures fall in "
                f"{iso.n_classes} distinct isomorphism classes (one member per class), so no two scored cells are isomorphic."
            )
    return out


def _iso_lines(deeps: Sequence[DeepGroup]) -> list[str]:
    lines = [
        "",
        "### Isomorphism",
        "",
        "Do isomorphic cells among the scored architectures get equal scores (final snapshots)? Only classes with more "
        "than one scored member can tell; the ground-truth ratio shows how much separate training alone spreads a class.",
    ]
    for heading, members in _blocks(deeps):
        checked = [d for d in members if d.isomorphism is not None]
        if not checked:
            continue
        lines += ["", heading, ""]
        measurable = [d for d in checked if d.isomorphism is not None and d.isomorphism.measurable]
        if measurable:
            lines += [*_table(ISO_HEADER, [_iso_row(d) for d in measurable], names=1), ""]
        lines += _iso_unmeasurable(checked)
    return lines + _notes(deeps, "isomorphism")


# --------------------------------------------------------------------------- picking vs pruning


def _k_header(pp: P.PickPrune) -> list[str]:
    return [f"k={k:.0%} ({n})" for k, n in zip(pp.ks, pp.counts)]


def _pair(a: B.OverRuns, b: B.OverRuns) -> str:
    return f"{_f(a.mean)} / {_f(b.mean)}"


def _picking_tables(members: Sequence[DeepGroup]) -> list[str]:
    items = [(d.group.label, pp) for d in members for pp in d.picking]
    header = _k_header(items[0][1])
    hit_rows = [[label, short_gt(pp.truth), *(_pair(h, b) for h, b in zip(pp.hit, pp.bottom))] for label, pp in items]
    br_rows = [[label, short_gt(pp.truth), *(_pair(h, b) for h, b in zip(pp.br, pp.wr))] for label, pp in items]
    truths = {pp.truth: pp for _, pp in items}
    for truth, pp in truths.items():
        hit_rows.append(["*chance*", short_gt(truth), *(f"{h:.3f} / {b:.3f}" for h, b in zip(pp.chance_hit, pp.chance_bottom))])
        br_rows.append(["*chance*", short_gt(truth), *(f"{h:.3f} / {b:.3f}" for h, b in zip(pp.chance_br, pp.chance_wr))])
    return [
        "hit@k / P@bottom-k (higher is better; mean over seeds):",
        "",
        *_table(["strategy", "ground truth", *header], hit_rows),
        "",
        "BR@k / WR@k (best / worst normalized true rank in the estimator's top k; 0 = the true best; lower is better):",
        "",
        *_table(["strategy", "ground truth", *header], br_rows),
    ]


def _pruned_table(members: Sequence[DeepGroup]) -> list[str]:
    rows = []
    for d in members:
        for pt in d.pruned:
            cells = [
                f"{_f(pt.pruned[pt.at(x)].mean)} / {_f(pt.random[pt.at(x)].mean)} / {_f(pt.oracle[pt.at(x)].mean)}"
                for x in TABLE_KEEP
            ]
            rows.append([d.group.label, short_gt(pt.truth), *cells, _pm(pt.full)])
    return [
        f"Kendall tau inside the kept subset: estimator's top x / random subset of that size (mean of {P.RANDOM_DRAWS} "
        "draws) / the true top x; mean over seeds:",
        "",
        *_table(["strategy", "ground truth", *(f"keep {x:.0%}" for x in TABLE_KEEP), "full set"], rows),
    ]


def _picking_lines(deeps: Sequence[DeepGroup]) -> list[str]:
    lines = [
        "",
        "## Picking vs pruning",
        "",
        "Is the supernet better at finding the best architectures or at discarding the worst? Chance is a uniformly "
        "random pick (the metrics' exact expectation for a constant estimator). Each run's final snapshot.",
    ]
    for heading, members in _blocks(deeps):
        if not any(d.picking for d in members):
            continue
        lines += ["", heading, "", *_picking_tables(members), ""]
        lines += [f"- {d.group.label} vs {short_gt(pp.truth)}: {P.pruning_finding(pp)}." for d in members for pp in d.picking]
        if any(d.pruned for d in members):
            lines += ["", *_pruned_table(members), ""]
            lines += [f"- {d.group.label} vs {short_gt(pt.truth)}: {P.pruned_finding(pt)}." for d in members for pt in d.pruned]
    return lines + _notes(deeps, "picking")


# --------------------------------------------------------------------------- variance of the best-found architecture


VARIANCE_HEADER = [
    "strategy",
    "ground truth",
    "final pick per seed",
    "min / median / max over seeds",
    "per run over snapshots",
    "random pick",
    "params pick",
]


def _spread(values: Sequence[float]) -> str:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not v.size:
        return "n/a"
    return f"{_pct(float(v.min()))} / {_pct(float(np.median(v)))} / {_pct(float(v.max()))}"


def _snapshots(bf: P.BestFound) -> str:
    return "; ".join(
        f"seed {r.seed}: "
        + ", ".join(f"ep {e} {_pct(v)}" + (f" ({t} tied)" if t > 1 else "") for e, v, t in zip(r.epochs, r.ranks, r.tied))
        for r in bf.runs
    )


def _variance_row(label: str, bf: P.BestFound) -> list[str]:
    return [
        label,
        short_gt(bf.truth),
        ", ".join(f"{_pct(v)}" for v in bf.final.values),
        _spread(bf.final.values),
        _snapshots(bf),
        _pct(bf.chance),
        _pct(bf.params_pick),
    ]


def variance_finding(label: str, bf: P.BestFound) -> str:
    """One line: how far apart the seeds' and the snapshots' picks land in true rank."""
    pooled = np.asarray(bf.pooled, dtype=float)
    pooled = pooled[np.isfinite(pooled)]
    if not pooled.size:
        return f"- {label} vs {short_gt(bf.truth)}: undefined."
    seeds = bf.final.finite
    seed_part = (
        f"over {seeds.size} seeds the final pick lands between {_pct(float(seeds.min()))} and {_pct(float(seeds.max()))} "
        "of the archset truly better"
        if seeds.size > 1
        else f"one seed: the final pick has {_pct(float(seeds[0]))} of the archset truly better"
    )
    widest = max(bf.runs, key=lambda r: float(np.ptp(r.ranks)) if len(r.ranks) > 1 else -1.0)
    snap_part = (
        f"; across snapshots of one run it moves by up to {100 * float(np.ptp(widest.ranks)):.1f} points (seed {widest.seed})"
        if len(widest.ranks) > 1
        else "; one snapshot per run: no spread across snapshots"
    )
    return f"- {label} vs {short_gt(bf.truth)}: {seed_part}{snap_part} (random pick {_pct(bf.chance)})."


def _variance_lines(deeps: Sequence[DeepGroup]) -> list[str]:
    lines = [
        "",
        "## Variance of the best-found architecture",
        "",
        "The estimator's argmax at each snapshot of each run, and its TRUE rank as the share of the archset truly "
        "better (0 % = it found the best); ties at the top: the mean rank of the tied. `params pick` is the largest "
        "network's rank.",
    ]
    for heading, members in _blocks(deeps):
        rows = [_variance_row(d.group.label, bf) for d in members for bf in d.best]
        if not rows:
            continue
        lines += ["", heading, "", *_table(VARIANCE_HEADER, rows), ""]
        lines += [variance_finding(d.group.label, bf) for d in members for bf in d.best]
    return lines + _notes(deeps, "variance")


# --------------------------------------------------------------------------- entry point


def deep_sections(analysis: Analysis, out_dir: Path, name: str) -> tuple[list[str], list[Path]]:
    """Markdown lines of the sections "Biases", "Picking vs pruning", "Variance of the best-found
    architecture", and the PNGs written to ``out_dir`` (named ``<name>-<analysis>.png``)."""
    deeps = [deep_analyse(g) for g in analysis.groups]
    out_dir = Path(out_dir)
    pngs = deep_plots.write_plots(deeps, out_dir, name)
    if not deeps:
        return ["", "## Biases", "", "No strategy groups to analyse."], []
    lines = ["", "## Biases"]
    lines += _complexity_lines(deeps) + _image(pngs.get("complexity"), out_dir)
    lines += _op_lines(deeps) + _image(pngs.get("ops"), out_dir)
    lines += _iso_lines(deeps) + _image(pngs.get("isomorphism"), out_dir)
    lines += _picking_lines(deeps) + _image(pngs.get("picking"), out_dir) + _image(pngs.get("pruned"), out_dir)
    lines += _variance_lines(deeps) + _image(pngs.get("variance"), out_dir)
    return lines, list(pngs.values())
