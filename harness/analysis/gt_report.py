"""``wsbench gt``: which ground truths a space has here, and how well they agree with each other.

Two ground truths of the same thing (e.g. the official CIFAR-10 numbers and an independent
re-training) never agree perfectly; their agreement is the ceiling an estimator can be expected
to reach against either of them. The report lists every registered source of a space, whether
it can be read here (and why not), then the pairwise agreement of all readable tables on the
same dataset family over their common architectures.
"""

from __future__ import annotations

import importlib
import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.analysis import metrics
from harness.api.errors import WsbenchError, unknown
from harness.api.ground_truth import GROUND_TRUTHS, GroundTruthQuery, GroundTruthSource, GroundTruthTable, dataset_family

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


def _ensure_registered(space: str) -> None:
    """Make sure the space's ground-truth sources are registered (idempotent).

    ``harness.api.plugins`` is the one place meant to name every plugin; until it registers the
    ground truths, a space's ``ground_truth`` module may offer ``register_ground_truths``.
    """
    try:
        module = importlib.import_module(f"spaces.{space}.ground_truth")
    except ModuleNotFoundError:
        return
    register = getattr(module, "register_ground_truths", None)
    if callable(register):
        register(GROUND_TRUTHS)


def _report_queries(src: GroundTruthSource) -> list[GroundTruthQuery]:
    """One query per (dataset, split) the source offers and per seed reduction it reports.

    The preferred metric; the source's ``report_reductions`` when it declares them (a source holding
    several training runs, compared run against run), else its first seed reduction.
    """
    reductions = src.report_reductions or src.seed_reductions[:1]
    out = []
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


def agreement(a: GroundTruthTable, b: GroundTruthTable, bootstrap: int = 200, seed: int = 0) -> dict[str, Any]:
    """Agreement of two tables over their common architectures (``a`` plays the estimator for BR)."""
    ids = sorted(set(a.arch_ids) & set(b.arch_ids))
    out: dict[str, Any] = {"n": len(ids)}
    if len(ids) < 2:
        return out
    e, t = _oriented(a, ids), _oriented(b, ids)
    out["kendall_tau"] = metrics.kendall_tau(e, t)
    out["spearman_rho"] = metrics.spearman_rho(e, t)
    for k in (10, 50, 100):
        out[f"hit@{k}"] = metrics.top_k_hit_rate(e, t, k) if k < len(ids) else None
    out["hit@5%"] = metrics.top_k_hit_rate(e, t, 0.05)
    out["hit@10%"] = metrics.top_k_hit_rate(e, t, 0.10)
    out["br@1%"] = metrics.br_at_k(e, t, 0.01)
    if bootstrap:
        # Each CI gets its own stream derived from the seed, so adding one never shifts another.
        out["kendall_tau_ci"] = metrics.bootstrap_ci(metrics.kendall_tau, e, t, n_resamples=bootstrap, seed=seed)
        if out["hit@100"] is not None:
            out["hit@100_ci"] = metrics.bootstrap_ci(metrics.top_k_hit_rate, e, t, n_resamples=bootstrap, seed=seed + 1, k=100)
    return out


def _fmt(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.{digits}f}"


def _fmt_ci(value: float | None, ci: tuple[float, float] | None) -> str:
    if ci is None:
        return _fmt(value)
    return f"{_fmt(value)} [{_fmt(ci[0])}, {_fmt(ci[1])}]"


def _label(t: GroundTruthTable) -> str:
    q = t.query
    return f"{q.source}:{q.dataset}/{q.split}/{q.metric}@{q.seed_reduction}"


