"""Images per second of the streamed ImageNet loader (training transform) on this machine.

    python scripts/imagenet_loader_throughput.py [--root FOLDER] [--workers 0 1 2] [--size 224]

Without ``--root`` it writes a generated ImageNet-format folder (500 x 375 JPEGs at quality 90,
about an average ImageNet image) to a temporary folder first. The first batch of each run is not
timed (worker start-up); each figure is the median of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile

import torch

from harness.data.generated import write_image_folder
from harness.data.imagenet import scan_folder, throughput


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", help="an ImageNet-format folder (train/<wnid>/*.JPEG); default: a generated one")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batches", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.root or write_image_folder(tmp, classes=4, train_per_class=128, val_per_class=1)
        index = scan_folder(root, "train")
        print(f"{len(index)} images in {root}; {os.cpu_count()} CPUs; crops {args.size}x{args.size}, batch {args.batch_size}")
        for w in args.workers:
            runs = [
                throughput(index, args.size, w, batches=args.batches, batch_size=args.batch_size, seed=r)
                for r in range(args.repeats)
            ]
            print(f"workers {w}: {statistics.median(runs):.0f} images/s (runs: {', '.join(f'{r:.0f}' for r in runs)})")


if __name__ == "__main__":
    main()
