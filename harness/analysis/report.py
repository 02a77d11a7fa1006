"""``wsbench report``: the stability table of every finished cell in a results folder, with plots.

Writes ``<out>/<name>.md`` (Markdown table + verdicts + plots), ``<out>/<name>.csv`` (the same
numbers with separate mean and sd columns) and three PNGs. The verdict lines say plainly when a
supernet does not beat ranking by parameter count.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from harness.analysis import plots
from harness.analysis.stability import NO_GROUND_TRUTH, Analysis, analyse, short_gt, table_columns
from harness.fileio import atomic_write_text
from harness.settings import results_dir

#: Column -> description of the report CSV (for results/README.md).
REPORT_SCHEMA: dict[str, str] = {
    "space": "search space",
    "protocol": "protocol name",
    "kind": "supernet (a strategy's runs), params (parameter count as the estimator) or ceiling (another "
    "ground truth of the same dataset family as the estimator)",
    "label": "strategy label, 'params (baseline)' or 'ceiling (<other ground truth>)'",
    "ground_truth": "ground truth the ranking is compared with",
    "score": "estimator of the supernet rows: accuracy or neg_loss",
    "n_seeds": "number of runs (cells) averaged; 0 for fixed estimators",
    "seeds": "their seeds, comma-separated",
    "epochs": "snapshot epochs used within a run (the last K)",
    "final_epoch": "the final snapshot epoch",
    "n_archs": "architectures ranked",
    "device_hours": "device-hours behind the final snapshot, mean over seeds: seconds per training epoch x epochs "
    "(scoring not counted) on the cell's device, or an imported score file's stated cost; NaN for unfinished cells",
    "train_mimg_paths": "training compute behind the final snapshot: millions of (example x path) passes (an example is an image, or a token for a language model), mean over seeds",
    "tau_mean / tau_sd": "Kendall tau at the final snapshot: mean and sd (ddof=1) over seeds",
    "tau_lastk_mean / tau_lastk_sd": "Kendall tau over the last K snapshots within a run: mean and sd per run, averaged over seeds",
    "seed_pairwise_tau": "mean Kendall tau between the final-snapshot rankings of different seeds (no ground truth involved)",
    "snapshot_pairwise_tau": "mean Kendall tau between the rankings of different snapshots of one run, averaged over seeds",
    "<metric>_mean / <metric>_sd": "spearman_rho, hit@1%, hit@5%, hit@10%, br@1% (lower is better), tau_top10% at the "
    "final snapshot: mean and sd over seeds",
}


@dataclass
class ReportFiles:
    """What ``write_report`` wrote, and the Markdown text."""

    markdown: Path
    csv: Path
    plots: list[Path] = field(default_factory=list)
    text: str = ""
    tables: list[Path] = field(default_factory=list)  # further CSVs: intervals, agreement, analyses

    def paths(self) -> list[Path]:
        """Every written file."""
        return [self.markdown, self.csv, *self.tables, *self.plots]


def _f(x: float, digits: int = 3) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _pm(mean: float, sd: float, digits: int = 3) -> str:
    if mean is None or not np.isfinite(mean):
        return "n/a"
    return f"{mean:.{digits}f}" if sd is None or not np.isfinite(sd) else f"{mean:.{digits}f} ± {sd:.{digits}f}"


def _hours(x: float) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.3g}"


HEADER = [
    "strategy",
    "ground truth",
    "tau (final)",
    "tau (last K, within run)",
    "seed-vs-seed tau",
    "snapshot-vs-snapshot tau",
    "hit@1%",
    "hit@5%",
    "hit@10%",
    "BR@1%",
    "tau top10%",
    "seeds",
    "epochs",
    "compute (M examples×path)",
    "device-h",
]


def markdown_table(table: pd.DataFrame) -> str:
    """The Markdown table of one (space, protocol) block: strategies, then params and ceiling rows."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * 2 + "---:|" * (len(HEADER) - 2)]
    for _, r in table.iterrows():
        label = f"**{r['label']}**" if r["kind"] != "supernet" else str(r["label"])
        cells = [
            label,
            short_gt(r["ground_truth"]),
            _pm(r["tau_mean"], r["tau_sd"]),
            _pm(r["tau_lastk_mean"], r["tau_lastk_sd"]),
            _f(r["seed_pairwise_tau"]),
            _f(r["snapshot_pairwise_tau"]),
            *(_pm(r[f"{m}_mean"], r[f"{m}_sd"]) for m in ("hit@1%", "hit@5%", "hit@10%", "br@1%", "tau_top10%")),
            str(int(r["n_seeds"])) if r["kind"] == "supernet" else "-",
            r["epochs"] or "-",
            _f(r["train_mimg_paths"], 3) if r["kind"] == "supernet" else "-",
            _hours(r["device_hours"]) if r["kind"] == "supernet" else "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdicts(table: pd.DataFrame) -> list[str]:
    """One line per strategy and ground truth: does its final tau beat the params baseline, and by how much."""
    out = []
    for (space, protocol, gt), sub in table.groupby(["space", "protocol", "ground_truth"], sort=False):
        base = sub[sub["kind"] == "params"]["tau_mean"]
        ceiling = sub[sub["kind"] == "ceiling"]
        for _, r in sub[sub["kind"] == "supernet"].iterrows():
            if gt == NO_GROUND_TRUTH:
                out.append(
                    f"- {space}/{protocol} {r['label']}: no ground truth for its data, so stability only: seed-vs-seed tau "
                    f"{_f(r['seed_pairwise_tau'])}, snapshot-vs-snapshot tau {_f(r['snapshot_pairwise_tau'])}."
                )
                continue
            head = f"- {space}/{protocol} {r['label']} vs {short_gt(gt)}: tau {_pm(r['tau_mean'], r['tau_sd'])}"
            if base.empty or not np.isfinite(r["tau_mean"]):
                out.append(head + " (no params baseline to compare with here).")
                continue
            if not np.isfinite(float(base.iloc[0])):
                out.append(head + " (the params baseline is undefined here: every architecture has the same parameter count).")
                continue
            b = float(base.iloc[0])
            sd = r["tau_sd"] if np.isfinite(r["tau_sd"]) else 0.0
            if r["tau_mean"] <= b:
                verdict = f"does NOT beat the params baseline ({b:.3f}): ranking by parameter count is better"
            elif r["tau_mean"] - sd <= b:
                verdict = f"beats the params baseline ({b:.3f}) on average, but within one sd over seeds"
            else:
                verdict = f"beats the params baseline ({b:.3f}) by more than one sd over seeds"
            if not ceiling.empty:
                verdict += f"; ground-truth ceiling {float(ceiling['tau_mean'].iloc[0]):.3f}"
            out.append(f"{head} {verdict}.")
    return out


def render(
    analysis: Analysis,
    root: Path,
    plot_files: list[Path],
    out_dir: Path,
    title: str = "wsbench report",
    preamble: str = "",
    sections: list[str] | None = None,
) -> str:
    """The Markdown report text."""
    t = analysis.table
    n_cells = analysis.aggregate["cell_hash"].nunique()
    n_partial = sum(1 for n in analysis.notes if n.startswith("PARTIAL "))
    cells_txt = f"{n_cells - n_partial} finished cells" + (
        f" and {n_partial} unfinished (PARTIAL, see Notes)" if n_partial else ""
    )
    k_txt = f"the last {analysis.last_k}" if analysis.last_k else "all"
    lines = [f"# {title}", ""]
    if preamble:
        lines += [preamble.strip(), ""]
    lines += [
        f"Results folder `{root}`: {cells_txt}. Estimator: {_estimator_text(analysis)}. Final-snapshot metrics are mean ± sd "
        f"(ddof=1) over seeds; within-run numbers use {k_txt} snapshots of each run. Pairwise taus compare rankings "
        "with each other (no ground truth): seed-vs-seed at the final snapshot, snapshot-vs-snapshot within a run. "
        "`params (baseline)` ranks by parameter count of the standard network; `ceiling` rows use another ground truth "
        "of the same dataset family as the estimator (the most any estimator can be expected to reach).",
    ]
    for (space, protocol), block in t.groupby(["space", "protocol"], sort=True):
        sup = block[block["kind"] == "supernet"]
        n_archs = int(sup["n_archs"].max()) if not sup.empty else int(block["n_archs"].max())
        lines += ["", f"## {space} · protocol `{protocol}` ({n_archs} architectures)", "", markdown_table(block), ""]
        lines += verdicts(block)
    if sections:
        lines += [""] + sections
    lines += ["", "## Plots", ""]
    for p in plot_files:
        try:
            rel = p.relative_to(out_dir)
        except ValueError:
            rel = p
        lines.append(f"![{p.stem}]({rel})")
    if analysis.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in analysis.notes]
    if analysis.skipped:
        lines += ["", "## Cell folders left out", ""]
        lines += [f"- `{_rel(p, root)}`: {why}" for p, why in analysis.skipped]
    return "\n".join(lines) + "\n"


