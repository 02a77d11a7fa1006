"""Score files as cells: each (file, seed) becomes a finished cell folder, so the report treats it like a run.

The folder is the one a trained cell writes (``config.json``, ``scores/epoch_NNN.csv``,
``metrics.csv`` against the ground truths, ``result.json`` sealed last), under
``runs/<space>/imported/<label>/seed<k>-<hash10>/``. Its protocol is ``imported`` and its task the
imported-scores task (one ``score`` field, oriented higher-is-better at import); ``config.json``
records the file, its SHA-256, the declared direction, the key format, the cost and any merges.
Every file is compared on the architectures all files score: the rest is listed, not dropped silently.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from harness.analysis.score_files import ScoreFile
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


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._@+=-]+", "-", label).strip("-") or "scores"


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
    run_dir = cell_path(root, config["space"]["name"], IMPORTED, _slug(label), config["seed"], config["cell_hash"])
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


def import_files(
    files: Sequence[ScoreFile], space: Any, root: Path, ground_truths: Sequence[GTSpec]
) -> tuple[dict[str, str], list[str]]:
    """Write every file's runs as cells under ``root``; returns {cell hash: label} and the notes."""
    labels = [f.label for f in files]
    if len(set(labels)) != len(labels):
        dup = next(lbl for lbl in labels if labels.count(lbl) > 1)
        raise WsbenchError(f"two score files are labelled {dup!r}; give each its own label (--label or the file's 'label')")
    common, notes = common_archs(files)
    planned = [(f, int(seed), cell_config(f, space, int(seed), ground_truths)) for f in files for seed in f.seeds]
    check_out_folder(root, {c["cell_hash"] for _, _, c in planned})
    out: dict[str, str] = {}
    for f, seed, config in planned:
        rows = f.rows[(f.rows["seed"] == seed) & f.rows["arch"].isin(set(common))]
        run_dir = write_cell(root, config, rows)
        if cell_state(run_dir)[0] != FINISHED:
            raise WsbenchError(f"{run_dir}: the imported cell did not validate after writing; check the disk and retry")
        out[config["cell_hash"]] = f.label
    notes += [m for f in files for m in f.merged]
    return out, notes
