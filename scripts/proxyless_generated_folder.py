"""Train and score ProxylessNAS supernets end to end on a generated ImageNet-format folder (CPU smoke run).

    python scripts/proxyless_generated_folder.py [--folder /tmp/gen10] [--results /tmp/gen10-results] [--epochs 15]

Writes a 10-class folder of generated JPEGs (64 training and 16 validation images per class, about
500 x 375 each) unless it exists, then runs SPOS with the ``proxyless-folder`` protocol (64 x 64
crops, batch 32; snapshots at 2/3 of the epochs and at the end) for seeds 0 and 1 on the 36
ground-truth architectures, and prints how long each cell took. ``wsbench report --root <results>``
then shows the cells. On generated data their taus against the ImageNet ground truth mean nothing:
this checks the streamed ImageNet path, not the ranking.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from harness.catalog import PROTOCOLS
from harness.data.generated import write_image_folder
from harness.engine.cell import CellSpec
from harness.engine.loop import run_cell


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default="/tmp/gen10", help="where the generated ImageNet-format folder is (or goes)")
    parser.add_argument("--results", default="/tmp/gen10-results", help="results folder of the cells")
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()
    root = Path(args.folder)
    if not (root / "train").is_dir():
        start = time.time()
        write_image_folder(root, classes=10, train_per_class=64, val_per_class=16)
        print(f"generated {root} in {time.time() - start:.1f} s")
    base = PROTOCOLS.get("proxyless-folder")
    protocol = base.replace(
        task_options={**base.task_options, "root": str(root.resolve()), "classes": 10},
        epochs=args.epochs,
        snapshot_epochs=tuple(sorted({max(1, round(args.epochs * 2 / 3)), args.epochs})),
        batch_size=32,
        calib_batches=2,
        calib_batch_size=50,
        eval_batch_size=80,
    )
    for seed in (0, 1):
        start = time.time()
        run_cell(CellSpec("proxyless", "spos", protocol, seed), root=Path(args.results))
        print(f"cell seed {seed} took {time.time() - start:.1f} s")


if __name__ == "__main__":
    main()
