"""Score files as cells: each (file, seed) becomes a finished cell folder, so the report treats it like a run.

The folder is the one a trained cell writes (``config.json``, ``scores/epoch_NNN.csv``,
``metrics.csv`` against the ground truths, ``result.json`` sealed last), under
``runs/<space>/imported/<slug of the label>/seed<k>-<hash10>/`` (the label itself is display text and
never a path component: ``score_files.slug``). Its protocol is ``imported`` and its task the
imported-scores task (one ``score`` field, oriented higher-is-better at import); ``config.json``
records the file, its SHA-256, the declared direction, the key format, the cost and any merges.
Every file is compared on the architectures all files score: the rest is listed, not dropped silently.
``plan_import`` makes every check and writes nothing; ``write_import`` then writes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness.analysis.score_files import ScoreFile, slug
from harness.api.errors import WsbenchError
from harness.api.space import GTSpec
from harness.engine.integrity import FINISHED, cell_state
from harness.engine.run_folder import RunFolder, cell_path
from harness.tasks.imported import IMPORTED_SCORES

IMPORTED = "imported"


def common_archs(files: Sequence[ScoreFile]) -> tuple[list[str], list[str]]:
    """The architectures every file scores in every run and snapshot; and one note per file about the rest."""
    per_file = [set(f.rows["arch"]) for f in files]
    sets = [set(g["arch"]) for f in files for _, g in f.rows.groupby(["seed", "epoch"])]
    common = sorted(set.intersection(*sets)) if sets else []
    notes = []
    for f, archs in zip(files, per_file):
        left = sorted(archs - set(common))
        if left:
            notes.append(
                f"{f.path.name} ({f.label}): {len(left)} of its {len(archs)} architectures are not scored by every "
                f"file/run/snapshot and are left out of the comparison (first: {left[0]!r}); {len(common)} remain"
            )
    if len(common) < 2:
        raise WsbenchError(
            f"the score files share {len(common)} architecture(s); ranking metrics need at least 2 scored by every file"
        )
    return common, notes


def cell_config(f: ScoreFile, space: Any, seed: int, ground_truths: Sequence[GTSpec]) -> dict[str, Any]:
    """The config of one imported run, with its hash."""
    config: dict[str, Any] = {
        "space": space.describe(),
        "strategy": {"name": IMPORTED, "options": {"label": f.label}},
        "protocol": {"name": IMPORTED, "task": IMPORTED_SCORES.name},
        "seed": int(seed),
        "ground_truths": [list(g) for g in ground_truths],
        "imported": {
            "file": str(f.path),
            "sha256": f.sha256,
            "higher_is_better": f.higher_is_better,
            "key_format": f.key_format,
            "cost": f.cost,
            "note": f.note,
            "merged": f.merged,
        },
    }
    config["cell_hash"] = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()
    return config


def write_cell(root: Path, config: dict[str, Any], rows: pd.DataFrame) -> Path:
    """Write one imported cell folder (``rows``: epoch, arch, score) and seal it; returns the folder."""
    from harness.engine.scoring import metrics_from_scores

    label = config["strategy"]["options"]["label"]
    run_dir = cell_path(root, config["space"]["name"], IMPORTED, slug(label), config["seed"], config["cell_hash"])
    run_dir.mkdir(parents=True, exist_ok=True)
    folder = RunFolder(run_dir)
    folder.write_config(config)
    for epoch, snap in rows.groupby("epoch", sort=True):
        folder.write_scores(int(epoch), snap[["epoch", "arch", "score"]].sort_values("arch", kind="stable"))
    metrics_from_scores(run_dir)
    result = {
        "cell_hash": config["cell_hash"],
        "run_dir": str(run_dir),
        "epochs": sorted(int(e) for e in rows["epoch"].unique()),
        "n_archs": int(rows["arch"].nunique()),
        "imported": True,
    }
    folder.seal(result)  # last: the cell is finished iff this validates
    return run_dir


def check_out_folder(root: Path, hashes: set[str]) -> None:
    """Refuse a results folder that already holds other imported scores (they would be pooled as seeds)."""
    stale = []
    for cfg in (root / "runs").glob(f"*/{IMPORTED}/*/*/config.json"):
        try:
            h = json.loads(cfg.read_text())["cell_hash"]
        except (OSError, ValueError, KeyError):
            h = ""
        if h not in hashes:
            stale.append(cfg.parent)
    if stale:
        raise WsbenchError(
            f"{root} already holds {len(stale)} imported cell(s) from other score files (e.g. {stale[0]}); "
            "give a new --out folder or delete that one"
        )


@dataclass
class ImportPlan:
    """What ``write_import`` will write, every check passed: (file, seed, config) per cell and the notes."""

    root: Path
    cells: list[tuple[ScoreFile, int, dict[str, Any]]]
    common: list[str]
    notes: list[str]


def plan_import(files: Sequence[ScoreFile], space: Any, root: Path, ground_truths: Sequence[GTSpec]) -> ImportPlan:
    """Every check of an import, nothing written: distinct labels and folders, shared architectures, a free folder."""
    labels = [f.label for f in files]
    if len(set(labels)) != len(labels):
        dup = next(lbl for lbl in labels if labels.count(lbl) > 1)
        raise WsbenchError(f"two score files are labelled {dup!r}; give each its own label (--label or the file's 'label')")
    folders = [slug(lbl) for lbl in labels]
    if len(set(folders)) != len(folders):
        a, b = next((x, y) for i, x in enumerate(labels) for y in labels[i + 1 :] if slug(x) == slug(y))
        raise WsbenchError(
            f"the labels {a!r} and {b!r} share the folder name {slug(a)!r}; give labels that differ in letters or digits"
        )
    common, notes = common_archs(files)
    planned = [(f, int(seed), cell_config(f, space, int(seed), ground_truths)) for f in files for seed in f.seeds]
    check_out_folder(root, {c["cell_hash"] for _, _, c in planned})
    return ImportPlan(root, planned, common, notes + [m for f in files for m in f.merged])


def write_import(plan: ImportPlan) -> dict[str, str]:
    """Write every planned run as a sealed cell under the plan's root; returns {cell hash: label}."""
    out: dict[str, str] = {}
    keep = set(plan.common)
    for f, seed, config in plan.cells:
        rows = f.rows[(f.rows["seed"] == seed) & f.rows["arch"].isin(keep)]
        run_dir = write_cell(plan.root, config, rows)
        if cell_state(run_dir)[0] != FINISHED:
            raise WsbenchError(f"{run_dir}: the imported cell did not validate after writing; check the disk and retry")
        out[config["cell_hash"]] = f.label
    return out


def import_files(
    files: Sequence[ScoreFile], space: Any, root: Path, ground_truths: Sequence[GTSpec]
) -> tuple[dict[str, str], list[str]]:
    """Check, then write every file's runs as cells under ``root``; returns {cell hash: label} and the notes."""
    plan = plan_import(files, space, root, ground_truths)
    return write_import(plan), plan.notes
