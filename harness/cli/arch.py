"""``wsbench arch``: facts about one architecture (encodings, class, costs, ground truth)."""

from __future__ import annotations

import argparse

from harness.cli.arguments import Subparsers


def add_parser(sub: Subparsers) -> None:
    a = sub.add_parser("arch", help="facts about one architecture: encodings, class, costs, ground truth")
    a.add_argument("space", help="search space, e.g. nb201")
    a.add_argument(
        "arch",
        help="architecture, e.g. '|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|'",
    )
    a.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.catalog import GROUND_TRUTHS, SPACES, load_ground_truth

    space = SPACES.get(args.space)
    arch = space.parse(args.arch)
    info = space.describe_arch(arch)
    for key, value in info.items():
        print(f"{key:>22}: {value}")
    for name in GROUND_TRUTHS.names(f"{args.space}/*"):
        source = GROUND_TRUTHS.get(name)()
        ok, _ = source.available()
        if not ok:
            continue
        for (dataset, split), metrics in sorted(source.options.items()):
            for red in source.seed_reductions[:1]:
                table = load_ground_truth(args.space, source.source, dataset, split, metrics[0], red)
                if space.arch_id(arch) in table._index:
                    print(f"{table.query.label()}: {table.lookup([space.arch_id(arch)])[0]:.3f}")
    return 0
