"""Train one fixed recurrent cell alone on Penn Treebank: the sanity check of the task, data and network.

A path of the supernet uses every weight a stand-alone network of that cell has, so training the
supernet on one fixed cell *is* stand-alone training. Same data streams, loss and evaluation as a
matrix cell; plain SGD with DARTS's large learning rate and gradient clipping.

    python scripts/ptb_standalone.py --hidden 128 --epochs 1 --batch-size 32

prints the validation perplexity after every epoch (and ``--every`` steps).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch

from harness.api.protocol import Protocol


def train_standalone(
    arch: Any,
    hidden: int = 128,
    epochs: int = 1,
    batch_size: int = 32,
    lr: float = 20.0,
    clip: float = 0.25,
    train_tokens: int | None = None,
    eval_tokens: int | None = None,
    dropout: float = 0.2,
    seed: int = 0,
    every: int = 0,
    log: Any = print,
) -> list[dict[str, float]]:
    """Train ``arch`` alone; one row per evaluation (step, tokens seen, seconds, validation perplexity)."""
    from harness.catalog import SPACES, TASKS

    space, task = SPACES.get("ptb"), TASKS.get("ptb")
    drops = {k: dropout for k in ("dropout", "dropout_x", "dropout_i")} | {"dropout_h": 0.0, "dropout_e": 0.0}
    p = Protocol(
        name="ptb-standalone",
        description="one fixed cell trained alone",
        network={"hidden": hidden, **drops},
        task="ptb",
        task_options={"train_tokens": train_tokens, "eval_tokens": eval_tokens},
        batch_size=batch_size,
        eval_batch_size=10,
        epochs=epochs,
        snapshot_epochs=(epochs,),
        lr=lr,
        lr_min=0.0,
        momentum=0.0,
        nesterov=False,
        weight_decay=0.0,
        grad_clip=clip,
    )
    task.check_protocol(p)
    data = task.make_data(p, seed, torch.device("cpu"))
    grid = space.parse(arch)
    model = space.build_supernet(p.network_for(space), task.spec(), seed=seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    rows, step, tokens, t0 = [], 0, 0, time.perf_counter()

    def evaluate() -> None:
        model.eval()
        ppl = task.evaluate(model, grid, data.eval_batches)["perplexity"]
        model.train()
        rows.append({"step": step, "tokens": tokens, "seconds": time.perf_counter() - t0, "valid_ppl": ppl})
        log(f"step {step} tokens {tokens} {rows[-1]['seconds']:.0f}s valid perplexity {ppl:.1f}")

    model.train()
    for _ in range(epochs):
        for x, y in data.train:
            opt.zero_grad(set_to_none=True)
            task.loss(model(x, grid), y).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
            step, tokens = step + 1, tokens + int(y.numel())
            if every and step % every == 0:
                evaluate()
        if not every or step % every:
            evaluate()
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="sigmoid~0|relu~1|relu~1|identity~1|tanh~2|sigmoid~5|tanh~3|relu~5",
                    help="a cell in any form the space reads (default: DARTS-V2's recurrent cell)")  # fmt: skip
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=20.0)
    ap.add_argument("--train-tokens", type=int, default=None)
    ap.add_argument("--eval-tokens", type=int, default=None)
    ap.add_argument("--every", type=int, default=0, help="also evaluate every N steps")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    train_standalone(a.arch, a.hidden, a.epochs, a.batch_size, a.lr, train_tokens=a.train_tokens,
                     eval_tokens=a.eval_tokens, seed=a.seed, every=a.every)  # fmt: skip


if __name__ == "__main__":
    main()
