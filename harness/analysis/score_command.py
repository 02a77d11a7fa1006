"""``wsbench score FILE... --space SPACE``: the report of a trained cell, for scores from any estimator.

Every input (files, labels, ground truths, baselines, ``--with`` folders, the output folder, the
bootstrap count) is checked first and nothing is written until all pass (``check_inputs``). Each
file is read and checked (``score_files``), written as imported cells (``imported``) into a
results folder, optionally beside the cells of other results folders (``--with``), and reported
by the same ``write_report`` a matrix uses: every metric with intervals, baselines, the ceiling,
the analyses, plots and verdicts, plus the estimators' agreement with each other.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.analysis.score_files import ScoreFile, read_score_file
from harness.api.errors import WsbenchError, unknown
from harness.api.space import GTSpec

if TYPE_CHECKING:  # the import module pulls in the engine (torch): loaded only when cells are written
    from harness.analysis.imported import ImportPlan


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


def resolve_ground_truths(space: Any, texts: Sequence[str]) -> tuple[GTSpec, ...]:
    """The ground truths to score against: each named one registered, answerable and present; else the defaults.

    A named ground truth that is missing here is refused (the user asked for it); a default one
    that is missing is left out with the reason, as for a trained cell.
    """
    from harness.api.ground_truth import GroundTruthQuery
    from harness.catalog import GROUND_TRUTHS

    if not texts:
        return default_ground_truths(space)
    known = [n.split("/", 1)[1] for n in GROUND_TRUTHS.names(f"{space.name}/*")]
    specs: list[GTSpec] = []
    for text in texts:
        spec = parse_ground_truth(text)
        if spec in specs:
            raise WsbenchError(f"--ground-truth {text!r} is given twice; name each ground truth once")
        if spec[0] not in known:
            raise unknown(f"ground-truth source of space {space.name!r} (--ground-truth {text})", spec[0], known)
        source = GROUND_TRUTHS.get(f"{space.name}/{spec[0]}")()
        source.validate(GroundTruthQuery(space.name, *spec))
        ok, why = source.available()
        if not ok:
            raise WsbenchError(f"--ground-truth {text}: {why}")
        specs.append(spec)
    return tuple(specs)


def check_with(others: Sequence[str]) -> None:
    """Every ``--with`` folder is a results folder holding cells (checked before anything is written)."""
    for other in others:
        runs = Path(other) / "runs"
        if not runs.is_dir():
            raise WsbenchError(f"--with {other}: no runs/ folder there; give a wsbench results folder")
        if next(iter(runs.glob("*/*/*/*/config.json")), None) is None:
            raise WsbenchError(f"--with {other}: {runs} holds no cell folders; give a results folder with runs in it")


def link_results(root: Path, others: Sequence[str]) -> int:
    """Symlink every cell folder of ``others`` into ``root/runs`` (reported side by side); returns the count."""
    check_with(others)
    count = 0
    for other in others:
        runs = Path(other) / "runs"
        for config in sorted(runs.glob("*/*/*/*/config.json")):
            folder = config.parent
            dest = root / "runs" / folder.relative_to(runs)
            if dest.exists() or dest.is_symlink():
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(folder.resolve(), dest, target_is_directory=True)
            count += 1
    return count


def out_folder(out: str | None, files: Sequence[ScoreFile], with_results: Sequence[str]) -> Path:
    """The results folder to write: ``--out``, else ``<results>/scores/<label slugs>``; checked writable, nothing made."""
    from harness.analysis.score_files import slug
    from harness.settings import results_dir, writable_folder

    if out:
        root = Path(out).expanduser()
    else:  # slugs only: a label is display text and never a path component as written
        root = results_dir() / "scores" / ("+".join(slug(f.label) for f in files)[:80].rstrip("+-.") or "scores")
    writable_folder(root, "score results folder")
    for sub in ("runs", "reports", "baselines"):
        if (root / sub).exists() and not (root / sub).is_dir():
            raise WsbenchError(f"{root / sub} is a file, not a folder; give another --out folder")
    for other in with_results:
        if Path(other).resolve() == root.resolve():
            raise WsbenchError(f"--with {other} is the folder the scores are written to; give another results folder")
    return root


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


@dataclass
class ScoreInputs:
    """Everything ``wsbench score`` uses, checked: nothing is written before this exists."""

    space: Any
    files: list[ScoreFile]
    plan: ImportPlan
    baselines: tuple[str, ...]
    bootstrap: int


def check_inputs(
    paths: Sequence[str],
    space_name: str,
    *,
    out: str | None,
    labels: Sequence[str],
    ground_truths: Sequence[str],
    baselines: Sequence[str],
    with_results: Sequence[str],
    bootstrap: int,
    read: dict[str, Any],
) -> ScoreInputs:
    """Every check of a score command, in order of cost, before anything is written; ``read``: read_score_file options."""
    from harness.analysis.imported import plan_import
    from harness.analysis.limits import check_bootstrap
    from harness.baselines import check_names
    from harness.catalog import SPACES
    from harness.engine.scoring import available_ground_truths

    space = SPACES.get(space_name)
    bootstrap = check_bootstrap(bootstrap)
    if labels and len(labels) != len(paths):
        raise WsbenchError(f"--label was given {len(labels)} time(s) for {len(paths)} file(s); give one label per file or none")
    names = check_names(baselines)
    check_with(with_results)
    gts = resolve_ground_truths(space, ground_truths)
    files = [read_score_file(p, space, label=labels[i] if labels else None, **read) for i, p in enumerate(paths)]
    # Loaded now so a damaged ground-truth file fails here, not half-way through writing (tables are cached).
    available_ground_truths(space.name, gts)
    root = out_folder(out, files, with_results)
    return ScoreInputs(space, files, plan_import(files, space, root, gts), names, bootstrap)


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
    progress: Callable[[str], None] | None = None,
) -> str:
    """Check everything, then import and report the score files; returns the report's Markdown and the written files.

    ``progress`` hears, once the checks pass, what is being written (a large file takes a minute or more).
    """
    from harness.analysis.imported import write_import
    from harness.analysis.report import write_report

    say = progress or (lambda _message: None)
    read = {"direction": direction, "key_format": key_format, "duplicates": duplicates}
    inputs = check_inputs(
        paths, space_name, out=out, labels=labels, ground_truths=ground_truths, baselines=baselines,
        with_results=with_results, bootstrap=bootstrap, read=read,
    )  # fmt: skip
    plan = inputs.plan
    say(_checked_line(inputs))
    hashes = write_import(plan)
    linked = link_results(plan.root, with_results)
    preamble = describe_files(inputs.files, len(plan.common))
    if plan.notes:
        preamble += "\n\n" + "\n".join(f"- {n}" for n in plan.notes)
    if linked:
        preamble += f"\n\nBeside them: {linked} cell(s) linked from {', '.join(with_results)}."
    say(
        f"writing the report under {plan.root / 'reports'}: metrics, {inputs.bootstrap or 'no'} bootstrap resamples per "
        "interval, baselines, analyses and plots"
    )
    report = write_report(
        plan.root, plan.root / "reports", name="scores", labels=hashes, title="wsbench score", baselines=inputs.baselines,
        preamble=preamble, partial=partial, bootstrap=inputs.bootstrap,
    )  # fmt: skip
    return report.text + "\nwritten:\n" + "\n".join(f"  {p}" for p in report.paths()) + "\n"


def _checked_line(inputs: ScoreInputs) -> str:
    """What was checked and what comes next, in one line."""
    n_rows = sum(len(f.rows) for f in inputs.files)
    return (
        f"checked {len(inputs.files)} score file(s): {n_rows:,} scores, {len(inputs.plan.common):,} architectures scored by "
        f"every file, run and snapshot; writing {len(inputs.plan.cells)} imported cell(s) under {inputs.plan.root}"
    )
