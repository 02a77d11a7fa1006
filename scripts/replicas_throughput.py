"""Training images per second: k stacked replicas in one process against k processes of the ordinary step.

    python scripts/replicas_throughput.py [--k 1 2 4] [--C 8] [--N 1] [--batch 64] [--steps 20] [--repeats 3] [--device cpu]

Each figure counts the images of every replica (k x batch per step) over the timed steps, after
``--warmup`` untimed steps. The k separate processes run the ordinary step (``train_step``) at the
same time: each waits for a common start time after its warm-up, and the figure is their images
over the time from that start to the last one's end. Each figure is the median of ``--repeats`` runs
(the two kinds alternate, so a load from elsewhere hits both). Every process uses ``--threads`` torch threads
(default 1: on a small machine, k processes share its cores). SPOS paths, synthetic CIFAR-10-shaped
batches, ``zero_grad="zeros"`` (what the stacked step and the ordinary step both do exactly).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import torch

from harness.catalog import PROTOCOLS, SPACES, STRATEGIES, TASKS
from harness.engine.replicas import replica_step, replicas_for
from harness.engine.step import train_step, trainer_for
from harness.seeding import numpy_stream

SPACE, TASK = SPACES.get("nb201"), TASKS.get("cifar10")


def _setup(args: argparse.Namespace, replica: int) -> tuple:
    """A supernet, its SPOS strategy and a fixed synthetic batch of replica ``replica``."""
    p = PROTOCOLS.get("nb201-smoke").replace(zero_grad="zeros", batch_size=args.batch)
    model = SPACE.build_supernet({"C": args.C, "N": args.N}, TASK.spec(), seed=replica).to(args.device)
    strategy = STRATEGIES.get("spos")(SPACE, numpy_stream(replica, "arch"))
    x, y = TASK.synthetic_batch(args.batch, torch.Generator().manual_seed(replica))
    return p, model, strategy, (x.to(args.device), y.to(args.device))


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def stacked(args: argparse.Namespace, k: int) -> float:
    """Images per second of ``k`` replicas in one stacked step."""
    parts = [_setup(args, i) for i in range(k)]
    total = args.warmup + args.steps
    r = replicas_for(parts[0][0], [m for _, m, _, _ in parts], [s for _, _, s, _ in parts], TASK, total, 1)
    xs, ys = torch.stack([b[0] for *_, b in parts]), torch.stack([b[1] for *_, b in parts])
    for step in range(args.warmup):
        replica_step(r, step, xs, ys)
    _sync(args.device)
    start = time.perf_counter()
    for step in range(args.warmup, total):
        replica_step(r, step, xs, ys)
    _sync(args.device)
    return k * args.batch * args.steps / (time.perf_counter() - start)


def single(args: argparse.Namespace) -> None:
    """One process of the ordinary step: warm up, wait for ``--start-at``, print the end time."""
    p, model, strategy, batch = _setup(args, args.replica)
    total = args.warmup + args.steps
    t = trainer_for(p, model, strategy, TASK, total, 1)
    for step in range(args.warmup):
        train_step(t, step, batch)
    _sync(args.device)
    while time.time() < args.start_at:
        time.sleep(0.001)
    for step in range(args.warmup, total):
        train_step(t, step, batch)
    _sync(args.device)
    print(time.time())


def processes(args: argparse.Namespace, k: int) -> float:
    """Images per second of ``k`` processes of the ordinary step running at the same time."""
    start = time.time() + args.startup
    cmd = [sys.executable, __file__, *_flags(args), "--start-at", str(start)]
    procs = [subprocess.Popen([*cmd, "--replica", str(i)], stdout=subprocess.PIPE, text=True) for i in range(k)]
    ends = [float(p.communicate()[0].split()[-1]) for p in procs]
    if any(p.returncode for p in procs):
        raise SystemExit("a process of the ordinary step failed")
    if min(ends) < start:
        raise SystemExit(f"a process started late: raise --startup (now {args.startup} s)")
    return k * args.batch * args.steps / (max(ends) - start)


def _flags(args: argparse.Namespace) -> list[str]:
    """The command-line flags a child process needs to train as the parent would."""
    names = ("C", "N", "batch", "steps", "warmup", "threads", "device")
    return [f for name in names for f in (f"--{name}", str(getattr(args, name)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--C", type=int, default=8)
    parser.add_argument("--N", type=int, default=1)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--startup", type=float, default=20.0, help="seconds the child processes get to import and warm up")
    parser.add_argument("--start-at", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--replica", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.start_at is not None:
        single(args)
        return
    print(
        f"NB201 supernet C={args.C} N={args.N}, batch {args.batch}, {args.steps} timed steps, {args.threads} torch thread(s) per process, {args.device}"
    )
    print(f"{'k':>3} {'stacked, 1 process (img/s)':>28} {'k processes (img/s)':>21}")
    for k in args.k:
        runs = [(stacked(args, k), processes(args, k)) for _ in range(args.repeats)]
        together, apart = (statistics.median(r[i] for r in runs) for i in (0, 1))
        print(f"{k:>3} {together:>28.0f} {apart:>21.0f}", flush=True)


if __name__ == "__main__":
    main()