def _rel(p: Path, root: Path) -> str:
    try:
        return str(p.relative_to(root))
    except ValueError:
        return str(p)


def _estimator_text(analysis: Analysis) -> str:
    """What the supernet rows rank by: each task's primary score, or the one estimator asked for."""
    used = sorted(set(analysis.table.loc[analysis.table["kind"] == "supernet", "score"])) if len(analysis.table) else []
    names = {"accuracy": "shared-weight accuracy", "neg_loss": "negative shared-weight loss",
             "neg_perplexity": "negative shared-weight perplexity (lower perplexity ranks higher)",
             "score": "the score files' scores (oriented so that higher is better)"}  # fmt: skip
    shown = ", ".join(names.get(u, u) for u in used) or analysis.score
    return shown + (" (each task's primary score)" if analysis.score == "primary" and len(used) > 1 else "")


def write_report(
    root: str | Path | None = None,
    out_dir: str | Path | None = None,
    last_k: int | None = None,
    name: str = "report",
    cells: list[str] | None = None,
    score: str = "primary",
    labels: Mapping[str, str] | None = None,
    title: str = "wsbench report",
    baselines: tuple[str, ...] = (),
    preamble: str = "",
    partial: bool = False,
    bootstrap: int = 500,
) -> ReportFiles:
    """Analyse the finished cells under ``root`` and write ``<out>/<name>.{md,csv}`` and three PNGs.

    ``out_dir`` defaults to ``<root>/reports``; ``cells`` restricts the report to these cell hashes;
    ``labels`` maps full cell hashes to strategy labels (a matrix's), else labels are derived;
    ``title`` and ``preamble`` (Markdown) head the report, e.g. what a reproduce profile ran;
    ``bootstrap``: resamples behind each interval (0: no interval section).
    """
    root = Path(root) if root is not None else results_dir()
    analysis = analyse(root, last_k=last_k, score=score, cells=cells, labels=labels, baselines=baselines, partial=partial)
    out = Path(out_dir) if out_dir is not None else root / "reports"
    pngs = [
        plots.plot_tau_vs_epoch(analysis.curves, analysis.table, out / f"{name}-tau-vs-epoch.png"),
        plots.plot_score_vs_truth(analysis.scatter, out / f"{name}-score-vs-truth.png", score=score),
        plots.plot_hit_rates(analysis.table, out / f"{name}-hit-rates.png"),
    ]
    extra, tables = _further_sections(analysis, out, name, bootstrap)
    # The analyses' sections embed their own plots; the Plots section lists the summary's three.
    text = render(analysis, root, pngs, out, title, preamble, sections=extra["lines"])
    files = ReportFiles(out / f"{name}.md", out / f"{name}.csv", pngs + extra["pngs"], text)
    atomic_write_text(files.csv, analysis.table[table_columns()].to_csv(index=False))
    for suffix, frame in tables.items():
        path = out / f"{name}-{suffix}.csv"
        atomic_write_text(path, frame.to_csv(index=False))
        files.tables.append(path)
    atomic_write_text(files.markdown, text)
    return files


