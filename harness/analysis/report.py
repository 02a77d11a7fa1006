"""``wsbench report``: the stability table of every finished cell in a results folder, the analyses, and plots.

Writes ``<out>/<name>.md``: first the first screen (``harness.analysis.first_screen``: per space one
row per strategy with tau against each ground truth and its interval, the best training-free
baseline, the ceiling and a one-word verdict, then a paragraph saying what the table shows), then
the full summary table + verdicts, every analysis's section and the plots. Beside it
``<out>/<name>.csv`` (the summary's numbers with separate mean and sd columns),
``<name>-first-screen.csv``, one CSV per table an analysis keeps (``<name>-<suffix>.csv``) and the
PNGs. The verdict lines say plainly when a supernet does not beat ranking by parameter count. The
analyses are the registered plugins of ``harness.analysis.analyses``, in their declared order;
nothing here names one. The terminal gets the first screen and the report's path (``terminal_text``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness import metrics as M
from harness.analysis import first_screen
from harness.analysis.analyses import run_all
from harness.analysis.analyses.base import Groups, Rendered
from harness.analysis.confidence import interval_table
from harness.analysis.groups import GroupScores, RunScores
from harness.analysis.plots import write_summary_plots
from harness.analysis.stability import Analysis, analyse
from harness.analysis.summary_rows import PARAMS_LABEL, REPORT_SCHEMA, params_estimator, table_columns
from harness.analysis.summary_table import markdown_table, verdicts
from harness.api.errors import WsbenchError
from harness.fileio import atomic_write_text
from harness.settings import results_dir

# Names callers know from here.
__all__ = [
    "REPORT_SCHEMA", "ReportFiles", "markdown_table", "render", "report_command", "terminal_text", "verdicts", "write_report",
]  # fmt: skip


@dataclass
class ReportFiles:
    """What ``write_report`` wrote, and the Markdown text."""

    markdown: Path
    csv: Path
    plots: list[Path] = field(default_factory=list)
    text: str = ""
    tables: list[Path] = field(default_factory=list)  # further CSVs: intervals, agreement, analyses
    first_screen: str = ""  # the Markdown's opening: title, then per space the table and its paragraph
    first_screen_csv: Path | None = None  # that table's numbers
    #: What the terminal must say beside the first screen: cells left out (damaged, unreadable) and
    #: unfinished ones, each one line (the report's Notes and "Cell folders left out" have them all).
    warnings: list[str] = field(default_factory=list)

    def paths(self) -> list[Path]:
        """Every written file."""
        screen = [self.first_screen_csv] if self.first_screen_csv is not None else []
        return [self.markdown, self.csv, *screen, *self.tables, *self.plots]


def _rel(p: Path, root: Path) -> str:
    """``p`` relative to ``root`` where it lies inside, else as given."""
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


def _intro(analysis: Analysis, root: Path) -> str:
    """The paragraph under the title: what was read and how every number is aggregated."""
    n_cells = analysis.aggregate["cell_hash"].nunique()
    n_partial = sum(1 for n in analysis.notes if n.startswith("PARTIAL "))
    cells_txt = f"{n_cells - n_partial} finished cells" + (
        f" and {n_partial} unfinished (PARTIAL, see Notes)" if n_partial else ""
    )
    k_txt = f"the last {analysis.last_k}" if analysis.last_k else "all"
    return (
        f"Results folder `{root}`: {cells_txt}. Estimator: {_estimator_text(analysis)}. Final-snapshot metrics are mean ± sd "
        f"(ddof=1) over seeds; within-run numbers use {k_txt} snapshots of each run. Pairwise taus compare rankings "
        "with each other (no ground truth): seed-vs-seed at the final snapshot, snapshot-vs-snapshot within a run. "
        "`params (baseline)` ranks by parameter count of the standard network; `ceiling` rows use another ground truth "
        "of the same dataset family as the estimator (the most any estimator can be expected to reach)."
    )


def _summary_blocks(analysis: Analysis) -> list[str]:
    """One heading, table and verdict list per (space, protocol)."""
    lines: list[str] = []
    for (space, protocol), block in analysis.table.groupby(["space", "protocol"], sort=True):
        sup = block[block["kind"] == "supernet"]
        n_archs = int(sup["n_archs"].max()) if not sup.empty else int(block["n_archs"].max())
        lines += ["", f"## {space} · protocol `{protocol}` ({n_archs} architectures)", "", markdown_table(block), ""]
        lines += verdicts(block)
    return lines


def render(
    analysis: Analysis,
    root: Path,
    plot_files: list[Path],
    out_dir: Path,
    title: str = "wsbench report",
    preamble: str = "",
    sections: list[str] | None = None,
    opening: list[str] | None = None,
) -> str:
    """The Markdown report text: the ``opening`` (first screen), summary, the analyses' ``sections``, plots, notes."""
    lines = [f"# {title}", ""]
    if opening:
        lines += [*opening, "## Setup", ""]
    if preamble:
        lines += [preamble.strip(), ""]
    lines += [_intro(analysis, root), *_summary_blocks(analysis)]
    if sections:
        lines += [""] + sections
    lines += ["", "## Plots", ""]
    lines += [f"![{p.stem}]({_rel(p, out_dir)})" for p in plot_files]
    if analysis.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in analysis.notes]
    if analysis.skipped:
        lines += ["", "## Cell folders left out", ""]
        lines += [f"- `{_rel(p, root)}`: {why}" for p, why in analysis.skipped]
    return "\n".join(lines) + "\n"


