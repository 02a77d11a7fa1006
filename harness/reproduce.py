"""``wsbench reproduce``: the main job — train and score a small matrix, print the results table.

A profile names the space, strategies, seeds, protocol and device. The table reports, per
ground truth, each metric as mean ± sd over seeds at the final snapshot (and over the last
snapshots within a run), beside the ``params`` baseline (parameter count as the estimator) on
the same architectures: a supernet that does not beat it is not yet useful, and the table says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness import metrics as M
from harness.errors import WsbenchError, unknown
from harness.fileio import atomic_write_text
from harness.settings import results_dir

TABLE_METRICS = ("kendall_tau", "spearman_rho", "hit@1%", "hit@5%", "hit@10%", "br@1%")


@dataclass(frozen=True)
class Profile:
    """A named reproduce job."""

    name: str
    space: str
    strategies: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]
    protocol: str
    seeds: tuple[int, ...]
    device: str  # "cpu" or "cuda"
    description: str


PROFILES = {
    "quick": Profile(
        "quick", "nb201", (("spos", ()),), "quick", (0, 1), "cpu",
        "NB201 x SPOS x 2 seeds, reduced network and data; minutes on a 2-core CPU",
    ),
    "full": Profile(
        "full", "nb201", (("spos", ()),), "nb201-rs", (0, 1), "cuda",
        "NB201 x SPOS x 2 seeds with the NAS-Bench-201 paper's supernet protocol; hours on one GPU",
    ),
}


def _mean_sd(values: list[float]) -> str:
    v = np.asarray(values, dtype=float)
    if len(v) == 1:
        return f"{v[0]:.3f}"
    return f"{v.mean():.3f} ± {v.std(ddof=1):.3f}"


def params_baseline(space_name: str, archs_ids: list[str], tables: list, C: int, N: int) -> list[dict[str, Any]]:
    """Metrics of parameter count (of the stand-alone C/N network) as the estimator."""
    from spaces import SPACES

    space = SPACES.get(space_name)
    est = np.array([space.cost(a, C=16, N=5).params_m for a in archs_ids])
    rows = []
    for t in tables:
        true = t.lookup(archs_ids)
        true = true if t.higher_is_better else -true
        for name, value in M.compute_all(est, true).items():
            rows.append({"ground_truth": t.query.label(), "metric": name, "value": value})
    return rows


def summarize(results: list[dict[str, Any]], baseline: list[dict[str, Any]], last_k: int) -> pd.DataFrame:
    """One row per (strategy, ground truth, metric): final-snapshot mean ± sd over seeds, etc."""
    rows = []
    frames = []
    for r in results:
        df = pd.DataFrame(r["metrics"])
        df = df[df["score"] == "accuracy"]
        df["strategy"], df["seed"] = r["strategy"], r["seed"]
        frames.append(df)
    allm = pd.concat(frames, ignore_index=True)
    for (strategy, gt, metric), g in allm.groupby(["strategy", "ground_truth", "metric"], sort=True):
        final_epoch = g["epoch"].max()
        final = g[g["epoch"] == final_epoch].sort_values("seed")["value"].to_list()
        epochs = sorted(g["epoch"].unique())[-last_k:]
        within_sd = [
            float(np.std(s[s["epoch"].isin(epochs)]["value"], ddof=1)) if len(epochs) > 1 else float("nan")
            for _, s in g.groupby("seed")
        ]
        rows.append({
            "strategy": strategy, "ground_truth": gt, "metric": metric, "final_epoch": int(final_epoch),
            "n_seeds": len(final), "mean": float(np.mean(final)),
            "sd_seeds": float(np.std(final, ddof=1)) if len(final) > 1 else float("nan"),
            "sd_last_snapshots": float(np.mean(within_sd)), "values": ";".join(f"{v:.4f}" for v in final),
        })
    for b in baseline:
        rows.append({
            "strategy": "params (baseline)", "ground_truth": b["ground_truth"], "metric": b["metric"],
            "final_epoch": 0, "n_seeds": 1, "mean": b["value"], "sd_seeds": float("nan"),
            "sd_last_snapshots": float("nan"), "values": f"{b['value']:.4f}",
        })
    return pd.DataFrame(rows)


def markdown_table(summary: pd.DataFrame) -> str:
    """Wide Markdown table: rows strategy x ground truth, columns the headline metrics."""
    lines = []
    header = ["strategy", "ground truth", *TABLE_METRICS]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for (strategy, gt), g in summary.groupby(["strategy", "ground_truth"], sort=False):
        cells = []
        for m in TABLE_METRICS:
            row = g[g["metric"] == m]
            if row.empty:
                cells.append("n/a")
                continue
            row = row.iloc[0]
            if row["n_seeds"] > 1:
                cells.append(f"{row['mean']:.3f} ± {row['sd_seeds']:.3f}")
            else:
                cells.append(f"{row['mean']:.3f}")
        lines.append(f"| {strategy} | {gt} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def reproduce(profile_name: str, device: str | None = None, root: Path | None = None, log=print) -> str:
    """Run a profile's cells (finished ones are reused) and return the report text."""
    import torch

    from harness.protocols import PROTOCOLS
    from harness.train import CellSpec, available_ground_truths, run_cell
    from spaces import SPACES
    from harness.archsets import build_archset

    if profile_name not in PROFILES:
        raise unknown("profile", profile_name, PROFILES)
    prof = PROFILES[profile_name]
    device = device or prof.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise WsbenchError(
            f"profile {profile_name!r} runs on a GPU and none is visible; use --device cpu to force it (hours to days) or PROFILE=quick"
        )
    protocol = PROTOCOLS.get(prof.protocol)
    root = root if root is not None else results_dir()
    t0 = time.perf_counter()
    results = []
    for strategy, options in prof.strategies:
        for seed in prof.seeds:
            spec = CellSpec(prof.space, strategy, protocol, seed, dict(options), device=device)
            log(f"cell {prof.space}/{strategy}/{protocol.name}/seed{seed} -> {spec.run_dir(root)}")
            r = run_cell(spec, root=root, log=log)
            results.append({**r, "strategy": strategy, "seed": seed})
    space = SPACES.get(prof.space)
    archs = build_archset(space, protocol.archset, protocol.archset_n, protocol.archset_seed)
    ids = [space.arch_id(a) for a in archs]
    first = CellSpec(prof.space, prof.strategies[0][0], protocol, prof.seeds[0], device=device)
    tables, skipped = available_ground_truths(prof.space, first.resolved_ground_truths())
    summary = summarize(results, params_baseline(prof.space, ids, tables, protocol.C, protocol.N), last_k=len(protocol.snapshot_epochs))
    wall = time.perf_counter() - t0
    text = render_report(prof, protocol, summary, skipped, results, wall)
    out = root / "reports"
    atomic_write_text(out / f"reproduce-{profile_name}.md", text)
    atomic_write_text(out / f"reproduce-{profile_name}.csv", summary.to_csv(index=False))
    return text + f"\n\nwritten: {out / f'reproduce-{profile_name}.md'} and .csv\n"


