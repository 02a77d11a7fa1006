"""Rows of the stability table: its columns, and the rows of fixed estimators (params, ceiling, baselines).

Which metrics get columns, under which prefix and how their per-run values aggregate is declared
once in ``harness.metrics`` (the ``summary`` place, ``MetricSpec.column`` and ``MetricSpec.over``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness import metrics as M
from harness.analysis.baseline_cache import cached_baseline
from harness.analysis.labels import short_gt
from harness.analysis.truths import independent, oriented
from harness.api.errors import WsbenchError
from harness.api.ground_truth import GroundTruthTable, dataset_family
from harness.run.store import Cell

PARAMS_LABEL = "params (baseline)"
KINDS = ("supernet", "params", "baseline", "ceiling")
#: Seeds over which seeded training-free baselines are averaged (init and minibatch for proxies).
#: jacob_cov costs ~0.5 s per architecture on a CPU, so it gets one seed unless asked otherwise.
BASELINE_SEEDS = {"random": (0, 1, 2), "synflow": (0, 1), "jacob_cov": (0,)}


def summary_specs() -> tuple[M.MetricSpec, ...]:
    """The metrics with summary columns, the headline first (its columns lead the table)."""
    head = M.headline()
    return (head, *(s for s in M.shown_in(M.SUMMARY) if s is not head))


def metric_columns(spec: M.MetricSpec) -> list[str]:
    """A summary metric's columns: mean and sd over seeds, then the within-run pair where it declares one."""
    c = spec.column
    within = [f"{c}_lastk_mean", f"{c}_lastk_sd"] if spec.over.last_k else []
    return [f"{c}_mean", f"{c}_sd", *within]


def table_columns() -> list[str]:
    """Column order of ``Analysis.table`` (and of the report CSV)."""
    head, *rest = summary_specs()
    cols = ["space", "protocol", "kind", "label", "ground_truth", "score", "n_seeds", "seeds", "epochs", "final_epoch",
            "n_archs", "train_mimg_paths", "device_hours", *metric_columns(head), "seed_pairwise_tau",
            "snapshot_pairwise_tau"]  # fmt: skip
    for spec in rest:
        cols += metric_columns(spec)
    return cols


def _schema() -> dict[str, str]:
    """Column -> description of the report CSV (for results/README.md), the metric columns from their specs."""
    head, *rest = summary_specs()
    others = ", ".join(s.name + ("" if s.higher_is_better else " (lower is better)") for s in rest)
    within = {
        f"{head.column}_lastk_mean / {head.column}_lastk_sd": f"{head.header} over the last K snapshots within a run: "
        "mean and sd per run, averaged over seeds"
    }
    return {
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
        "train_mimg_paths": "training compute behind the final snapshot: millions of (example x path) passes (an example "
        "is an image, or a token for a language model), mean over seeds",
        f"{head.column}_mean / {head.column}_sd": f"{head.header} at the final snapshot: mean and sd (ddof=1) over seeds",
        **(within if head.over.last_k else {}),
        "seed_pairwise_tau": "mean Kendall tau between the final-snapshot rankings of different seeds (no ground truth involved)",
        "snapshot_pairwise_tau": "mean Kendall tau between the rankings of different snapshots of one run, averaged over seeds",
        "<metric>_mean / <metric>_sd": f"{others} at the final snapshot: mean and sd over seeds",
    }


#: Column -> description of the report CSV (for results/README.md).
REPORT_SCHEMA: dict[str, str] = _schema()


def undefined_metrics() -> dict[str, float]:
    """Every summary metric column, NaN (no ground truth, or an estimator that ranks nothing)."""
    return {c: float("nan") for spec in summary_specs() for c in metric_columns(spec)}


