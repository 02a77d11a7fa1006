"""A snapshot's scores against the ground truths: loading the tables, long-format metric rows.

Each score field of the cell's task becomes one estimator, oriented by its direction
(``harness.api.task.oriented``): for classification ``accuracy`` and ``neg_loss``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness import metrics as M
from harness.api.errors import WsbenchError
from harness.api.ground_truth import GroundTruthTable
from harness.api.space import GTSpec
from harness.api.task import ScoreField, estimator_name, oriented
from harness.catalog import GROUND_TRUTHS, load_ground_truth
from harness.engine.run_folder import RunFolder

#: The ground-truth label of metric rows of a cell without ground truth (stability only).
NO_GROUND_TRUTH = "none"


def available_ground_truths(space: str, specs: Sequence[GTSpec]) -> tuple[list[GroundTruthTable], list[str]]:
    """Load the configured ground truths that are present here; list why the others are not."""
    tables, skipped = [], []
    for src, ds, split, metric, red in specs:
        ok, why = GROUND_TRUTHS.get(f"{space}/{src}")().available()
        if not ok:
            skipped.append(f"{space}/{src}: {why}")
            continue
        tables.append(load_ground_truth(space, src, ds, split, metric, red))
    return tables, skipped


def snapshot_metrics(
    scores: pd.DataFrame, tables: list[GroundTruthTable], epoch: int, fields: Sequence[ScoreField]
) -> list[dict[str, Any]]:
    """Long-format metric rows of one snapshot against every ground truth, one estimator per score field.

    A table that covers only part of the architecture set (e.g. NB101's 500-cell table) is
    compared on the architectures it covers; the count is recorded as the ``n_archs`` metric.
    """
    if not tables:
        # No ground truth on this cell's data: record how many architectures each estimator scored,
        # so the cell's metrics still say what was measured (stability is computed from the scores).
        return [
            {"epoch": epoch, "ground_truth": NO_GROUND_TRUTH, "gt_fingerprint": "", "score": estimator_name(f),
             "metric": "n_archs", "value": float(len(scores))}
            for f in fields
        ]  # fmt: skip
    rows = []
    for table in tables:
        covered = scores[scores["arch"].isin(set(table.arch_ids))]
        if len(covered) < 2:
            continue
        true = table.lookup(covered["arch"].tolist())
        true = true if table.higher_is_better else -true
        fp = table.fingerprint[:16]
        for field in fields:
            values = {**M.compute_all(oriented(covered[field.name].to_numpy(), field), true), "n_archs": float(len(covered))}
            for name, value in values.items():
                rows.append(
                    {
                        "epoch": epoch,
                        "ground_truth": table.query.label(),
                        "gt_fingerprint": fp,
                        "score": estimator_name(field),
                        "metric": name,
                        "value": value,
                    }
                )
    return rows


def metrics_from_scores(run_dir: Path) -> int:
    """(Re)write ``metrics.csv`` of a cell from its score files; returns the number of snapshots.

    For cells that stopped before their last snapshot and predate per-snapshot metrics files, and for
    imported score files: the metrics are computed against the ground truths recorded in
    ``config.json``, exactly as the loop does at each snapshot.
    """
    folder = RunFolder(Path(run_dir))
    config = folder.config()
    try:
        space, specs = config["space"]["name"], tuple(tuple(g) for g in config["ground_truths"])
    except (KeyError, TypeError) as exc:
        raise WsbenchError(f"{folder.path / 'config.json'} lacks {exc}; the cell cannot be reported") from None
    task = folder.task()
    tables, _ = available_ground_truths(space, specs)
    scores = folder.scores(task.score_fields)
    rows: list[dict[str, Any]] = []
    for epoch, snap in scores.groupby("epoch", sort=True):
        rows.extend(snapshot_metrics(snap.reset_index(drop=True), tables, int(epoch), task.score_fields))
    folder.write_metrics(rows)
    return int(scores["epoch"].nunique())


def selected_summary(arch_id: str, tables: list[GroundTruthTable]) -> dict[str, Any]:
    """The strategy's own pick with its ground-truth value and percentile rank in each table."""
    out: dict[str, Any] = {"arch": arch_id, "ground_truth": {}}
    for table in tables:
        if arch_id not in table._index:
            continue
        value = float(table.lookup([arch_id])[0])
        allv = np.asarray(table.values)
        better = (allv > value).mean() if table.higher_is_better else (allv < value).mean()
        out["ground_truth"][table.query.label()] = {"value": value, "fraction_better": float(better)}
    return out