def render_report(prof: Profile, protocol, summary: pd.DataFrame, skipped: list[str], results, wall: float) -> str:
    """The Markdown report: what ran, the table, and an honest verdict against the baseline."""
    n_archs = results[0]["n_archs"]
    spe = np.mean([r["seconds_per_epoch"] for r in results])
    lines = [
        f"# wsbench reproduce — profile `{prof.name}`",
        "",
        f"{prof.description}. Protocol `{protocol.name}`: C={protocol.C}, N={protocol.N}, {protocol.epochs} epochs, "
        f"batch {protocol.batch_size}, split `{protocol.split}` (subset {protocol.subset}), BN `{protocol.bn_mode}`, "
        f"{n_archs} architectures (`{protocol.archset}`), snapshots at epochs {list(protocol.snapshot_epochs)}.",
        f"Seeds {list(prof.seeds)}; {spe:.1f} s per epoch on average; this run took {wall:.0f} s (cells already finished are reused).",
        "",
        "Metrics of the final snapshot, mean ± sd over seeds; estimator = shared-weight accuracy. "
        "`params (baseline)` ranks by parameter count of the standard C=16/N=5 network.",
        "",
        markdown_table(summary),
        "",
    ]
    for gt in summary["ground_truth"].unique():
        s = summary[(summary["ground_truth"] == gt) & (summary["metric"] == "kendall_tau")]
        base = s[s["strategy"] == "params (baseline)"]["mean"]
        for _, row in s[s["strategy"] != "params (baseline)"].iterrows():
            if not base.empty:
                verdict = "beats" if row["mean"] > float(base.iloc[0]) else "does NOT beat"
                lines.append(
                    f"- {row['strategy']} vs {gt}: Kendall tau {row['mean']:.3f} {verdict} the params baseline "
                    f"({float(base.iloc[0]):.3f}); sd over last snapshots within a run {row['sd_last_snapshots']:.3f}."
                )
    if skipped:
        lines.append("")
        lines.append("Ground truths not available here (they join the report when their files are present):")
        lines.extend(f"- {s}" for s in skipped)
    return "\n".join(lines)
