"""``wsbench list``: every registry by name (and which strategies run on which space)."""

from __future__ import annotations

import argparse

from harness.cli.arguments import Subparsers


def add_parser(sub: Subparsers) -> None:
    ls = sub.add_parser("list", help="registered spaces, tasks, strategies, ground truths and protocols")
    ls.add_argument("--pairs", action="store_true", help="also say which strategies run on which space, and why not")
    ls.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print(list_plugins(pairs=args.pairs))
    return 0


def list_plugins(pairs: bool = False) -> str:
    """Every registry, by name (and, with ``pairs``, which strategies run on which space, and why not)."""
    from harness import catalog
    from harness.baselines import BASELINES
    from harness.data.splits import SPLITS
    from harness.metrics import METRICS

    lines = [f"{title}: {', '.join(names)}" for title, names in (
        ("spaces", catalog.SPACES.names()), ("tasks", catalog.TASKS.names()), ("strategies", catalog.STRATEGIES.names()),
        ("ground truths", catalog.GROUND_TRUTHS.names()), ("protocols", catalog.PROTOCOLS.names()),
        ("data splits", SPLITS.names()), ("baselines", BASELINES.names()), ("metrics", list(METRICS)),
    )]  # fmt: skip
    if pairs:
        for p in catalog.pairings():
            lines.append(f"{p.space} x {p.strategy}: " + ("runs" if p.allowed else f"refused: {p.reason}"))
    return "\n".join(lines)
