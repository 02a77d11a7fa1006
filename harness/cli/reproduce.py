"""``wsbench reproduce``: run the main job (a shipped matrix), write its report and print the report's first screen."""

from __future__ import annotations

import argparse

from harness.cli.arguments import Subparsers, device


def add_parser(sub: Subparsers) -> None:
    r = sub.add_parser("reproduce", help="run the main job (a profile), write its report, print its first screen")
    r.add_argument(
        "--profile",
        default="quick",
        help="a shipped matrix: " + ", ".join(_shipped()) + " (quick: CPU, minutes; full: GPU, paper scale) or a .toml path",
    )
    r.add_argument("--device", type=device, default=None, help="override the profile's device (cpu, cuda, cuda:1)")
    r.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.reproduce import reproduce

    print(reproduce(args.profile, device=args.device))
    return 0


def _shipped() -> list[str]:
    """Names of the shipped matrices (globbed here: importing harness.run.matrix would pull in torch)."""
    from pathlib import Path

    return sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "matrices").glob("*.toml"))