def baseline_lines(space: str, tables: list[GroundTruthTable], names: tuple[str, ...], bootstrap: int, seed: int) -> list[str]:
    """Markdown rows: each training-free baseline's agreement with each table, on the table's architectures."""
    from harness.analysis.baselines import score_baseline

    lines = [
        "| baseline | ground truth | n | Kendall tau [95% CI] | Spearman | hit@10% | BR@1% |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: |",
    ]
    for t in tables:
        for name in names:
            try:
                est = score_baseline(name, space, t.arch_ids, seed=seed)
            except WsbenchError as exc:
                lines.append(f"| {name} | {_label(t)} | {len(t)} | n/a: {str(exc).replace('|', '/')} | | | |")
                continue
            true = _oriented(t, t.arch_ids)
            constant = np.ptp(est) == 0  # e.g. params where every cell has the same weights: ranks nothing
            tau = float("nan") if constant else metrics.kendall_tau(est, true)
            ci = (
                None
                if constant or not bootstrap
                else metrics.bootstrap_ci(metrics.kendall_tau, est, true, n_resamples=bootstrap, seed=seed)
            )
            rho = float("nan") if constant else metrics.spearman_rho(est, true)
            lines.append(
                f"| {name} | {_label(t)} | {len(t)} | {_fmt_ci(tau, ci)} | {_fmt(rho)} | "
                f"{_fmt(metrics.top_k_hit_rate(est, true, 0.10))} | {_fmt(metrics.br_at_k(est, true, 0.01), 4)} |"
            )
    return lines


def gt_report(space: str, bootstrap: int = 200, seed: int = 0, baselines: tuple[str, ...] = ()) -> str:
    """Markdown report: the space's ground-truth sources, then pairwise agreement of the readable ones."""
    from spaces import SPACES

    # A ground truth may be registered before its space's supernet exists (Channel-Bench-Macro).
    if space not in SPACES and not GROUND_TRUTHS.names(f"{space}/*"):
        raise unknown("search space", space, sorted(set(SPACES.names()) | {n.split("/")[0] for n in GROUND_TRUTHS.names()}))
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, int) or bootstrap < 0 or bootstrap == 1:
        raise WsbenchError(f"bootstrap must be 0 (no intervals) or an int >= 2, got {bootstrap!r}")
    _ensure_registered(space)
    names = GROUND_TRUTHS.names(f"{space}/*")
    statuses = [source_status(n) for n in names]

    lines = [f"# Ground truth for `{space}`", ""]
    if not names:
        lines.append(f"No ground-truth source is registered for `{space}`.")
        return "\n".join(lines) + "\n"
    lines += [
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
    if not pairs:
        single = [_label(t) for t in tables if len(t.provenance.get("runs", [])) == 1]
        lines.append("No two readable tables share a dataset family here, so there is nothing to compare.")
        if single:
            lines.append(
                f"{', '.join(single)}: one training run per architecture, so no second measurement and no noise "
                "ceiling can be measured: read every estimator's tau against it without one (and with its interval)."
            )
        return "\n".join(lines) + "\n"
    ci_note = (
        f"95% percentile bootstrap over architectures, {bootstrap} resamples, seed {seed}"
        if bootstrap
        else "no intervals (bootstrap=0)"
    )
    lines += [
        f"A = first table, B = second; intervals: {ci_note}. hit@k: share of B's top k also in A's top k. "
        "BR@1%: best normalised rank in B among A's top 1% (0 = B's best).",
        "",
        "| A | B | n common | Kendall tau [95% CI] | Spearman | hit@10 | hit@50 | hit@100 [95% CI] | hit@5% | hit@10% | BR@1% |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for a, b in pairs:
        r = agreement(a, b, bootstrap=bootstrap, seed=seed)
        if r["n"] < 2:
            lines.append(f"| {_label(a)} | {_label(b)} | {r['n']} | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a |")
            continue
        lines.append(
            f"| {_label(a)} | {_label(b)} | {r['n']} | {_fmt_ci(r['kendall_tau'], r.get('kendall_tau_ci'))} | "
            f"{_fmt(r['spearman_rho'])} | {_fmt(r['hit@10'])} | {_fmt(r['hit@50'])} | "
            f"{_fmt_ci(r['hit@100'], r.get('hit@100_ci'))} | {_fmt(r['hit@5%'])} | {_fmt(r['hit@10%'])} | {_fmt(r['br@1%'], 4)} |"
        )
    return "\n".join(lines) + "\n"


def _space_size(space: str) -> int | None:
    """Number of architectures in the space when it declares one (without building anything heavy)."""
    from spaces import SPACES

    try:
        return getattr(SPACES.get(space), "num_archs", None)
    except Exception:  # noqa: BLE001 - the size only decides a cosmetic "partial" note
        return None
