"""``wsbench curves``: learning-curve predictors and train-briefly estimators on NB101's curves."""

from __future__ import annotations

import argparse

from harness.analysis.limits import MAX_BOOTSTRAP
from harness.cli.arguments import NON_NEGATIVE, POSITIVE, Subparsers


def add_parser(sub: Subparsers) -> None:
    cv = sub.add_parser(
        "curves", help="learning-curve predictors and train-briefly estimators on NB101's 4/12/36/108-epoch curves"
    )
    cv.add_argument("--out", default=None, help="folder for one score file per predictor (for wsbench score)")
    cv.add_argument("--folds", type=POSITIVE, default=10, help="cross-validation folds of the regressors")
    cv.add_argument("--seed", type=NON_NEGATIVE, default=0, help="seed of the fold split")
    cv.add_argument(
        "--bootstrap", type=NON_NEGATIVE, default=1000, help=f"bootstrap resamples per interval (2 to {MAX_BOOTSTRAP:,})"
    )
    cv.add_argument(
        "--train-fraction", dest="train_fraction", type=float, default=0.1,
        help="share of the cells each regressor learns from, fully trained (their cost is counted)",
    )  # fmt: skip
    cv.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.analysis.learning_curves import learning_curve_command

    print(learning_curve_command(args.out, args.folds, args.seed, args.bootstrap, train_fraction=args.train_fraction))
    return 0
