"""``wsbench gt``: which ground truths a space has here, and how well they agree with each other.

Two ground truths of the same thing (e.g. the official CIFAR-10 numbers and an independent
re-training) never agree perfectly; their agreement is the ceiling an estimator can be expected
to reach against either of them. The report lists every registered source of a space, whether
it can be read here (and why not), then the pairwise agreement of all readable tables on the
same dataset family over their common architectures.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness import metrics as M
from harness.api.errors import WsbenchError, unknown
from harness.api.ground_truth import GroundTruthQuery, GroundTruthSource, GroundTruthTable, dataset_family
from harness.catalog import GROUND_TRUTHS

#: The report's metric for every table: the first of these a (dataset, split) offers.
PREFERRED_METRICS = ("accuracy",)


@dataclass
class SourceStatus:
    """One registered source: whether it is readable here and the tables read from it."""

    name: str
    description: str
    available: bool
    why: str
    tables: list[GroundTruthTable]


family = dataset_family  # the name this module's callers know


def _report_queries(src: GroundTruthSource) -> list[GroundTruthQuery]:
    """One query per (dataset, split) the source offers and per seed reduction it reports.

    The preferred metric; the source's ``report_reductions`` when it declares them (a source holding
    several training runs, compared run against run), else its first seed reduction.
    """
    reductions = src.report_reductions or src.seed_reductions[:1]
    out: list[GroundTruthQuery] = []
    for (dataset, split), offered in sorted(src.options.items()):
        metric = next((m for m in PREFERRED_METRICS if m in offered), offered[0])
        out.extend(GroundTruthQuery(src.space, src.source, dataset, split, metric, r) for r in reductions)
    return out


def source_status(name: str) -> SourceStatus:
    """Availability of one registered source and, when readable, every table the report uses."""
    cls = GROUND_TRUTHS.get(name)
    src = cls()
    ok, why = src.available()
    tables: list[GroundTruthTable] = []
    if ok:
        try:
            tables = [src.load(query) for query in _report_queries(src)]
        except WsbenchError as e:
            ok, why, tables = False, f"present but unreadable: {e}", []
    return SourceStatus(name, getattr(cls, "description", ""), ok, "" if ok else why, tables)


def _oriented(table: GroundTruthTable, ids: list[str]) -> np.ndarray:
    """Values on ``ids`` with higher = better, as the metrics expect."""
    v = table.lookup(ids)
    return v if table.higher_is_better else -v


def columns(place: str) -> list[M.MetricSpec]:
    """The metrics of a ``wsbench gt`` table: correlations, then metrics at a count k, then at a fraction k.

    Counts come before fractions because tables of different sizes compare on the same k architectures.
    """

    def kind(spec: M.MetricSpec) -> int:
        """0: a correlation, 1: a metric at a count k, 2: at a fraction k."""
        return 0 if not spec.kwargs else 1 if spec.count_k() is not None else 2

    return sorted(M.shown_in(place), key=kind)  # stable: declaration order within a kind


def _digits(spec: M.MetricSpec) -> int:
    """Decimals of a value: a rank (lower is better) sits near 0, where a fourth digit tells estimators apart."""
    return 3 if spec.higher_is_better else 4


def _header(place: str, interval_place: str) -> tuple[list[str], list[str]]:
    """Column headers and Markdown alignments of a table's metrics (an interval column is left-aligned)."""
    specs = columns(place)
    ci = set(M.names_shown(interval_place))
    heads = [s.header + (" [95% CI]" if s.name in ci else "") for s in specs]
    return heads, ["---" if s.name in ci else "---:" for s in specs]


def agreement(a: GroundTruthTable, b: GroundTruthTable, bootstrap: int = 200, seed: int = 0) -> dict[str, Any]:
    """Agreement of two tables over their common architectures (``a`` plays the estimator for BR)."""
    ids = sorted(set(a.arch_ids) & set(b.arch_ids))
    out: dict[str, Any] = {"n": len(ids)}
    if len(ids) < 2:
        return out
    e, t = _oriented(a, ids), _oriented(b, ids)
    for spec in columns(M.GT):
        k = spec.count_k()
        out[spec.name] = spec(e, t) if k is None or k < len(ids) else None
    if bootstrap:
        # Each CI gets its own stream derived from the seed, so adding one never shifts another.
        for i, spec in enumerate(M.shown_in(M.GT_INTERVAL)):
            if out[spec.name] is not None:
                out[f"{spec.name}_ci"] = M.bootstrap_ci(spec, e, t, n_resamples=bootstrap, seed=seed + i)
    return out


