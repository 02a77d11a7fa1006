"""The ``wsbench`` command line: a thin layer over the library.

One module per command (``gt``, ``train``, ...), each with ``add_parser(sub)`` and ``run(args)``;
``arguments`` holds what they share. Every user-caused failure (``WsbenchError``) is printed as one
line on stderr with exit code 2; tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import sys

from harness.api.errors import WsbenchError, os_error_line
from harness.cli import arch, bench, curves, gt, matrix, protocol, regression, report, reproduce, score, train
from harness.cli import list as list_
from harness.cli.arguments import Parser

#: The commands, in the order ``wsbench --help`` lists them.
COMMANDS = (gt, reproduce, train, arch, report, score, curves, matrix, regression, bench, protocol, list_)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    p = Parser(prog="wsbench", description="Benchmark weight-sharing NAS rankings.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS:
        command.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``wsbench`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except WsbenchError as e:
        print(f"wsbench: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # the environment (permissions, a full disk, a file where a folder belongs)
        print(f"wsbench: error: {os_error_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("wsbench: interrupted", file=sys.stderr)
        return 130