def _params_groups(analysis: Analysis) -> list:
    """The params baseline as a one-run group per (space, protocol), on the first group's architectures."""
    from harness.analysis.groups import GroupScores, RunScores
    from harness.analysis.stability import PARAMS_LABEL, params_estimator
    from harness.api.errors import WsbenchError

    out, seen = [], set()
    for g in analysis.groups:
        if not g.truths or (g.space, g.protocol) in seen:
            continue
        seen.add((g.space, g.protocol))
        try:
            params = params_estimator(g.space, g.archs)
        except WsbenchError:
            continue
        out.append(GroupScores(g.space, g.protocol, PARAMS_LABEL, "params", g.archs, [RunScores(0, "", {0: params})], g.truths))
    return out


def _further_sections(analysis: Analysis, out: Path, name: str, bootstrap: int) -> tuple[dict, dict[str, pd.DataFrame]]:
    """Intervals, agreement, and the bias / picking-vs-pruning / variance analyses: Markdown, PNGs, CSVs."""
    from harness.analysis import confidence

    with_params = [*analysis.groups, *_params_groups(analysis)]
    intervals = confidence.interval_table(with_params, n_resamples=bootstrap) if bootstrap else pd.DataFrame()
    agreement = confidence.agreement_table(with_params)
    lines = confidence.interval_lines(intervals, short_gt) if bootstrap else []
    lines += [""] + confidence.agreement_lines(agreement) if len(agreement) else []
    pngs: list[Path] = []
    from harness.analysis.deep_report import deep_sections

    deep_lines, deep_pngs = deep_sections(analysis, out, name)
    lines += [""] + list(deep_lines)
    pngs += list(deep_pngs)
    tables = {"intervals": intervals, "agreement": agreement} if bootstrap else {"agreement": agreement}
    return {"lines": lines, "pngs": pngs}, tables


def report_command(
    root: str | None, out: str | None, last_k: int | None, baselines: tuple[str, ...] = (), partial: bool = False
) -> str:
    """``wsbench report``: write the report and return its Markdown plus the list of written files."""
    if baselines:
        from harness.analysis.baselines import BASELINES
        from harness.api.errors import unknown

        for b in baselines:
            if b not in BASELINES.names():
                raise unknown("baseline", b, BASELINES.names())
    files = write_report(root, out, last_k, baselines=tuple(baselines), partial=partial)
    return files.text + "\nwritten:\n" + "\n".join(f"  {p}" for p in files.paths()) + "\n"