def _fmt(x: float | None, digits: int = 3) -> str:
    """A value, or n/a where it is missing or NaN."""
    return "n/a" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.{digits}f}"


def _fmt_ci(value: float | None, ci: tuple[float, float] | None) -> str:
    """``value [low, high]``, or the value alone without an interval."""
    if ci is None:
        return _fmt(value)
    return f"{_fmt(value)} [{_fmt(ci[0])}, {_fmt(ci[1])}]"


def _cells(values: dict[str, Any], place: str, interval_place: str) -> list[str]:
    """One row's metric cells: intervals where the place has them, else the value at the metric's digits."""
    ci = set(M.names_shown(interval_place))
    return [
        _fmt_ci(values[s.name], values.get(f"{s.name}_ci")) if s.name in ci else _fmt(values[s.name], _digits(s))
        for s in columns(place)
    ]


def _label(t: GroundTruthTable) -> str:
    """``source:dataset/split/metric@reduction`` of a table."""
    q = t.query
    return f"{q.source}:{q.dataset}/{q.split}/{q.metric}@{q.seed_reduction}"


def _baseline_values(est: np.ndarray, true: np.ndarray, bootstrap: int, seed: int) -> dict[str, Any]:
    """Every baseline-table metric of one estimator, with its intervals (none for a constant estimator)."""
    out: dict[str, Any] = {s.name: s(est, true) for s in columns(M.GT_BASELINE)}
    constant = np.ptp(est) == 0  # e.g. params where every cell has the same weights: ranks nothing
    for i, spec in enumerate(M.shown_in(M.GT_BASELINE_INTERVAL)):
        if not constant and bootstrap:
            out[f"{spec.name}_ci"] = M.bootstrap_ci(spec, est, true, n_resamples=bootstrap, seed=seed + i)
    return out


def baseline_lines(space: str, tables: list[GroundTruthTable], names: tuple[str, ...], bootstrap: int, seed: int) -> list[str]:
    """Markdown rows: each training-free baseline's agreement with each table, on the table's architectures."""
    from harness.baselines import score_baseline

    heads, align = _header(M.GT_BASELINE, M.GT_BASELINE_INTERVAL)
    lines = [
        "| " + " | ".join(["baseline", "ground truth", "n", *heads]) + " |",
        "| " + " | ".join(["---", "---", "---:", *align]) + " |",
    ]
    for t in tables:
        for name in names:
            try:
                est = score_baseline(name, space, t.arch_ids, seed=seed)
            except WsbenchError as exc:
                lines.append(f"| {name} | {_label(t)} | {len(t)} | n/a: {str(exc).replace('|', '/')} |" + " |" * (len(heads) - 1))
                continue
            values = _baseline_values(est, _oriented(t, t.arch_ids), bootstrap, seed)
            cells = _cells(values, M.GT_BASELINE, M.GT_BASELINE_INTERVAL)
            lines.append(f"| {name} | {_label(t)} | {len(t)} | " + " | ".join(cells) + " |")
    return lines


def _source_lines(space: str, statuses: list[SourceStatus]) -> list[str]:
    """The listing: every registered source, whether it is readable here (and why not), its tables."""
    lines = [
        "| source | available | table (dataset/split/metric@seeds) | archs | fingerprint | note |",
        "| --- | --- | --- | ---: | --- | --- |",
    ]
    for s in statuses:
        if not s.available:
            lines.append(f"| {s.name} | no | | | | {s.why.replace('|', '/')} |")
            continue
        for t in s.tables:
            q = t.query
            note = "" if t.provenance.get("complete", len(t) == _space_size(space)) else "partial file"
            lines.append(
                f"| {s.name} | yes | {q.dataset}/{q.split}/{q.metric}@{q.seed_reduction} | {len(t)} | "
                f"`{t.fingerprint[:12]}` | {note} |"
            )
    return lines


