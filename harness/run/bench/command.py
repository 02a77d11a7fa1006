"""``wsbench bench``: run every phase, gather the figures and their ratios, print one table."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import torch

from harness.api.errors import WsbenchError
from harness.run.bench.aggregate import aggregate
from harness.run.bench.naive import naive_scoring, naive_training
from harness.run.bench.ours import ours_scoring, ours_training
from harness.run.bench.replicas import replicas_training
from harness.run.bench.setup import Plan, bench_protocol, build_setup, examples, resolve_device
from harness.run.bench.static import graph_skip_reason, graphed_training, static_training
from harness.seeding import numpy_stream


def _check_args(**ints: int) -> None:
    for name, value in ints.items():
        lo = 0 if name in ("warmup", "seed") else 1
        if not isinstance(value, int) or isinstance(value, bool) or value < lo:
            raise WsbenchError(f"bench: {name} must be an integer >= {lo}, got {value!r}")


def _check_cells(cells: Sequence[int]) -> tuple[int, ...]:
    cells = tuple(cells)
    if not cells or any(not isinstance(k, int) or isinstance(k, bool) or k < 1 for k in cells):
        raise WsbenchError(f"bench: cells must be positive integers, e.g. 1,4; got {cells!r}")
    return cells


def run_bench(
    space: str = "nb201",
    protocol: str | None = None,
    device: str = "auto",
    network: dict[str, int] | None = None,
    batch_size: int | None = None,
    steps: int = 30,
    warmup: int = 5,
    score_archs: int = 20,
    cells: Sequence[int] = (1,),
    seed: int = 0,
    threads: int | None = None,
    autocast: str | None = None,
    deterministic: bool = False,
    replicas: Sequence[int] = (),
) -> dict[str, Any]:
    """Training examples/s and scoring archs/s of the harness vs a naive loop for one space, plus k-cell aggregates.

    ``threads`` sets torch's CPU threads for the run (default: as they are); k cells share them.
    ``deterministic``: every phase in deterministic mode (``Protocol.deterministic``).
    ``replicas``: also time k supernets stacked in one launch, for each k given.
    """
    _check_args(steps=steps, warmup=warmup, score_archs=score_archs, seed=seed)
    cells = _check_cells(cells)
    stacked = _check_cells(replicas) if replicas else ()
    if autocast not in (None, "bf16"):
        raise WsbenchError(f"bench: --autocast must be bf16 (or left out for float32), got {autocast!r}")
    dev = resolve_device(device)
    p = bench_protocol(space, protocol, network, batch_size, autocast)
    plan = Plan(space, p.replace(deterministic=True) if deterministic else p, str(dev), seed)
    if threads is None:
        return _measure(plan, steps, warmup, score_archs, cells, stacked)
    _check_args(threads=threads)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _measure(plan, steps, warmup, score_archs, cells, stacked)
    finally:
        torch.set_num_threads(previous)


def _measure(
    plan: Plan, steps: int, warmup: int, score_archs: int, cells: tuple[int, ...], stacked: tuple[int, ...] = ()
) -> dict[str, Any]:
    """Every phase behind one progress bar, then the figures."""
    from tqdm import tqdm

    from harness.engine.cell import provenance
    from harness.engine.determinism import deterministic_mode

    multi = sorted(k for k in set(cells) if k > 1)
    probe = build_setup(plan, torch.device("cpu"), 1, channels_last=False)
    per_step, unit = examples(next(iter(probe.data.train))), probe.data.info.get("unit", "images")
    rng = numpy_stream(plan.seed, "archset")
    archs = [probe.space.sample(rng) for _ in range(score_archs)]
    bar = tqdm(total=7 + len(multi) + len(stacked), desc="bench", unit="phase", disable=bool(os.environ.get("CI")), leave=False)
    bf16 = dataclasses.replace(plan, protocol=plan.protocol.replace(score_autocast="bf16"))
    seconds: dict[str, float] = {}
    skipped: dict[str, str] = {}
    graph_skip = graph_skip_reason(plan.device)
    for name, phase in (("train ours", lambda: ours_training(plan, steps, warmup)),
                        ("train naive", lambda: naive_training(plan, steps, warmup)),
                        ("train static", lambda: static_training(plan, steps, warmup)),
                        ("train static+graph", lambda: graphed_training(plan, steps, warmup)),
                        ("score ours", lambda: ours_scoring(plan, archs, min(warmup, score_archs))),
                        ("score bf16", lambda: ours_scoring(bf16, archs, min(warmup, score_archs))),
                        ("score naive", lambda: naive_scoring(plan, archs, min(warmup, score_archs)))):  # fmt: skip
        bar.set_postfix_str(name)
        if name == "train static+graph" and (graph_skip or "train static" in skipped):
            skipped[name] = graph_skip or skipped["train static"]
        else:
            with deterministic_mode(plan.protocol.deterministic, plan.device):
                try:
                    seconds[name] = phase()
                except WsbenchError as e:  # the static step refuses what it cannot train (one line: why)
                    if not name.startswith("train static"):
                        raise
                    skipped[name] = str(e)
        bar.update()
    for k in stacked:
        bar.set_postfix_str(f"{k} replicas stacked")
        try:
            seconds[f"train replicas {k}"] = replicas_training(plan, k, steps, warmup)
        except WsbenchError as e:  # the stacked update refuses what it cannot train (one line: why)
            skipped[f"train replicas {k}"] = str(e)
        bar.update()
    per_k = {}
    for k in multi:
        bar.set_postfix_str(f"{k} cells at once")
        per_k[k] = aggregate(plan, k, steps, warmup)
        bar.update()
    bar.close()
    prov = provenance(torch.device(plan.device))
    prov["device_name"] = prov.get("gpu") or _cpu_name()
    result = _figures(plan, seconds, per_k, steps, warmup, score_archs, per_step, unit, cells, prov)
    result["skipped"] = {name.removeprefix("train ").replace("+", "_"): why for name, why in skipped.items()}
    return result


def _figures(
    plan: Plan, seconds: dict[str, float], per_k: dict[int, float], steps: int, warmup: int, score_archs: int,
    per_step: int, unit: str, cells: tuple[int, ...], prov: dict[str, Any],
) -> dict[str, Any]:  # fmt: skip
    """The result: figures per phase, ratios, the k-cell rows, the configuration and provenance."""

    def train_fig(s: float) -> dict[str, float]:
        return {"examples_per_s": steps * per_step / s, "ms_per_step": 1000.0 * s / steps}

    def score_fig(s: float) -> dict[str, float]:
        return {"archs_per_s": score_archs / s, "ms_per_arch": 1000.0 * s / score_archs}

    train = {"ours": train_fig(seconds["train ours"]), "naive": train_fig(seconds["train naive"])}
    for name in ("static", "static+graph"):
        if f"train {name}" in seconds:
            train[name.replace("+", "_")] = train_fig(seconds[f"train {name}"])
    score = {"ours": score_fig(seconds["score ours"]), "naive": score_fig(seconds["score naive"])}
    if "score bf16" in seconds:
        score["bf16"] = score_fig(seconds["score bf16"])
    stacked_rows = []
    for name, secs in seconds.items():
        if name.startswith("train replicas "):
            k = int(name.rsplit(" ", 1)[1])
            total = k * steps * per_step / secs  # k replicas' examples per second, together
            stacked_rows.append({"replicas": k, "examples_per_s": total, "ms_per_step": 1000.0 * secs / steps,
                                 "vs_one_cell": total / train["ours"]["examples_per_s"]})  # fmt: skip
    ratios = {
        "train_examples_per_s": train["ours"]["examples_per_s"] / train["naive"]["examples_per_s"],
        "train_ms_per_step": train["ours"]["ms_per_step"] / train["naive"]["ms_per_step"],
        "score_archs_per_s": score["ours"]["archs_per_s"] / score["naive"]["archs_per_s"],
        "score_ms_per_arch": score["ours"]["ms_per_arch"] / score["naive"]["ms_per_arch"],
    }
    aggregate_rows = [
        {"cells": k, "examples_per_s": v, "vs_one_cell": v / train["ours"]["examples_per_s"]} for k, v in per_k.items()
    ]
    p = plan.protocol
    config = {
        "space": plan.space, "protocol": p.name, "network": p.network_for(probe_space(plan)), "device": plan.device,
        "batch_size": p.batch_size, "examples_per_step": per_step, "unit": unit, "steps": steps, "warmup": warmup,
        "score_archs": score_archs, "calib": f"{p.calib_batches} x {p.calib_batch_size}", "eval_images": p.eval_images,
        "cells": list(cells), "seed": plan.seed, "channels_last": p.channels_last, "autocast": p.autocast,
        "strategy": "spos-uniform", "deterministic": p.deterministic,
    }  # fmt: skip
    return {"config": config, "provenance": prov, "train": train, "score": score, "aggregate": aggregate_rows,
            "replicas": stacked_rows, "ratios": ratios}  # fmt: skip


def probe_space(plan: Plan) -> Any:
    """The plan's space (its network config resolves the protocol's)."""
    from harness.catalog import SPACES

    return SPACES.get(plan.space)


def _cpu_name() -> str:
    import platform

    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def format_bench(result: dict[str, Any]) -> str:
    """A plain-text table of one ``run_bench`` result, with the ours/naive ratios."""
    c, p, t, s, r = result["config"], result["provenance"], result["train"], result["score"], result["ratios"]
    net = ", ".join(f"{k}={v}" for k, v in c["network"].items())
    u = c["unit"]
    lines = [
        f"wsbench bench on {c['device']} ({p['device_name']}), torch {p['torch']}, {p['torch_threads']} threads",
        f"{c['space']} supernet {net} (protocol {c['protocol']}), batch {c['batch_size']}, {c['steps']} timed steps "
        f"after {c['warmup']} warmup, seed {c['seed']}"
        + (f", ours under {c['autocast']} autocast" if c.get("autocast") else "")
        + (", deterministic mode" if c.get("deterministic") else ""),
        "",
        f"{'figure':<28}{'ours':>12}{'naive':>12}{'ours/naive':>12}",
        f"{'train ' + u + '/s':<28}{t['ours']['examples_per_s']:>12.1f}{t['naive']['examples_per_s']:>12.1f}{r['train_examples_per_s']:>11.2f}x",
        f"{'train ms/step':<28}{t['ours']['ms_per_step']:>12.2f}{t['naive']['ms_per_step']:>12.2f}{r['train_ms_per_step']:>11.2f}x",
        f"{'score archs/s':<28}{s['ours']['archs_per_s']:>12.3f}{s['naive']['archs_per_s']:>12.3f}{r['score_archs_per_s']:>11.2f}x",
        f"{'score ms/arch':<28}{s['ours']['ms_per_arch']:>12.1f}{s['naive']['ms_per_arch']:>12.1f}{r['score_ms_per_arch']:>11.2f}x",
        f"  (scoring {c['score_archs']} archs: recalibrate on {c['calib']} examples, evaluate {c['eval_images'] or 'all'})",
    ]
    lines += _static_lines(result)
    if "bf16" in s:
        lines.append(
            f"{'score archs/s, bf16':<28}{s['bf16']['archs_per_s']:>12.3f}  "
            f"({s['bf16']['archs_per_s'] / s['ours']['archs_per_s']:.2f}x float32)"
        )
    for row in result.get("replicas", []):
        lines.append(
            f"{row['replicas']} replicas stacked: {row['examples_per_s']:.1f} {u}/s in total ({row['vs_one_cell']:.2f}x one "
            f"cell), {row['ms_per_step']:.2f} ms per stacked step"
        )
    for name, why in result.get("skipped", {}).items():
        if name.startswith("replicas"):
            lines.append(f"{name} stacked: skipped ({why})")
    for row in result["aggregate"]:
        lines.append(
            f"{row['cells']} cells at once: {row['examples_per_s']:.1f} {u}/s in total ({row['vs_one_cell']:.2f}x one cell)"
        )
    return "\n".join(lines)


def _static_lines(result: dict[str, Any]) -> list[str]:
    """The static step's training rows: ms/step and how it compares with ours (or why it was skipped)."""
    t, skipped, lines = result["train"], result.get("skipped", {}), []
    for key, label in (("static", "train ms/step, static step"), ("static_graph", "  ... under CUDA graphs")):
        if key in t:
            ratio = t[key]["ms_per_step"] / t["ours"]["ms_per_step"]
            lines.append(f"{label:<28}{t[key]['ms_per_step']:>12.2f}  ({ratio:.2f}x ours, {t[key]['examples_per_s']:.1f} "
                         f"{result['config']['unit']}/s)")  # fmt: skip
        elif key in skipped:
            lines.append(f"{label:<28}{'skipped':>12}  ({skipped[key]})")
    return lines


def parse_cells(cells: str | Sequence[int]) -> tuple[int, ...]:
    """``"1,4"`` (or a sequence) as the cell counts to run at once."""
    if not isinstance(cells, str):
        return tuple(cells)
    try:
        return tuple(int(k) for k in cells.split(",") if k.strip())
    except ValueError:
        raise WsbenchError(f"bench: --cells must be comma-separated integers such as 1,4; got {cells!r}") from None


def bench_command(cells: str | Sequence[int] = "1", **kwargs: Any) -> str:
    """What ``wsbench bench`` prints; ``cells`` may be a comma list such as ``"1,4"``; the rest as ``run_bench``."""
    return format_bench(run_bench(cells=parse_cells(cells), **kwargs))
