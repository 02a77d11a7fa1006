"""``wsbench bench``: training images/s and scoring archs/s on this device against a naive loop."""

from __future__ import annotations

import argparse

from harness.cli.arguments import POSITIVE, Subparsers, device, int_list


def add_parser(sub: Subparsers) -> None:
    b = sub.add_parser("bench", help="training images/s and scoring archs/s on this device vs a naive loop")
    b.add_argument("--device", type=lambda t: t if t == "auto" else device(t), default="auto", help="auto, cpu, cuda or cuda:N")
    b.add_argument("--space", default="nb201", help="search space (wsbench list); default nb201")
    b.add_argument(
        "--protocol", default=None, help="a protocol of the space (default: engine defaults, benchmark-scale network, batch 256)"
    )
    b.add_argument("--C", type=POSITIVE, default=None, help="override the network's channels (spaces with a C key)")
    b.add_argument("--N", type=POSITIVE, default=None, help="override the network's cells per stage (spaces with an N key)")
    b.add_argument("--batch-size", dest="batch_size", type=POSITIVE, default=None, help="override the training batch size")
    b.add_argument("--steps", type=POSITIVE, default=30, help="timed training steps (after 5 warmup steps)")
    b.add_argument("--cells", type=int_list, default="1", help="comma list of cells run at once, e.g. 1,4 (aggregate images/s)")
    b.add_argument("--threads", type=POSITIVE, default=None, help="torch CPU threads (default: as set)")
    b.add_argument(
        "--autocast", choices=("bf16",), default=None, help="bf16: run ours (training and scoring) under bfloat16 autocast"
    )
    b.add_argument(
        "--replicas",
        type=int_list,
        default=None,
        help="comma list of k: also time k supernets stacked in one launch (spaces with a masked forward), e.g. 1,2,4",
    )
    b.add_argument(
        "--deterministic",
        action="store_true",
        help="every phase in deterministic mode (deterministic kernels; Protocol.deterministic)",
    )
    b.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.run.bench import bench_command
    from harness.run.bench.command import parse_cells

    network = {k: v for k, v in (("C", args.C), ("N", args.N)) if v is not None}
    print(
        bench_command(
            space=args.space,
            protocol=args.protocol,
            device=args.device,
            network=network or None,
            batch_size=args.batch_size,
            steps=args.steps,
            cells=args.cells,
            threads=args.threads,
            autocast=args.autocast,
            deterministic=args.deterministic,
            replicas=parse_cells(args.replicas) if args.replicas else (),
        )
    )
    return 0
