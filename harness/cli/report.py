"""``wsbench report``: the ranking-stability table and plots of every finished cell in a results folder."""

from __future__ import annotations

import argparse

from harness.cli.arguments import POSITIVE, Subparsers


def add_parser(sub: Subparsers) -> None:
    rp = sub.add_parser("report", help="ranking-stability table + plots of every finished cell in a results folder")
    rp.add_argument("--root", default=None, help="results folder (default: $WSBENCH_RESULTS or results/)")
    rp.add_argument("--out", default=None, help="output folder (default: <root>/reports)")
    rp.add_argument(
        "--last-k", dest="last_k", type=POSITIVE, default=None, help="snapshots per run for the within-run numbers (default: all)"
    )
    rp.add_argument(
        "--baselines", default=None, help="training-free baselines beside the supernets, e.g. random,flops,synflow,jacob_cov"
    )
    rp.add_argument(
        "--partial", action="store_true", help="include unfinished cells with the snapshots they scored (marked PARTIAL)"
    )
    rp.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.analysis.report import report_command

    baselines = tuple(b for b in (args.baselines or "").split(",") if b)
    print(report_command(args.root, args.out, args.last_k, baselines=baselines, partial=args.partial))
    return 0