def _params_groups(analysis: Analysis) -> list[GroupScores]:
    """The params baseline as a one-run group per (space, protocol), on the first group's architectures."""
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


def _write_analyses(rendered: list[Rendered], out: Path, name: str) -> tuple[list[Path], list[Path]]:
    """Every analysis's figures and CSV frames, written; their paths in report order."""
    pngs = [figure.draw(out / figure.file(name)) for r in rendered for figure in r.figures]
    tables = []
    for suffix, frame in ((s, f) for r in rendered for s, f in r.frames.items()):
        path = out / f"{name}-{suffix}.csv"
        atomic_write_text(path, frame.to_csv(index=False))
        tables.append(path)
    return pngs, tables


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
    """Analyse the finished cells under ``root`` and write ``<out>/<name>.{md,csv}``, the analyses' CSVs and the PNGs.

    ``out_dir`` defaults to ``<root>/reports``; ``cells`` restricts the report to these cell hashes;
    ``labels`` maps full cell hashes to strategy labels (a matrix's), else labels are derived;
    ``title`` and ``preamble`` (Markdown) head the report, e.g. what a reproduce profile ran;
    ``bootstrap``: resamples behind each interval (0: no interval section).
    """
    root = Path(root) if root is not None else results_dir()
    analysis = analyse(root, last_k=last_k, score=score, cells=cells, labels=labels, baselines=baselines, partial=partial)
    out = Path(out_dir) if out_dir is not None else root / "reports"
    pngs = write_summary_plots(analysis.curves, analysis.table, analysis.scatter, out, name, score)
    rendered = run_all(Groups(analysis.groups, _params_groups(analysis), bootstrap), name)
    # The same intervals as the interval section's (same groups, resamples and seed), tau only.
    taus = interval_table(analysis.groups, bootstrap, metrics=(M.headline().name,)) if bootstrap else None
    screen = first_screen.compute(analysis.table, taus)
    opening = first_screen.lines(screen)
    # The analyses' sections embed their own figures; the Plots section lists the summary's.
    sections = [line for r in rendered for line in r.lines]
    text = render(analysis, root, pngs, out, title, preamble, sections=sections, opening=opening)
    figures, tables = _write_analyses(rendered, out, name)
    files = ReportFiles(out / f"{name}.md", out / f"{name}.csv", pngs + figures, text, tables)
    files.first_screen = "\n".join([f"# {title}", "", *opening]).rstrip() + "\n"
    files.first_screen_csv = out / f"{name}-first-screen.csv"
    files.warnings = [f"left out: {_rel(p, root)}: {why}" for p, why in analysis.skipped]
    files.warnings += [n for n in analysis.notes if n.startswith("PARTIAL ")]
    atomic_write_text(files.first_screen_csv, screen.to_csv(index=False))
    atomic_write_text(files.csv, analysis.table[table_columns()].to_csv(index=False))
    atomic_write_text(files.markdown, text)
    return files


def report_command(
    root: str | None, out: str | None, last_k: int | None, baselines: tuple[str, ...] = (), partial: bool = False
) -> str:
    """``wsbench report``: write the report and return its Markdown plus the list of written files."""
    if baselines:
        from harness.api.errors import unknown
        from harness.baselines import BASELINES

        for b in baselines:
            if b not in BASELINES.names():
                raise unknown("baseline", b, BASELINES.names())
    files = write_report(root, out, last_k, baselines=tuple(baselines), partial=partial)
    return terminal_text(files)


def _shown(path: Path) -> str:
    """``path`` relative to the working directory where it lies inside it, else absolute."""
    absolute = path.resolve()
    try:
        return str(absolute.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(absolute)


def terminal_text(files: ReportFiles, extra: str = "") -> str:
    """What ``wsbench report`` and ``reproduce`` print: the first screen, ``extra`` lines, then where the rest is."""
    where = f"Full report: {_shown(files.markdown)} ({len(files.paths()) - 1} CSV and PNG files beside it)"
    warned = "".join(f"{w}\n" for w in files.warnings)
    return f"{files.first_screen.rstrip()}\n{extra}\n{warned}{where}\n"
