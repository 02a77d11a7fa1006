"""k cells at once: k processes each running the ours-training loop, their total throughput."""

from __future__ import annotations

import multiprocessing as mp
import time
from typing import Any

import torch

from harness.api.errors import WsbenchError
from harness.engine.determinism import deterministic_mode
from harness.engine.step import Tally, train_step
from harness.run.bench.setup import Plan, build_setup, examples, forever


def _cell_worker(plan: Plan, steps: int, warmup: int, threads: int, barrier: Any, queue: Any) -> None:
    """One of k processes: train like a cell, timing only after all k are warm."""
    if threads:
        torch.set_num_threads(threads)
    device = torch.device(plan.device)
    try:
        with deterministic_mode(plan.protocol.deterministic, device):
            _run_cell_loop(plan, device, steps, warmup, barrier, queue)
    except BaseException as e:  # report, never hang the parent
        barrier.abort()
        queue.put((0.0, 0.0, 0, f"{type(e).__name__}: {e}"))


def _run_cell_loop(plan: Plan, device: torch.device, steps: int, warmup: int, barrier: Any, queue: Any) -> None:
    """Train like a cell; put (start, end, examples timed, no error) on ``queue``."""
    setup = build_setup(plan, device, warmup + steps)
    batches, tally = forever(setup.data.train), Tally.zeros(device)
    seen = 0
    for i in range(warmup + steps):
        if i == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            barrier.wait()
            t0 = time.perf_counter()  # CLOCK_MONOTONIC: comparable across processes
        batch = next(batches)
        seen += examples(batch) if i >= warmup else 0
        train_step(setup.trainer, i, batch, tally=tally)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    queue.put((t0, time.perf_counter(), seen, None))


def aggregate(plan: Plan, k: int, steps: int, warmup: int) -> float:
    """Total examples/s of ``k`` spawned processes each running the ours-training loop."""
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(k), ctx.Queue()
    # On a CPU split this process's threads among the k cells, as the matrix runner splits cores;
    # on a GPU the processes share the device.
    threads = max(1, torch.get_num_threads() // k) if plan.device == "cpu" else 0
    procs = [
        ctx.Process(target=_cell_worker, args=(Plan(plan.space, plan.protocol, plan.device, plan.seed + j), steps,
                                               max(1, warmup), threads, barrier, queue))
        for j in range(k)
    ]  # fmt: skip
    for p in procs:
        p.start()
    try:
        spans = [queue.get(timeout=600) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.terminate()
    errors = [e for *_, e in spans if e]
    if errors:
        raise WsbenchError(f"bench: a {k}-cell worker failed: {errors[0]}")
    wall = max(t1 for _, t1, _, _ in spans) - min(t0 for t0, _, _, _ in spans)
    return sum(seen for _, _, seen, _ in spans) / wall
