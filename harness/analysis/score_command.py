"""``wsbench score FILE... --space SPACE``: the report of a trained cell, for scores from any estimator.

Each file is read and checked (``score_files``), written as imported cells (``imported``) into a
results folder, optionally beside the cells of other results folders (``--with``), and reported
by the same ``write_report`` a matrix uses: every metric with intervals, baselines, the ceiling,
the analyses, plots and verdicts, plus the estimators' agreement with each other.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.analysis.score_files import ScoreFile, read_score_file
from harness.api.errors import WsbenchError
from harness.api.space import GTSpec


def default_ground_truths(space: Any) -> tuple[GTSpec, ...]:
    """The space's default ground truths (an imported estimator trained on nothing: every one applies)."""
    return tuple(tuple(g) for g in space.default_ground_truths)  # type: ignore[misc]


def parse_ground_truth(text: str) -> GTSpec:
    """``source,dataset,split,metric,seed_reduction`` -> the query tuple (all five named)."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 5 or not all(parts):
        raise WsbenchError(
            f"--ground-truth {text!r}: give source,dataset,split,metric,seed_reduction, e.g. csv,cifar10,test,accuracy,mean"
        )
    return tuple(parts)  # type: ignore[return-value]


def link_results(root: Path, others: Sequence[str]) -> int:
    """Symlink every cell folder of ``others`` into ``root/runs`` (reported side by side); returns the count."""
    count = 0
    for other in others:
        runs = Path(other) / "runs"
        if not runs.is_dir():
            raise WsbenchError(f"--with {other}: no runs/ folder there; give a wsbench results folder")
        for config in sorted(runs.glob("*/*/*/*/config.json")):
            folder = config.parent
            dest = root / "runs" / folder.relative_to(runs)
            if dest.exists() or dest.is_symlink():
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(folder.resolve(), dest, target_is_directory=True)
            count += 1
    return count


def describe_files(files: Sequence[ScoreFile], n_common: int) -> str:
    """The report's preamble: what each file is, how it was read, and its cost."""
    lines = [f"Estimators read from score files, compared on the {n_common} architectures every file scores:", ""]
    for f in files:
        runs = f.rows.groupby("seed")["epoch"].nunique()
        cost = f.cost
        cost_txt = (
            f"; cost {float(cost['device_hours']):.4g} device-hours on {cost.get('device', 'an unstated device')}"
            + (f" ({cost['what']})" if cost.get("what") else "")
            if "device_hours" in cost
            else "; no cost stated"
        )
        lines.append(
            f"- **{f.label}**: `{f.path.name}` (sha256 {f.sha256[:12]}), {'higher' if f.higher_is_better else 'lower'} is better, "
            f"keys read as {f.key_format}, {f.rows['arch'].nunique()} architectures, {len(runs)} run(s) with "
            f"{int(runs.max())} snapshot(s) each{cost_txt}." + (f" {f.note}" if f.note else "")
        )
    return "\n".join(lines)


def score_command(
    paths: Sequence[str],
    space_name: str,
    *,
    out: str | None = None,
    direction: str | None = None,
    key_format: str | None = None,
    labels: Sequence[str] = (),
    duplicates: str = "error",
    ground_truths: Sequence[str] = (),
    baselines: Sequence[str] = (),
    with_results: Sequence[str] = (),
    bootstrap: int = 1000,
    partial: bool = False,
) -> str:
    """Read, import and report the score files; returns the report's Markdown and the written files."""
    from harness.analysis.imported import import_files
    from harness.analysis.report import write_report
    from harness.catalog import SPACES
    from harness.settings import results_dir

    space = SPACES.get(space_name)
    if labels and len(labels) != len(paths):
        raise WsbenchError(f"--label was given {len(labels)} time(s) for {len(paths)} file(s); give one label per file or none")
    files = [
        read_score_file(p, space, direction=direction, key_format=key_format, label=labels[i] if labels else None,
                        duplicates=duplicates)
        for i, p in enumerate(paths)
    ]  # fmt: skip
    gts = tuple(parse_ground_truth(g) for g in ground_truths) or default_ground_truths(space)
    root = Path(out) if out else results_dir() / "scores" / "+".join(f.label for f in files)[:80]
    hashes, notes = import_files(files, space, root, gts)
    linked = link_results(root, with_results)
    from harness.analysis.imported import common_archs

    preamble = describe_files(files, len(common_archs(files)[0]))
    if notes:
        preamble += "\n\n" + "\n".join(f"- {n}" for n in notes)
    if linked:
        preamble += f"\n\nBeside them: {linked} cell(s) linked from {', '.join(with_results)}."
    if baselines:
        from harness.api.errors import unknown
        from harness.baselines import BASELINES

        for b in baselines:
            if b not in BASELINES.names():
                raise unknown("baseline", b, BASELINES.names())
    report = write_report(
        root, root / "reports", name="scores", labels=hashes, title="wsbench score", baselines=tuple(baselines),
        preamble=preamble, partial=partial, bootstrap=bootstrap,
    )  # fmt: skip
    return report.text + "\nwritten:\n" + "\n".join(f"  {p}" for p in report.paths()) + "\n"
