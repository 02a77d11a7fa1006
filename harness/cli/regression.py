"""``wsbench regression``: rerun a matrix (default ci) and compare it with its committed baseline."""

from __future__ import annotations

import argparse

from harness.cli.arguments import Subparsers


def add_parser(sub: Subparsers) -> None:
    rg = sub.add_parser("regression", help="rerun a matrix (default ci) and compare it with its committed baseline")
    rg.add_argument("matrix", nargs="?", default="ci")
    rg_mode = rg.add_mutually_exclusive_group()
    rg_mode.add_argument("--write", action="store_true", help="(re)write results/baselines/<matrix>.json from a fresh run")
    rg_mode.add_argument(
        "--add-platform", action="store_true", help="record this platform's exact values in the baseline (bands unchanged)"
    )
    rg.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import tempfile
    from pathlib import Path

    from harness.run import regression as R

    with tempfile.TemporaryDirectory(prefix="wsbench-regression-") as tmp:
        if args.write:
            print(f"written: {R.write_baseline(args.matrix, Path(tmp))}")
            return 0
        if args.add_platform:
            print(f"this platform's values recorded in: {R.add_platform(args.matrix, Path(tmp))}")
            return 0
        baseline = R.load_baseline(args.matrix)
        problems = R.compare(baseline, R.run_ci_matrix(args.matrix, Path(tmp)))
    if R.exact_values(baseline) is None:
        print(
            f"note: this platform ({R.platform_key()}) is not recorded in the baseline: bands checked, "
            f"bit-identity not; record it with: wsbench regression {args.matrix} --add-platform"
        )
    for p in problems:
        print(f"REGRESSION: {p}")
    print("ok: every metric within its band" if not problems else f"{len(problems)} regression(s)")
    return 1 if problems else 0
