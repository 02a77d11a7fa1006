"""``wsbench protocol show``: a protocol's every value, where it is declared, and where each value comes from."""

from __future__ import annotations

import argparse

from harness.cli.arguments import Parser, Subparsers


def add_parser(sub: Subparsers) -> None:
    pr = sub.add_parser("protocol", help="a protocol's every value, where it is declared, and where each value comes from")
    prs = pr.add_subparsers(dest="protocol_command", required=True, parser_class=Parser)
    show = prs.add_parser("show", help="print one protocol (wsbench list names them)")
    show.add_argument("name", help="a protocol, e.g. quick, nb201-rs, fewshot-oneshot")
    show.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.catalog import PROTOCOL_SPACES, protocol_entry
    from harness.cli.protocol_show import show_protocol

    print(show_protocol(protocol_entry(args.name), PROTOCOL_SPACES[args.name]))
    return 0
