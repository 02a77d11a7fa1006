"""The ``wsbench`` command line: a thin layer over the library.

Every user-caused failure (``WsbenchError``) is printed as one line on stderr with exit code 2;
tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import sys

from harness.errors import WsbenchError


def _cmd_gt(args: argparse.Namespace) -> int:
    from harness.gt_report import gt_report

    print(gt_report(args.space, bootstrap=args.bootstrap, seed=args.seed))
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from harness.plugins import list_plugins

    print(list_plugins())
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    p = argparse.ArgumentParser(prog="wsbench", description="Benchmark weight-sharing NAS rankings.")
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("gt", help="ground-truth sources of a space, their sizes and their agreement")
    g.add_argument("space", help="search space, e.g. nb201")
    g.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples for confidence intervals")
    g.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resampling")
    g.set_defaults(func=_cmd_gt)

    ls = sub.add_parser("list", help="registered spaces, strategies, ground truths and protocols")
    ls.set_defaults(func=_cmd_list)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``wsbench`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except WsbenchError as e:
        print(f"wsbench: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("wsbench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