def over_seeds(per_run: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """Mean and sd columns of every summary metric from its per-run values (each metric's own aggregation)."""
    out: dict[str, float] = {}
    for spec in summary_specs():
        out[f"{spec.column}_mean"], out[f"{spec.column}_sd"] = spec.over.seeds(per_run[spec.name])
    return out


def params_estimator(space_name: str, archs: list[str]) -> np.ndarray:
    """Parameter count (millions) of each architecture's standard stand-alone network."""
    from harness.baselines import score_baseline

    return score_baseline("params", space_name, archs, seed=0)


def reference_row(
    space: str, protocol: str, kind: str, label: str, gt: str, score: str, est: np.ndarray, true: np.ndarray
) -> dict[str, Any]:
    """A row for a fixed estimator (params, another ground truth): no seeds, no sd.

    An estimator that gives every architecture the same score (params on a space whose cells all
    have the same weights) ranks nothing: every metric is undefined (NaN), not a tie-break artefact.
    """
    vals = M.compute_all(est, true, names=list(M.names_shown(M.SUMMARY)))
    if len(est) and np.ptp(np.asarray(est, dtype=np.float64)) == 0:
        vals = {k: float("nan") for k in vals}
    row: dict[str, Any] = {
        "space": space,
        "protocol": protocol,
        "kind": kind,
        "label": label,
        "ground_truth": gt,
        "score": score,
        "n_seeds": 0,
        "seeds": "",
        "epochs": "",
        "final_epoch": np.nan,
        "n_archs": len(est),
        "device_hours": np.nan,
        "seed_pairwise_tau": np.nan,
        "snapshot_pairwise_tau": np.nan,
        **undefined_metrics(),
    }
    for spec in summary_specs():
        row[f"{spec.column}_mean"] = vals[spec.name]
    return row


def reference_rows(
    space: str,
    protocol: str,
    archs: list[str],
    tables: dict[str, GroundTruthTable],
    defaults: dict[str, GroundTruthTable],
    score: str,
) -> list[dict[str, Any]]:
    """params-baseline and ceiling rows of one (space, protocol) on its architecture set."""
    if len(archs) < 2:
        return []
    rows = []
    params = params_estimator(space, archs)
    others = {**defaults, **tables}
    for lbl, t in tables.items():
        true = oriented(t, archs)
        rows.append(reference_row(space, protocol, "params", PARAMS_LABEL, lbl, score, params, true))
        for other_lbl, other in others.items():
            # A partial table (some architectures missing) cannot serve as the ceiling's estimator.
            comparable = dataset_family(other.query.dataset) == dataset_family(t.query.dataset) and independent(other, t)
            if other_lbl != lbl and comparable and set(archs) <= set(other.arch_ids):
                label = f"ceiling ({short_gt(other_lbl)})"
                rows.append(reference_row(space, protocol, "ceiling", label, lbl, score, oriented(other, archs), true))
    return rows


def baseline_rows(
    space: str,
    protocol: str,
    archs: list[str],
    tables: dict[str, GroundTruthTable],
    score: str,
    names: tuple[str, ...],
    root: Path | None,
    notes: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Rows of training-free baselines (random, flops, zero-cost proxies) on the same architectures.

    Seeded baselines are scored once per seed in ``BASELINE_SEEDS`` and reported as mean ± sd;
    scores are cached under ``<root>/baselines/`` since proxies cost seconds per architecture.
    """
    from tqdm import tqdm

    from harness.baselines import score_baseline

    if len(archs) < 2:
        return []
    rows = []
    # Proxies cost seconds per architecture when not cached: show a bar (off under CI).
    for name in tqdm(names, desc=f"baselines {space}", unit="baseline", disable=bool(os.environ.get("CI")), leave=False):
        if name == "params":
            continue  # always present as its own row
        seeds = BASELINE_SEEDS.get(name, (0,))
        try:
            per_seed = [cached_baseline(root, space, name, archs, s, score_baseline) for s in seeds]
        except WsbenchError as exc:  # e.g. no FLOP count for this space: say so, keep the rest
            if notes is not None:
                notes.append(f"{space}/{protocol}: baseline {name!r} skipped: {exc}")
            continue
        for lbl, t in tables.items():
            true = oriented(t, archs)
            vals = [M.compute_all(est, true, names=list(M.names_shown(M.SUMMARY))) for est in per_seed]
            row = reference_row(space, protocol, "baseline", f"{name} (baseline)", lbl, score, per_seed[0], true)
            row["n_seeds"], row["seeds"] = len(seeds), ",".join(map(str, seeds))
            row.update(over_seeds({m: [v[m] for v in vals] for m in M.names_shown(M.SUMMARY)}))
            rows.append(row)
    return rows


def training_compute(cell: Cell, epoch: int) -> float:
    """Millions of (training example x path) forward/backward passes behind the snapshot at ``epoch``.

    The unit in which strategies are compared at equal compute: FairNAS's 5 paths on one image
    count 5, SPOS's one path counts 1. An example is an image, or a token for a language model (a
    step's ``batch_size`` streams x ``bptt`` tokens). NaN for cells that predate the recorded schedule.
    """
    try:
        sched = cell.config["schedule"]
        per_epoch = float(sched["path_passes"]) / int(sched["epochs"])
        per_step = int(cell.config["protocol"]["batch_size"])
        if cell.config.get("data", {}).get("unit") == "tokens":
            per_step *= int(cell.config["protocol"].get("task_options", {}).get("bptt", 35))
        return per_epoch * epoch * per_step / 1e6
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return float("nan")


def device_hours(cell: Cell, epoch: int) -> float:
    """Device-hours behind the snapshot at ``epoch``: training seconds of a run, or an imported file's stated cost.

    A trained cell's are its seconds per training epoch times ``epoch`` (scoring not counted), on the
    device its provenance names; NaN where the cell did not finish (no timing is kept before).
    """
    imported = cell.config.get("imported")
    if imported is not None:
        return float((imported.get("cost") or {}).get("device_hours", float("nan")))
    per_epoch = (cell.result or {}).get("seconds_per_epoch")
    return float(per_epoch) * epoch / 3600.0 if isinstance(per_epoch, (int, float)) else float("nan")
