"""``wsbench gt``: a space's ground-truth sources, their sizes and their agreement, or one table."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.analysis.limits import MAX_BOOTSTRAP
from harness.api.errors import WsbenchError
from harness.cli.arguments import NON_NEGATIVE, POSITIVE, Subparsers


def add_parser(sub: Subparsers) -> None:
    g = sub.add_parser("gt", help="ground-truth sources of a space, their sizes and their agreement")
    g.add_argument("space", help="search space, e.g. nb201")
    g.add_argument(
        "--bootstrap",
        type=NON_NEGATIVE,
        default=200,
        help=f"bootstrap resamples for confidence intervals (0: none; at most {MAX_BOOTSTRAP:,})",
    )
    g.add_argument("--seed", type=NON_NEGATIVE, default=0, help="seed of the bootstrap resampling")
    g.add_argument("--source", help="query one table: source (e.g. csv, analog, nb201-pth, nats)")
    g.add_argument("--dataset", help="e.g. cifar10, cifar10-valid, cifar100, ImageNet16-120")
    g.add_argument("--split", help="e.g. valid, test")
    g.add_argument("--metric", help="e.g. accuracy")
    g.add_argument("--seed-reduction", dest="seed_reduction", help="e.g. mean, as-published, seed:777")
    g.add_argument("--top", type=POSITIVE, default=5, help="print the best N architectures of the table")
    g.add_argument(
        "--baselines",
        type=lambda text: [b.strip() for b in text.split(",") if b.strip()],
        help="comma-separated training-free baselines to rank each table with (e.g. params,flops,synflow,jacob_cov), with intervals",
    )
    g.add_argument("--out", help="write the table as CSV (arch, value)")
    g.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    fields = (args.source, args.dataset, args.split, args.metric, args.seed_reduction)
    if not any(fields):
        from harness.analysis.gt_report import gt_report

        print(gt_report(args.space, bootstrap=args.bootstrap, seed=args.seed, baselines=tuple(args.baselines or ())))
        return 0
    if not all(fields):
        # Every field is explicit: no defaults that silently change what is being compared against.
        raise WsbenchError("a ground-truth query needs all of --source, --dataset, --split, --metric and --seed-reduction")
    from harness.catalog import load_ground_truth
    from harness.fileio import atomic_write_text

    if args.out and Path(args.out).is_dir():  # checked first: the write would fail naming its temporary file
        raise WsbenchError(
            f"--out {args.out} is a folder; give the path of a CSV file to write, e.g. {Path(args.out) / 'gt.csv'}"
        )
    table = load_ground_truth(args.space, *fields)
    series = table.as_series().sort_values(ascending=not table.higher_is_better)
    print(f"{table.query.label()}: {len(table)} architectures, fingerprint {table.fingerprint}")
    print(f"provenance: {table.provenance}")
    print(series.head(args.top).to_string())
    if args.out:
        atomic_write_text(args.out, table.as_series().to_csv())
        print(f"written: {args.out}")
    return 0
