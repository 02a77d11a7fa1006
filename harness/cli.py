"""The ``wsbench`` command line: a thin layer over the library.

Every user-caused failure (``WsbenchError``) is printed as one line on stderr with exit code 2;
tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import NoReturn

from harness.api.errors import WsbenchError, os_error_line
from harness.run.cluster_options import EXECUTORS


def _cmd_gt(args: argparse.Namespace) -> int:
    fields = (args.source, args.dataset, args.split, args.metric, args.seed_reduction)
    if not any(fields):
        from harness.analysis.gt_report import gt_report

        print(gt_report(args.space, bootstrap=args.bootstrap, seed=args.seed, baselines=tuple(args.baselines or ())))
        return 0
    if not all(fields):
        # Every field is explicit: no defaults that silently change what is being compared against.
        raise WsbenchError("a ground-truth query needs all of --source, --dataset, --split, --metric and --seed-reduction")
    from harness.api.ground_truth import load_ground_truth
    from harness.fileio import atomic_write_text

    table = load_ground_truth(args.space, *fields)
    series = table.as_series().sort_values(ascending=not table.higher_is_better)
    print(f"{table.query.label()}: {len(table)} architectures, fingerprint {table.fingerprint}")
    print(f"provenance: {table.provenance}")
    print(series.head(args.top).to_string())
    if args.out:
        atomic_write_text(args.out, table.as_series().to_csv())
        print(f"written: {args.out}")
    return 0


def _cmd_arch(args: argparse.Namespace) -> int:
    from harness.api.ground_truth import GROUND_TRUTHS, load_ground_truth
    from spaces import SPACES

    space = SPACES.get(args.space)
    arch = space.parse(args.arch)
    info = space.describe_arch(arch)
    for key, value in info.items():
        print(f"{key:>22}: {value}")
    for name in GROUND_TRUTHS.names(f"{args.space}/*"):
        source = GROUND_TRUTHS.get(name)()
        ok, _ = source.available()
        if not ok:
            continue
        for (dataset, split), metrics in sorted(source.options.items()):
            for red in source.seed_reductions[:1]:
                table = load_ground_truth(args.space, source.source, dataset, split, metrics[0], red)
                if space.arch_id(arch) in table._index:
                    print(f"{table.query.label()}: {table.lookup([space.arch_id(arch)])[0]:.3f}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from harness.analysis.report import report_command

    baselines = tuple(b for b in (args.baselines or "").split(",") if b)
    print(report_command(args.root, args.out, args.last_k, baselines=baselines, partial=args.partial))
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
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
        )  # fmt: skip
    )
    return 0


def _cmd_curves(args: argparse.Namespace) -> int:
    from harness.analysis.learning_curves import learning_curve_command

    print(learning_curve_command(args.out, args.folds, args.seed, args.bootstrap, train_fraction=args.train_fraction))
    return 0


def _cmd_matrix(args: argparse.Namespace) -> int:
    from harness.run.executor import run_command, status_command

    if args.matrix_command == "run":
        from harness.run.matrix import load_matrix

        given = {k: getattr(args, k) for k in ("partition", "gpus_per_job", "cpus_per_job", "time_limit_min", "mem_gb",
                 "account", "qos", "array_parallelism", "cells_per_job", "max_requeues")}  # fmt: skip
        given["kind"] = args.executor
        given["sbatch"] = tuple(args.sbatch)
        given["threads"] = args.threads
        opts = load_matrix(args.matrix).executor.updated(**given)
        return run_command(args.matrix, workers=args.workers, threads=args.threads, executor=opts, wait_for_jobs=not args.no_wait)
    return status_command(args.matrix)


def _cmd_regression(args: argparse.Namespace) -> int:
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


def _cmd_bench(args: argparse.Namespace) -> int:
    from harness.run.bench import bench_command

    print(
        bench_command(
            device=args.device,
            C=args.C,
            N=args.N,
            batch_size=args.batch_size,
            steps=args.steps,
            cells=args.cells,
            threads=args.threads,
            autocast=args.autocast,
        )
    )
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from harness.api.plugins import list_plugins

    print(list_plugins(pairs=args.pairs))
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from harness.run.reproduce import reproduce

    print(reproduce(args.profile, device=args.device))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    import json

    from harness.engine.cell import CellSpec
    from harness.engine.loop import run_cell
    from harness.engine.protocols import PROTOCOLS

    protocol = PROTOCOLS.get(args.protocol)
    changes = {k: v for k, v in (("epochs", args.epochs), ("C", args.C), ("N", args.N)) if v is not None}
    if "epochs" in changes:
        # A shorter run snapshots at its own last epochs (same count as the protocol).
        k = len(protocol.snapshot_epochs)
        changes["snapshot_epochs"] = tuple(range(max(1, changes["epochs"] - k + 1), changes["epochs"] + 1))
    if args.archset:
        changes["archset"], changes["archset_n"] = args.archset
    if changes:
        name = f"{protocol.name}+" + ",".join(f"{k}={v}" for k, v in sorted(changes.items()) if k != "snapshot_epochs")
        network = {**protocol.network, **{k: changes.pop(k) for k in ("C", "N") if k in changes}}
        protocol = protocol.replace(name=name, network=network, **changes)
    options = dict(args.option)
    spec = CellSpec(args.space, args.strategy, protocol, args.seed, options, device=args.device)
    result = run_cell(spec, progress=not _ci())
    print(json.dumps({k: v for k, v in result.items() if k != "metrics"}, indent=2))
    return 0


def _shipped() -> list[str]:
    """Names of the shipped matrices (globbed here: importing harness.run.matrix would pull in torch)."""
    from pathlib import Path

    return sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "matrices").glob("*.toml"))


def _ci() -> bool:
    import os

    return bool(os.environ.get("CI"))


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors on one line (the usage itself is one ``--help`` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _int_at_least(least: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {least}, got {text!r}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"must be an integer >= {least}, got {value}")
        return value

    parse.__name__ = f"integer >= {least}"
    return parse


def _device(text: str) -> str:
    from harness.engine.cell import check_device

    try:
        return check_device(text)
    except WsbenchError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _option(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"must be key=value (e.g. sampling=deisomorphic), got {text!r}")
    return key, value


def _archset(text: str) -> tuple[str, int | None]:
    kind, sep, n = text.partition(":")
    if kind not in ("all", "unique", "sample", "ground-truth", "ground-truth-sample"):
        raise argparse.ArgumentTypeError(f"must be all, unique, ground-truth, sample:N or ground-truth-sample:N, got {text!r}")
    if sep or kind.endswith("sample"):
        if not n.isdigit() or int(n) < 1:
            raise argparse.ArgumentTypeError(f"{kind} needs a size >= 1, e.g. {kind}:200, got {text!r}")
        return kind, int(n)
    return kind, None


def _int_list(text: str) -> str:
    parts = text.split(",")
    if not all(p.strip().isdigit() and int(p) >= 1 for p in parts):
        raise argparse.ArgumentTypeError(f"must be a comma list of integers >= 1 (e.g. 1,4), got {text!r}")
    return text


POSITIVE, NON_NEGATIVE = _int_at_least(1), _int_at_least(0)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    p = _Parser(prog="wsbench", description="Benchmark weight-sharing NAS rankings.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    g = sub.add_parser("gt", help="ground-truth sources of a space, their sizes and their agreement")
    g.add_argument("space", help="search space, e.g. nb201")
    g.add_argument("--bootstrap", type=NON_NEGATIVE, default=200, help="bootstrap resamples for confidence intervals")
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
    g.set_defaults(func=_cmd_gt)

    r = sub.add_parser("reproduce", help="run the main job (a profile) and print its results table")
    r.add_argument(
        "--profile",
        default="quick",
        help="a shipped matrix: " + ", ".join(_shipped()) + " (quick: CPU, minutes; full: GPU, paper scale) or a .toml path",
    )
    r.add_argument("--device", type=_device, default=None, help="override the profile's device (cpu, cuda, cuda:1)")
    r.set_defaults(func=_cmd_reproduce)

    t = sub.add_parser("train", help="train and score one matrix cell (resumes if interrupted)")
    t.add_argument("--space", default="nb201", help="search space (wsbench list shows them); default nb201")
    t.add_argument("--strategy", default="spos", help="weight-sharing strategy (wsbench list --pairs: which run where)")
    t.add_argument("--protocol", default="quick", help="training + scoring protocol (wsbench list); default quick")
    t.add_argument("--seed", type=NON_NEGATIVE, default=0, help="run seed (data order, init, path sampling)")
    t.add_argument("--device", type=_device, default="cpu", help="cpu, cuda, cuda:N or mps; default cpu")
    t.add_argument("--epochs", type=POSITIVE, default=None, help="override the protocol's epochs")
    t.add_argument("--C", type=POSITIVE, default=None, help="override the network's channels")
    t.add_argument("--N", type=POSITIVE, default=None, help="override the network's cells per stage")
    t.add_argument("--archset", type=_archset, default=None, help="architectures scored: all, unique, sample:N, ...")
    t.add_argument("--option", type=_option, action="append", default=[], help="strategy option key=value (repeatable)")
    t.set_defaults(func=_cmd_train)

    a = sub.add_parser("arch", help="facts about one architecture: encodings, class, costs, ground truth")
    a.add_argument("space", help="search space, e.g. nb201")
    a.add_argument(
        "arch",
        help="architecture, e.g. '|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|'",
    )
    a.set_defaults(func=_cmd_arch)

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
    rp.set_defaults(func=_cmd_report)

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
    sc.add_argument("--bootstrap", type=NON_NEGATIVE, default=1000, help="bootstrap resamples per interval (0: none)")
    sc.add_argument("--partial", action="store_true", help="include unfinished cells of --with folders")
    sc.set_defaults(func=_cmd_score)

    cv = sub.add_parser(
        "curves", help="learning-curve predictors and train-briefly estimators on NB101's 4/12/36/108-epoch curves"
    )
    cv.add_argument("--out", default=None, help="folder for one score file per predictor (for wsbench score)")
    cv.add_argument("--folds", type=POSITIVE, default=10, help="cross-validation folds of the regressors")
    cv.add_argument("--seed", type=NON_NEGATIVE, default=0, help="seed of the fold split")
    cv.add_argument("--bootstrap", type=NON_NEGATIVE, default=1000, help="bootstrap resamples per interval")
    cv.add_argument(
        "--train-fraction", dest="train_fraction", type=float, default=0.1,
        help="share of the cells each regressor learns from, fully trained (their cost is counted)",
    )  # fmt: skip
    cv.set_defaults(func=_cmd_curves)

    mx = sub.add_parser("matrix", help="run a matrix of cells (space x strategy x seed) or show where it stands")
    mxs = mx.add_subparsers(dest="matrix_command", required=True)
    mr = mxs.add_parser("run", help="run every unfinished cell (resumes; waits for cells another process holds)")
    mr.add_argument("matrix", help="a shipped matrix (quick, ci, full, ...) or a path to a .toml file")
    mr.add_argument("--workers", type=POSITIVE, default=None, help="cells at once (default: the matrix's workers)")
    mr.add_argument("--threads", type=POSITIVE, default=None, help="torch threads per worker (default: cores // workers)")
    mr.add_argument(
        "--executor",
        choices=EXECUTORS,
        default=None,
        help="local (this machine's worker pool; default), slurm (jobs through submitit), submitit-local (the same jobs as local subprocesses); default: the matrix file's [executor]",
    )
    cl = mr.add_argument_group("cluster jobs (slurm, submitit-local; override the matrix file's [executor] table)")
    cl.add_argument("--partition", default=None, help="Slurm partition")
    cl.add_argument(
        "--gpus-per-job", dest="gpus_per_job", type=NON_NEGATIVE, default=None, help="GPUs per job (default: 1 for a cuda matrix)"
    )
    cl.add_argument("--cpus-per-job", dest="cpus_per_job", type=POSITIVE, default=None, help="CPUs per job (default: 2 per cell)")
    cl.add_argument(
        "--time",
        dest="time_limit_min",
        type=POSITIVE,
        default=None,
        help="time limit per job in minutes (a job at its limit requeues and resumes)",
    )
    cl.add_argument("--mem-gb", dest="mem_gb", type=float, default=None, help="memory per job in GB")
    cl.add_argument("--account", default=None, help="Slurm account")
    cl.add_argument("--qos", default=None, help="Slurm QoS")
    cl.add_argument(
        "--sbatch", action="append", default=[], help="an extra sbatch flag, e.g. --sbatch=--constraint=a100 (repeatable)"
    )
    cl.add_argument(
        "--array-parallelism",
        dest="array_parallelism",
        type=POSITIVE,
        default=None,
        help="jobs of one submission running at once",
    )
    cl.add_argument(
        "--cells-per-job", dest="cells_per_job", type=POSITIVE, default=None, help="cells one job runs side by side (on its GPUs)"
    )
    cl.add_argument(
        "--max-requeues",
        dest="max_requeues",
        type=NON_NEGATIVE,
        default=None,
        help="requeues after time limits or preemption (default 3)",
    )
    cl.add_argument("--no-wait", dest="no_wait", action="store_true", help="submit and return; follow with wsbench matrix status")
    mr.set_defaults(func=_cmd_matrix)
    ms = mxs.add_parser("status", help="each cell's state: finished, running, partial, failed or pending")
    ms.add_argument("matrix", help="a shipped matrix (quick, ci, full, ...) or a path to a .toml file")
    ms.set_defaults(func=_cmd_matrix)

    rg = sub.add_parser("regression", help="rerun a matrix (default ci) and compare it with its committed baseline")
    rg.add_argument("matrix", nargs="?", default="ci")
    rg_mode = rg.add_mutually_exclusive_group()
    rg_mode.add_argument("--write", action="store_true", help="(re)write results/baselines/<matrix>.json from a fresh run")
    rg_mode.add_argument(
        "--add-platform", action="store_true", help="record this platform's exact values in the baseline (bands unchanged)"
    )
    rg.set_defaults(func=_cmd_regression)

    b = sub.add_parser("bench", help="training images/s and scoring archs/s on this device vs a naive loop")
    b.add_argument("--device", type=lambda t: t if t == "auto" else _device(t), default="auto", help="auto, cpu, cuda or cuda:N")
    b.add_argument("--C", type=POSITIVE, default=16, help="supernet channels")
    b.add_argument("--N", type=POSITIVE, default=5, help="cells per stage")
    b.add_argument("--batch-size", dest="batch_size", type=POSITIVE, default=256, help="training batch size")
    b.add_argument("--steps", type=POSITIVE, default=30, help="timed training steps (after 5 warmup steps)")
    b.add_argument("--cells", type=_int_list, default="1", help="comma list of cells run at once, e.g. 1,4 (aggregate images/s)")
    b.add_argument("--threads", type=POSITIVE, default=None, help="torch CPU threads (default: as set)")
    b.add_argument(
        "--autocast", choices=("bf16",), default=None, help="bf16: run ours (training and scoring) under bfloat16 autocast"
    )
    b.set_defaults(func=_cmd_bench)

    ls = sub.add_parser("list", help="registered spaces, tasks, strategies, ground truths and protocols")
    ls.add_argument("--pairs", action="store_true", help="also say which strategies run on which space, and why not")
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
    except OSError as e:  # the environment (permissions, a full disk, a file where a folder belongs)
        print(f"wsbench: error: {os_error_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("wsbench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
