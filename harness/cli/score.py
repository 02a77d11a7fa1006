"""``wsbench score``: the report of a trained cell for score files from any estimator (CSV or JSON)."""

from __future__ import annotations

import argparse
import sys

from harness.analysis.limits import MAX_BOOTSTRAP
from harness.cli.arguments import NON_NEGATIVE, Subparsers


def add_parser(sub: Subparsers) -> None:
    sc = sub.add_parser("score", help="the report of a trained cell for score files from any estimator (CSV or JSON)")
    sc.add_argument(
        "files", nargs="+", help="score files: CSV (arch, score[, epoch, seed]) or JSON ({arch: score} or a scores object)"
    )
    sc.add_argument("--space", required=True, help="search space the keys belong to, e.g. nb201")
    sc.add_argument("--out", default=None, help="results folder to write (default: <results>/scores/<labels>)")
    sc.add_argument(
        "--direction",
        choices=("higher", "lower"),
        default=None,
        help="is a higher score better? (default: the file's, else higher)",
    )
    sc.add_argument(
        "--key-format",
        dest="key_format",
        default=None,
        help="how keys are written (default: the file's, else auto); see the space's key formats",
    )
    sc.add_argument(
        "--label", action="append", default=[], help="display label per file, in order (default: the file's label or name)"
    )
    sc.add_argument(
        "--duplicates",
        choices=("error", "mean", "first"),
        default="error",
        help="two keys naming one architecture: refuse (default), average or keep the first",
    )
    _add_comparisons(sc)
    sc.add_argument(
        "--bootstrap",
        type=NON_NEGATIVE,
        default=1000,
        help=f"bootstrap resamples per interval (0: none; at most {MAX_BOOTSTRAP:,})",
    )
    sc.add_argument("--partial", action="store_true", help="include unfinished cells of --with folders")
    sc.set_defaults(func=run)


def _add_comparisons(sc: argparse.ArgumentParser) -> None:
    """What the scores are compared with: ground truths, baselines, other results folders."""
    sc.add_argument(
        "--ground-truth",
        dest="ground_truth",
        action="append",
        default=[],
        help="source,dataset,split,metric,seed_reduction (repeatable; default: the space's defaults)",
    )
    sc.add_argument("--baselines", default=None, help="training-free baselines beside them, e.g. random,flops,synflow")
    sc.add_argument(
        "--with",
        dest="with_results",
        action="append",
        default=[],
        help="a results folder whose cells are reported beside (repeatable)",
    )


def run(args: argparse.Namespace) -> int:
    from harness.analysis.score_command import score_command

    print(
        score_command(
            args.files,
            args.space,
            out=args.out,
            direction=args.direction,
            key_format=args.key_format,
            labels=args.label,
            duplicates=args.duplicates,
            ground_truths=args.ground_truth,
            baselines=[b.strip() for b in (args.baselines or "").split(",") if b.strip()],
            with_results=args.with_results,
            bootstrap=args.bootstrap,
            partial=args.partial,
            progress=_progress,
        )  # fmt: skip
    )
    return 0


def _progress(message: str) -> None:
    """Say what a long score command is doing (on stderr: stdout holds the report)."""
    print(f"wsbench score: {message}", file=sys.stderr, flush=True)