def _no_pairs(tables: list[GroundTruthTable]) -> list[str]:
    """Why there is no agreement table, and what that means for a table with one training run."""
    single = [_label(t) for t in tables if len(t.provenance.get("runs", [])) == 1]
    lines = ["No two readable tables share a dataset family here, so there is nothing to compare."]
    if single:
        lines.append(
            f"{', '.join(single)}: one training run per architecture, so no second measurement and no noise "
            "ceiling can be measured: read every estimator's tau against it without one (and with its interval)."
        )
    return lines


def _agreement_lines(pairs: list[tuple[GroundTruthTable, GroundTruthTable]], bootstrap: int, seed: int) -> list[str]:
    """The agreement table of every pair of tables on one dataset family."""
    ci_note = (
        f"95% percentile bootstrap over architectures, {bootstrap} resamples, seed {seed}"
        if bootstrap
        else "no intervals (bootstrap=0)"
    )
    heads, align = _header(M.GT, M.GT_INTERVAL)
    lines = [
        f"A = first table, B = second; intervals: {ci_note}. hit@k: share of B's top k also in A's top k. "
        "BR@1%: best normalised rank in B among A's top 1% (0 = B's best).",
        "",
        "| " + " | ".join(["A", "B", "n common", *heads]) + " |",
        "| " + " | ".join(["---", "---", "---:", *align]) + " |",
    ]
    for a, b in pairs:
        r = agreement(a, b, bootstrap=bootstrap, seed=seed)
        cells = _cells(r, M.GT, M.GT_INTERVAL) if r["n"] >= 2 else ["n/a"] * len(heads)
        lines.append(f"| {_label(a)} | {_label(b)} | {r['n']} | " + " | ".join(cells) + " |")
    return lines


def _check(space: str, bootstrap: int, seed: int, baselines: tuple[str, ...]) -> None:
    """Refuse, before any table is read, an unknown space or baseline, or a bootstrap count or seed out of range."""
    from harness.analysis.limits import check_bootstrap
    from harness.baselines import check_names
    from harness.catalog import SPACES

    # A ground truth may be registered before its space's supernet exists (Channel-Bench-Macro).
    if space not in SPACES and not GROUND_TRUTHS.names(f"{space}/*"):
        raise unknown("search space", space, sorted(set(SPACES.names()) | {n.split("/")[0] for n in GROUND_TRUTHS.names()}))
    check_bootstrap(bootstrap)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise WsbenchError(f"seed must be an integer >= 0, got {seed!r}")
    check_names(baselines)


def gt_report(space: str, bootstrap: int = 200, seed: int = 0, baselines: tuple[str, ...] = ()) -> str:
    """Markdown report: the space's ground-truth sources, then pairwise agreement of the readable ones."""
    _check(space, bootstrap, seed, tuple(baselines))
    names = GROUND_TRUTHS.names(f"{space}/*")
    statuses = [source_status(n) for n in names]
    lines = [f"# Ground truth for `{space}`", ""]
    if not names:
        lines.append(f"No ground-truth source is registered for `{space}`.")
        return "\n".join(lines) + "\n"
    lines += _source_lines(space, statuses)
    tables = [t for s in statuses for t in s.tables]
    pairs = [(a, b) for a, b in itertools.combinations(tables, 2) if family(a.query.dataset) == family(b.query.dataset)]
    if baselines and tables:
        lines += [
            "",
            "## Training-free baselines",
            "",
            f"Each baseline ranks each table's architectures (seed {seed}; zero-cost proxies at the space's proxy network); "
            f"intervals: 95% percentile bootstrap over architectures, {bootstrap} resamples.",
            "",
            *baseline_lines(space, tables, baselines, bootstrap, seed),
        ]
    lines += ["", "## Agreement over common architectures", ""]
    lines += _agreement_lines(pairs, bootstrap, seed) if pairs else _no_pairs(tables)
    return "\n".join(lines) + "\n"


def _space_size(space: str) -> int | None:
    """Number of architectures in the space when it declares one (without building anything heavy)."""
    from harness.catalog import SPACES

    try:
        return getattr(SPACES.get(space), "num_archs", None)
    except Exception:  # noqa: BLE001 - the size only decides a cosmetic "partial" note
        return None
