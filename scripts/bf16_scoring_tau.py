"""How much bf16 scoring changes a ranking: one briefly trained supernet's architectures scored in
float32 and under bfloat16 autocast, and Kendall's tau between the two.

    python scripts/bf16_scoring_tau.py [--archs 200] [--epochs 3] [--protocol nb201-smoke] [--C 4] [--N 1]

The supernet trains SPOS for ``--epochs`` epochs of the protocol's data (real CIFAR-10 under
``WSBENCH_DATA``); ``--archs`` architectures drawn uniformly are scored with the protocol's BN mode,
calibration and evaluation images (``score_architectures``), once per precision. Prints tau of each
score column, the largest difference and the scoring time of each precision.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scipy.stats import kendalltau

from harness.catalog import PROTOCOLS, SPACES, STRATEGIES, TASKS
from harness.engine.evaluator import score_architectures
from harness.engine.step import train_step, trainer_for
from harness.seeding import numpy_stream


def trained(p, space, task, epochs: int, seed: int) -> tuple:
    """A supernet trained by SPOS for ``epochs`` epochs of the protocol's data, and that data."""
    data = task.make_data(p, seed, torch.device("cpu"))
    model = space.build_supernet(p.network_for(space), task.spec(), seed=seed)
    steps = len(data.train)
    t = trainer_for(p, model, STRATEGIES.get("spos")(space, numpy_stream(seed, "arch")), task, steps, epochs)
    step = 0
    for _ in range(epochs):
        for batch in data.train:
            train_step(t, step, batch)
            step += 1
    return model, data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--protocol", default="nb201-smoke")
    parser.add_argument("--C", type=int, default=4)
    parser.add_argument("--N", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    space = SPACES.get("nb201")
    p = PROTOCOLS.get(args.protocol).replace(network={"C": args.C, "N": args.N})
    task = TASKS.get(p.task_name(space))
    model, data = trained(p, space, task, args.epochs, args.seed)
    rng = np.random.default_rng(args.seed + 1)
    archs = [space.sample(rng) for _ in range(args.archs)]
    ids = [space.arch_id(a) for a in archs]
    scores, seconds = {}, {}
    for mode in (None, "bf16"):
        start = time.perf_counter()
        scores[mode] = score_architectures(
            model, archs, ids, data.eval_batches, p.bn_mode, data.calib_batches, autocast=mode, task=task
        )
        seconds[mode] = time.perf_counter() - start
    print(f"{args.archs} archs, {p.name} C={args.C} N={args.N}, {args.epochs} epochs, seed {args.seed}")
    print(f"scoring: float32 {seconds[None]:.1f} s, bf16 {seconds['bf16']:.1f} s")
    for f in task.score_fields:
        a, b = scores[None][f.name].to_numpy(), scores["bf16"][f.name].to_numpy()
        tau = kendalltau(a, b).statistic
        print(f"{f.name:>10}: tau {tau:.4f}, max |diff| {np.abs(a - b).max():.3g}, range {a.min():.4g}..{a.max():.4g}")


if __name__ == "__main__":
    main()
