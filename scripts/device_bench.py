"""The static step on one device: the bench at two batch sizes, deterministic mode, and an equivalence check.

    python scripts/device_bench.py [--smoke] [--out DIR]

For NB201 at batch 64 and 256 (the benchmark network C=16, N=5; ``--smoke``: C=4, N=1 at batch 8 on the
CPU, in seconds) it times the naive loop, the ordinary step, the static step and, on a GPU,
the static step replayed as CUDA graphs (``wsbench bench``), 1, 2 and 4 supernets stacked in one launch
(at the first batch size), scoring in float32 and under bf16 autocast, then the same in deterministic mode in a
fresh process (cuBLAS reads its workspace setting when it starts), then trains the ordinary and the
static step for N steps along the same paths and reports the largest weight difference, for both
off-path semantics. One table goes to ``$OUT/device_bench.md`` (and ``.csv``, ``.json``); ``OUT``
defaults to ``results/device``. It needs no data folder: the bench trains on synthetic batches.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

#: (batch sizes, network, timed steps, equivalence steps) of a full run and of a smoke run.
#: (protocol None: the bench's default, engine defaults with a scoring pass sized for a GPU.)
FULL = {"protocol": None, "batches": (64, 256), "network": {"C": 16, "N": 5}, "steps": 30, "warmup": 5, "equivalence_steps": 20,
        "score_archs": 10, "replicas": (1, 2, 4)}  # fmt: skip
SMOKE = {"protocol": "nb201-smoke", "batches": (8,), "network": {"C": 4, "N": 1}, "steps": 2, "warmup": 1,
         "equivalence_steps": 3, "score_archs": 1, "replicas": (2,)}  # fmt: skip
#: Stop starting new measurements after this many seconds (the whole run must fit in 8 minutes).
BUDGET_S = 420


def bench_rows(settings: dict[str, Any], device: str, deterministic: bool) -> list[dict[str, Any]]:
    """One row per (batch, step kind): ms/step and examples/s, or why it was skipped."""
    from harness.run.bench import run_bench

    rows = []
    for i, batch in enumerate(settings["batches"]):
        stacked = settings["replicas"] if i == 0 and not deterministic else ()  # k supernets in one launch, at the first batch
        r = run_bench(space="nb201", protocol=settings["protocol"], device=device, network=settings["network"], batch_size=batch,
                      steps=settings["steps"], warmup=settings["warmup"], score_archs=settings["score_archs"],
                      deterministic=deterministic, replicas=stacked)  # fmt: skip
        tag = " (deterministic)" if deterministic else ""
        dev = r["provenance"]["device_name"]
        for key, label in (("naive", "naive loop"), ("ours", "ordinary step"), ("static", "static step"),
                           ("static_graph", "static step + CUDA graphs")):  # fmt: skip
            fig = r["train"].get(key)
            rows.append({
                "what": label + tag, "batch": batch, "device": dev,
                "ms_per_step": round(fig["ms_per_step"], 3) if fig else "",
                "examples_per_s": round(fig["examples_per_s"], 1) if fig else "",
                "note": "" if fig else "skipped: " + r.get("skipped", {}).get(key, "not measured"),
            })  # fmt: skip
        for row in r.get("replicas", []):
            rows.append({"what": f"{row['replicas']} replicas stacked{tag}", "batch": batch, "device": dev,
                         "ms_per_step": round(row["ms_per_step"], 3), "examples_per_s": round(row["examples_per_s"], 1),
                         "note": f"{row['vs_one_cell']:.2f}x one ordinary cell"})  # fmt: skip
        for key, label in (("ours", "scoring, float32"), ("bf16", "scoring, bf16 autocast")):
            fig = r["score"].get(key)
            if fig:
                rows.append({"what": label + tag, "batch": batch, "device": dev, "ms_per_step": "", "examples_per_s": "",
                             "note": f"{fig['archs_per_s']:.2f} archs/s ({settings['score_archs']} archs)"})  # fmt: skip
    return rows


def equivalence_rows(settings: dict[str, Any], device: str, deterministic: bool) -> list[dict[str, Any]]:
    """Max |diff| of weights and BN statistics after N static vs ordinary steps, per off-path semantics and float
    type; and the ordinary step against itself (the noise floor of non-deterministic kernels)."""
    import torch

    from harness.run.bench import bench_protocol
    from harness.run.bench.equivalence import max_diff, static_vs_ordinary, weights_after

    p = bench_protocol("nb201", settings["protocol"], settings["network"], settings["batches"][0])
    p = p.replace(lr=0.1, lr_min=0.1, weight_decay=0.01, grad_clip=0.5, deterministic=deterministic)
    n, tag, rows = settings["equivalence_steps"], " (deterministic)" if deterministic else "", []

    def row(what: str, note: str) -> dict[str, Any]:
        return {
            "what": what + tag,
            "batch": p.batch_size,
            "device": device,
            "ms_per_step": "",
            "examples_per_s": "",
            "note": note,
        }

    for dtype in (torch.float32, torch.float64):
        for zero_grad in ("none", "zeros"):
            r = static_vs_ordinary("nb201", p.replace(zero_grad=zero_grad), n, device, dtype=dtype)
            note = (
                f"after {n} steps: max abs diff: params {r['params']:.3g}, BN stats {r['buffers']:.3g}, logits {r['logits']:.3g}"
            )
            rows.append(row(f"static vs ordinary, zero_grad={zero_grad}, {str(dtype).removeprefix('torch.')}", note))
    twice = [weights_after("nb201", p, n, device) for _ in range(2)]
    d = max_diff(*twice)
    rows.append(
        row(
            "ordinary vs ordinary, float32",
            f"after {n} steps: max abs diff: params {d['params']:.3g}, BN stats {d['buffers']:.3g}",
        )
    )
    return rows


def deterministic_in_a_fresh_process(args: argparse.Namespace, timeout_s: float) -> list[dict[str, Any]]:
    """The deterministic rows from a child process that sets CUBLAS_WORKSPACE_CONFIG before CUDA starts."""
    env = {**os.environ, "CUBLAS_WORKSPACE_CONFIG": ":4096:8"}
    cmd = [sys.executable, __file__, "--deterministic-rows", "--device", args.device] + (["--smoke"] if args.smoke else [])
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        done = subprocess.CompletedProcess(cmd, 1, "", f"timed out after {timeout_s:.0f} s (the run's budget)")
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return [{"what": "deterministic mode", "batch": "", "device": args.device, "ms_per_step": "", "examples_per_s": "",
                 "note": f"failed: {tail[0]}"}]  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def write_table(rows: list[dict[str, Any]], out: Path, header: str) -> Path:
    """``device_bench.md`` (a markdown table), ``device_bench.csv`` and ``device_bench.json`` under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    cols = ["what", "batch", "device", "ms_per_step", "examples_per_s", "note"]
    with open(out / "device_bench.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=cols)
        writer.writeheader()
        writer.writerows(rows)
    (out / "device_bench.json").write_text(json.dumps(rows, indent=1))
    lines = [header, "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    (out / "device_bench.md").write_text("\n".join(lines) + "\n")
    return out / "device_bench.md"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="CPU-sized run in seconds (C=4, N=1, batch 8)")
    parser.add_argument(
        "--out", default=os.environ.get("OUT") or "results/device", help="output folder (default $OUT or results/device)"
    )
    parser.add_argument("--device", default=None, help="cuda or cpu (default: cpu with --smoke, else cuda when visible)")
    parser.add_argument("--deterministic-rows", action="store_true", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    import torch

    args.device = args.device or ("cpu" if args.smoke or not torch.cuda.is_available() else "cuda")
    settings = SMOKE if args.smoke else FULL
    if args.deterministic_rows:
        rows = bench_rows(settings, args.device, deterministic=True)
        print(json.dumps(rows + equivalence_rows(settings, args.device, deterministic=True)))
        return 0
    t0 = time.perf_counter()
    rows = bench_rows(settings, args.device, deterministic=False)
    rows += equivalence_rows(settings, args.device, deterministic=False)
    if time.perf_counter() - t0 < BUDGET_S:
        rows += deterministic_in_a_fresh_process(args, BUDGET_S + 50 - (time.perf_counter() - t0))
    header = (f"# wsbench static step on {args.device} ({'smoke' if args.smoke else 'full'}), torch {torch.__version__}, "
              f"{time.perf_counter() - t0:.0f} s")  # fmt: skip
    path = write_table(rows, Path(args.out), header)
    print(path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
