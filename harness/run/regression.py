"""CI regression check: rerun the ``ci`` matrix and compare it with the committed baseline.

Two kinds of regression are caught:

1. **Drift of a metric out of its tolerance band.** For every ground truth and metric the baseline
   stores the per-seed values of the final snapshot, their mean m and their sd s over the n seeds.
   A rerun's mean over the same n seeds must lie in ``m ± K · s · sqrt(2 / n)`` (with K = 3 and a
   small floor on s): the standard error of the difference of two independent n-seed means is
   ``s · sqrt(2 / n)``, so a correct change of code or platform that only reshuffles seeds stays
   inside the band with high probability, while a broken supernet, evaluator or metric does not.
2. **Loss of determinism.** The same seed must give bit-identical numbers: the check reruns one
   seed in a second folder and compares its score files exactly; and where the platform matches
   the baseline's (torch version, CPU model, thread count), every per-seed value must equal the
   baseline exactly.
"""

from __future__ import annotations

import json
import math
import platform
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.api.errors import WsbenchError
from harness.fileio import atomic_write_json

METRICS = ("kendall_tau", "spearman_rho", "hit@10%", "br@1%")
BAND_K = 3.0
SD_FLOOR = 0.05  # metrics live in [-1, 1] and hit rates move in steps of 1/k: a band is never narrower than one step of a small k
THREADS = 1  # pinned: CPU numbers depend on the thread count


def baseline_path(matrix: str) -> Path:
    """Where the committed baseline of a shipped matrix lives."""
    return Path(__file__).resolve().parents[2] / "results" / "baselines" / f"{matrix}.json"


def cpu_model() -> str:
    """The CPU model name (exact float results can depend on the instruction set)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def platform_key() -> dict[str, Any]:
    """What must match for bit-identical CPU numbers."""
    import torch

    return {"torch": torch.__version__, "cpu": cpu_model(), "machine": platform.machine(), "threads": THREADS}


def run_ci_matrix(matrix: str, root: Path) -> pd.DataFrame:
    """Run the matrix (pinned threads) and return final-snapshot metrics: seed, ground_truth, metric, value."""
    from harness.api.task import estimator_name
    from harness.engine.scoring import task_of
    from harness.run.executor import run_matrix
    from harness.run.matrix import load_matrix
    from spaces import SPACES

    m = load_matrix(matrix)
    run = run_matrix(m, root=root, workers=1, progress=None, log=None, threads=THREADS)  # a bar unless CI is set
    if not run.ok:
        raise WsbenchError(f"matrix {matrix!r} had failed cells: {run.summary()}")
    rows = []
    for outcome in run.outcomes:
        metrics = pd.read_csv(outcome.run_dir / "metrics.csv")
        primary = estimator_name(task_of(SPACES.get(outcome.spec.space), outcome.spec.protocol.task).primary())
        metrics = metrics[(metrics["score"] == primary) & metrics["metric"].isin(METRICS)]
        final = metrics[metrics["epoch"] == metrics["epoch"].max()]
        for r in final.itertuples():
            rows.append(
                {
                    "label": outcome.label,
                    "seed": outcome.spec.seed,
                    "ground_truth": r.ground_truth,
                    "metric": r.metric,
                    "value": float(r.value),
                }
            )
    return pd.DataFrame(rows)


def make_baseline(matrix: str, measured: pd.DataFrame) -> dict[str, Any]:
    """Baseline document: per-seed values, mean, sd and the tolerance band per (label, gt, metric)."""
    entries = []
    for (label, gt, metric), g in measured.groupby(["label", "ground_truth", "metric"], sort=True):
        g = g.sort_values("seed")
        vals = g["value"].to_numpy()
        n = len(vals)
        sd = float(np.std(vals, ddof=1)) if n > 1 else 0.0
        half = BAND_K * max(sd, SD_FLOOR) * math.sqrt(2.0 / n)
        entries.append(
            {
                "label": label,
                "ground_truth": gt,
                "metric": metric,
                "seeds": [int(s) for s in g["seed"]],
                "values": [float(v) for v in vals],
                "mean": float(vals.mean()),
                "sd": sd,
                "band": [float(vals.mean() - half), float(vals.mean() + half)],
            }
        )
    return {
        "matrix": matrix,
        "band_rule": f"mean ± {BAND_K} · max(sd, {SD_FLOOR}) · sqrt(2/n) over the n seeds (sd with ddof=1)",
        "platform": platform_key(),
        "entries": entries,
    }


def write_baseline(matrix: str, root: Path) -> Path:
    """Run the matrix and (re)write its committed baseline."""
    doc = make_baseline(matrix, run_ci_matrix(matrix, root))
    path = baseline_path(matrix)
    atomic_write_json(path, doc)
    return path


def load_baseline(matrix: str) -> dict[str, Any]:
    """The committed baseline, or a one-line error saying how to make it."""
    path = baseline_path(matrix)
    if not path.exists():
        raise WsbenchError(f"no baseline for matrix {matrix!r} at {path}; create it with: wsbench regression {matrix} --write")
    return json.loads(path.read_text())


def compare(baseline: dict[str, Any], measured: pd.DataFrame) -> list[str]:
    """Problems found (empty when the rerun is within every band and, on the same platform, identical)."""
    problems = []
    exact = baseline["platform"] == platform_key()
    for e in baseline["entries"]:
        g = measured[
            (measured["label"] == e["label"])
            & (measured["ground_truth"] == e["ground_truth"])
            & (measured["metric"] == e["metric"])
        ].sort_values("seed")
        if g.empty:
            problems.append(f"{e['label']} {e['ground_truth']} {e['metric']}: missing from the rerun")
            continue
        mean = float(g["value"].mean())
        lo, hi = e["band"]
        if not lo <= mean <= hi:
            problems.append(
                f"{e['label']} {e['ground_truth']} {e['metric']}: mean {mean:.4f} left its band [{lo:.4f}, {hi:.4f}] "
                f"(baseline {e['mean']:.4f} ± {e['sd']:.4f} over seeds {e['seeds']})"
            )
        if exact and [float(v) for v in g["value"]] != e["values"]:
            problems.append(
                f"{e['label']} {e['ground_truth']} {e['metric']}: same seeds on the same platform no longer give "
                f"identical numbers ({list(g['value'])} vs baseline {e['values']})"
            )
    return problems
