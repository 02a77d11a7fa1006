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
   one the baseline recorded (torch version, CPU model and family, the instruction set torch
   dispatches to, thread count), every per-seed value must equal that platform's values exactly.

The bands are made once, on the platform that wrote the baseline. Exact values of further platforms
are added beside them (``wsbench regression ci --add-platform``) without moving the bands: one
"AMD EPYC" with AVX2 and one with AVX-512 give different floats for the same seed, and a CPU model
name alone does not tell them apart.
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
from harness.metrics import REGRESSION, names_shown

#: The metrics tracked: those declaring the ``regression`` place in ``harness.metrics``.
METRICS = names_shown(REGRESSION)
BAND_K = 3.0
SD_FLOOR = 0.05  # metrics live in [-1, 1] and hit rates move in steps of 1/k: a band is never narrower than one step of a small k
THREADS = 1  # pinned: CPU numbers depend on the thread count
VECTOR_FLAG_PREFIXES = ("avx", "amx", "fma", "f16c", "sse", "ssse")


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


def _cpuinfo_fields() -> dict[str, str]:
    """The first CPU's fields of /proc/cpuinfo (empty where there is none)."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if not line.strip():
                break
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def cpu_features() -> str:
    """Family/model and the vector extensions: what picks the kernels (and so the floats) on one CPU model name."""
    info = _cpuinfo_fields()
    vector = sorted(f for f in info.get("flags", "").split() if f.startswith(VECTOR_FLAG_PREFIXES))
    return f"family {info.get('cpu family', '?')} model {info.get('model', '?')}; " + " ".join(vector)


def platform_key() -> dict[str, Any]:
    """What must match for bit-identical CPU numbers."""
    import torch

    return {
        "torch": torch.__version__,
        "cpu": cpu_model(),
        "cpu_features": cpu_features(),
        "isa": torch.backends.cpu.get_cpu_capability(),
        "machine": platform.machine(),
        "threads": THREADS,
    }


def run_ci_matrix(matrix: str, root: Path, executor: Any = None) -> pd.DataFrame:
    """Run the matrix (pinned threads) and return final-snapshot metrics: seed, ground_truth, metric, value.

    ``executor``: cluster ``ExecutorOptions`` to run the cells as jobs instead (same threads, so the
    numbers must not move: the regression check then also checks the cluster path).
    """
    from harness.api.task import estimator_name
    from harness.catalog import SPACES, task_of
    from harness.run.cluster_options import ExecutorOptions
    from harness.run.launch import launch
    from harness.run.matrix import load_matrix

    m = load_matrix(matrix)
    opts = executor.updated(threads=THREADS) if executor is not None and executor.is_cluster() else ExecutorOptions()
    run = launch(m, root, opts, workers=1, threads=THREADS, log=None)  # the local pool shows a bar unless CI is set
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


def _entry_key(label: str, gt: str, metric: str) -> str:
    return f"{label} | {gt} | {metric}"


def exact_values(baseline: dict[str, Any], key: dict[str, Any] | None = None) -> dict[str, list[float]] | None:
    """Per-seed values recorded for this platform (entry key -> values), or None where it was never recorded."""
    key = platform_key() if key is None else key
    if baseline["platform"] == key:
        return {_entry_key(e["label"], e["ground_truth"], e["metric"]): e["values"] for e in baseline["entries"]}
    for record in baseline.get("exact", []):
        if record["platform"] == key:
            return dict(record["values"])
    return None


def _measured_groups(baseline: dict[str, Any], measured: pd.DataFrame) -> list[tuple[dict[str, Any], pd.DataFrame]]:
    out = []
    for e in baseline["entries"]:
        g = measured[
            (measured["label"] == e["label"])
            & (measured["ground_truth"] == e["ground_truth"])
            & (measured["metric"] == e["metric"])
        ].sort_values("seed")
        out.append((e, g))
    return out


def band_problems(baseline: dict[str, Any], measured: pd.DataFrame) -> list[str]:
    """Entries missing from the rerun or whose mean left its band."""
    problems = []
    for e, g in _measured_groups(baseline, measured):
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
    return problems


def compare(baseline: dict[str, Any], measured: pd.DataFrame, key: dict[str, Any] | None = None) -> list[str]:
    """Problems found (empty when the rerun is within every band and, on a recorded platform, identical)."""
    problems = band_problems(baseline, measured)
    exact = exact_values(baseline, key)
    if exact is None:
        return problems
    for e, g in _measured_groups(baseline, measured):
        want = exact.get(_entry_key(e["label"], e["ground_truth"], e["metric"]))
        if not g.empty and want is not None and [float(v) for v in g["value"]] != want:
            problems.append(
                f"{e['label']} {e['ground_truth']} {e['metric']}: same seeds on the same platform no longer give "
                f"identical numbers ({list(g['value'])} vs baseline {want})"
            )
    return problems


def with_platform(baseline: dict[str, Any], measured: pd.DataFrame) -> dict[str, Any]:
    """The baseline with this platform's exact values recorded beside the others; its bands are left as they are.

    Refuses a rerun that leaves a band: a new platform's numbers join only where the old bands hold them.
    """
    problems = band_problems(baseline, measured)
    if problems:
        raise WsbenchError(f"not recording this platform: {len(problems)} metric(s) left their bands, first: {problems[0]}")
    key = platform_key()
    if baseline["platform"] == key:
        raise WsbenchError("this platform wrote the baseline's bands; its values are already recorded")
    values = {
        _entry_key(e["label"], e["ground_truth"], e["metric"]): [float(v) for v in g["value"]]
        for e, g in _measured_groups(baseline, measured)
    }
    others = [r for r in baseline.get("exact", []) if r["platform"] != key]
    return {**baseline, "exact": [*others, {"platform": key, "values": values}]}


def add_platform(matrix: str, root: Path) -> Path:
    """Run the matrix and record this platform's exact values in its committed baseline."""
    doc = with_platform(load_baseline(matrix), run_ci_matrix(matrix, root))
    path = baseline_path(matrix)
    atomic_write_json(path, doc)
    return path
