"""One matrix cell end to end: train a supernet with a strategy, snapshot, score, compare.

The harness owns the loop; the strategy only chooses paths. A cell checkpoints after every
epoch (weights, optimizer, schedule and every random stream) so it resumes exactly where it
stopped, e.g. across 10-minute GPU calls. Outputs (under ``results/runs/...``):

- ``config.json``   resolved config + provenance (written first)
- ``train_log.csv`` one row per epoch
- ``scores/epoch_NNN.csv`` per-snapshot architecture scores (accuracy, loss)
- ``metrics.csv``   long format: epoch, ground truth, score kind, metric, value
- ``result.json``   written last and atomically: the cell is finished iff it exists
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

import harness
from harness.analysis import metrics as M
from harness.engine.archsets import build_archset
from harness.api.errors import WsbenchError
from harness.engine.evaluator import precision, score_architectures
from harness.fileio import atomic_write_bytes, atomic_write_json, atomic_write_text
from harness.api.ground_truth import GroundTruthTable, load_ground_truth
from harness.engine.protocols import Protocol
from harness.engine.seeding import numpy_stream, stream_seed, torch_stream
from harness.settings import results_dir

GTSpec = tuple[str, str, str, str, str]  # source, dataset, split, metric, seed_reduction


class TrainingDiverged(WsbenchError):
    """The training loss became NaN or infinite."""


@dataclass(frozen=True)
class CellSpec:
    """Everything that defines one matrix cell."""

    space: str
    strategy: str
    protocol: Protocol
    seed: int
    strategy_options: dict[str, Any] = field(default_factory=dict)
    ground_truths: tuple[GTSpec, ...] | None = None  # None: the space's defaults
    device: str = "cpu"

    def config(self) -> dict[str, Any]:
        """The fully resolved config (JSON-able); its hash names the cell."""
        from spaces import SPACES
        from strategies import STRATEGIES

        space = SPACES.get(self.space)
        strat = STRATEGIES.get(self.strategy)
        return {
            "space": space.describe(),
            "strategy": {"name": strat.name, "version": strat.version, "options": {**strat.defaults, **self.strategy_options}},
            "protocol": self.protocol.to_dict(),
            "seed": self.seed,
            "ground_truths": [list(g) for g in self.resolved_ground_truths()],
            "device_type": torch.device(self.device).type,
            "wsbench_version": harness.__version__,
        }

    def resolved_ground_truths(self) -> tuple[GTSpec, ...]:
        """The configured ground truths, or the space's defaults."""
        if self.ground_truths is not None:
            return self.ground_truths
        from spaces import SPACES

        return tuple(SPACES.get(self.space).default_ground_truths)

    def cell_hash(self) -> str:
        """SHA-256 of the resolved config."""
        return hashlib.sha256(json.dumps(self.config(), sort_keys=True).encode()).hexdigest()

    def run_dir(self, root: Path | None = None) -> Path:
        """Where this cell's outputs live."""
        root = root if root is not None else results_dir()
        return root / "runs" / self.space / self.strategy / self.protocol.name / f"seed{self.seed}-{self.cell_hash()[:10]}"


def available_ground_truths(space: str, specs: tuple[GTSpec, ...]) -> tuple[list[GroundTruthTable], list[str]]:
    """Load the configured ground truths that are present here; list why the others are not."""
    from harness.api.ground_truth import GROUND_TRUTHS

    tables, skipped = [], []
    for src, ds, split, metric, red in specs:
        ok, why = GROUND_TRUTHS.get(f"{space}/{src}")().available()
        if not ok:
            skipped.append(f"{space}/{src}: {why}")
            continue
        tables.append(load_ground_truth(space, src, ds, split, metric, red))
    return tables, skipped


def provenance(device: torch.device) -> dict[str, Any]:
    """Versions, git hash and device of this process."""
    import subprocess

    try:
        git = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent, timeout=5
        ).stdout.strip() or None
        dirty = bool(
            subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, cwd=Path(__file__).parent, timeout=5).stdout.strip()
        )
    except (OSError, subprocess.SubprocessError):
        git, dirty = None, None
    info = {
        "wsbench": harness.__version__,
        "git": git,
        "git_dirty": dirty,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


class CellData:
    """The cell's data on its device: training batches, fixed calibration and evaluation batches.

    The split and the scoring images are fixed per protocol (not per run seed), so every cell of
    a space is scored on the same images. All generators live on the CPU, so a CPU run and a GPU
    run with the same seed see the same batches.
    """

    def __init__(self, protocol: Protocol, seed: int, device: torch.device, arch_half: bool = False) -> None:
        from harness.data import TensorBatches, get_split, load_cifar10
        from harness.data.splits import balanced_subset

        split = get_split(protocol.split, seed=0, subset=protocol.subset)
        parts = {}
        for part in (protocol.train_part, protocol.eval_part):
            cifar_part, idx = split.parts[part]
            full = load_cifar10(cifar_part)
            if part == protocol.eval_part and protocol.eval_images is not None and protocol.eval_images < len(idx):
                idx = balanced_subset(idx, full.labels, protocol.eval_images, numpy_stream(0, "scoring"))
            parts[part] = (full.images[idx], full.labels[idx], full.source)
        self.source = {k: v[2] for k, v in parts.items()}
        self.split_fingerprint = split.fingerprint()
        xtr, ytr, _ = parts[protocol.train_part]
        xev, yev, _ = parts[protocol.eval_part]
        self.arch_train: TensorBatches | None = None
        if arch_half:
            # Bi-level strategies (DARTS) fit architecture parameters on images the weights never
            # see: a fixed half of the training part (fixed per protocol, like the split itself).
            order = numpy_stream(0, "archdata").permutation(len(ytr))
            half = len(order) // 2
            xa, ya = xtr[np.sort(order[half:])], ytr[np.sort(order[half:])]
            xtr, ytr = xtr[np.sort(order[:half])], ytr[np.sort(order[:half])]
            self.arch_train = TensorBatches(
                xa, ya, device=device, batch_size=protocol.batch_size, augment=protocol.augment,
                shuffle=True, drop_last=True, generator=torch_stream(seed, "archdata"), channels_last=protocol.channels_last,
            )
        self.train = TensorBatches(
            xtr, ytr, device=device, batch_size=protocol.batch_size, augment=protocol.augment,
            shuffle=True, drop_last=True, generator=torch_stream(seed, "data"), channels_last=protocol.channels_last,
        )
        calib = TensorBatches(
            xtr, ytr, device=device, batch_size=protocol.calib_batch_size, channels_last=protocol.channels_last
        )
        self.calib_batches = calib.fixed_batches(protocol.calib_batches, torch_stream(0, "scoring"), augment=False)
        self.eval_batches = list(
            TensorBatches(xev, yev, device=device, batch_size=protocol.eval_batch_size, channels_last=protocol.channels_last)
        )
        self.n_train, self.n_eval = len(ytr), len(yev)
        self.n_arch_train = len(self.arch_train.labels) if self.arch_train is not None else 0


def effective_schedule(p: Protocol, paths_per_step: float, epoch_fraction: float = 1.0) -> tuple[int, tuple[int, ...]]:
    """Epochs and snapshot epochs a strategy runs under equal compute (path passes of SPOS's schedule).

    ``paths_per_step``: forward/backward passes per step relative to SPOS. ``epoch_fraction``: the
    strategy's steps per epoch relative to SPOS's (bi-level strategies train the weights on half the
    images, so their epoch is half as long and they run twice the epochs for the same compute).
    """
    scale = float(paths_per_step) * float(epoch_fraction)
    if not p.equal_compute or scale == 1:
        return p.epochs, tuple(p.snapshot_epochs)
    epochs = max(1, round(p.epochs / scale))
    snaps = tuple(sorted({min(epochs, max(1, round(e / scale))) for e in p.snapshot_epochs}))
    return epochs, snaps


def _cosine_lr(protocol: Protocol, total_steps: int):
    def factor(step: int) -> float:
        t = min(step, total_steps) / max(1, total_steps)
        return (protocol.lr_min + 0.5 * (protocol.lr - protocol.lr_min) * (1 + math.cos(math.pi * t))) / protocol.lr

    return factor


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def snapshot_metrics(
    scores: pd.DataFrame, tables: list[GroundTruthTable], epoch: int
) -> list[dict[str, Any]]:
    """Long-format metric rows of one snapshot against every ground truth, for both score kinds.

    A table that covers only part of the architecture set (e.g. NB101's 500-cell table) is
    compared on the architectures it covers; the count is recorded as the ``n_archs`` metric.
    """
    rows = []
    for table in tables:
        covered = scores[scores["arch"].isin(set(table.arch_ids))]
        if len(covered) < 2:
            continue
        true = table.lookup(covered["arch"].tolist())
        true = true if table.higher_is_better else -true
        fp = table.fingerprint[:16]
        for kind, est in (("accuracy", covered["accuracy"].to_numpy()), ("neg_loss", -covered["loss"].to_numpy())):
            values = {**M.compute_all(est, true), "n_archs": float(len(covered))}
            for name, value in values.items():
                rows.append({
                    "epoch": epoch, "ground_truth": table.query.label(), "gt_fingerprint": fp,
                    "score": kind, "metric": name, "value": value,
                })
    return rows


def metrics_from_scores(run_dir: Path) -> int:
    """(Re)write ``metrics.csv`` of a cell from its score files; returns the number of snapshots.

    For cells that stopped before their last snapshot and predate per-snapshot metrics files: the
    metrics are computed against the ground truths recorded in ``config.json``, exactly as
    ``run_cell`` does at each snapshot.
    """
    from harness.run.store import load_scores

    run_dir = Path(run_dir)
    try:
        config = json.loads((run_dir / "config.json").read_text())
        space, specs = config["space"]["name"], tuple(tuple(g) for g in config["ground_truths"])
    except (OSError, json.JSONDecodeError, KeyError) as exc:
        raise WsbenchError(f"{run_dir / 'config.json'} is unreadable ({exc}); the cell cannot be reported") from None
    tables, _ = available_ground_truths(space, specs)
    scores = load_scores(run_dir)
    rows: list[dict[str, Any]] = []
    for epoch, snap in scores.groupby("epoch", sort=True):
        rows.extend(snapshot_metrics(snap.reset_index(drop=True), tables, int(epoch)))
    atomic_write_text(run_dir / "metrics.csv", pd.DataFrame(rows).to_csv(index=False))
    return int(scores["epoch"].nunique())


def selected_summary(arch_id: str, tables: list[GroundTruthTable]) -> dict[str, Any]:
    """The strategy's own pick with its ground-truth value and percentile rank in each table."""
    out: dict[str, Any] = {"arch": arch_id, "ground_truth": {}}
    for table in tables:
        if arch_id not in table._index:
            continue
        value = float(table.lookup([arch_id])[0])
        allv = np.asarray(table.values)
        better = (allv > value).mean() if table.higher_is_better else (allv < value).mean()
        out["ground_truth"][table.query.label()] = {"value": value, "fraction_better": float(better)}
    return out


def run_cell(spec: CellSpec, root: Path | None = None, progress: bool = False, log=print) -> dict[str, Any]:
    """Train, snapshot, score and write one cell; resumes from its checkpoint; skips if finished."""
    from spaces import SPACES
    from strategies import STRATEGIES

    out = spec.run_dir(root)
    done = out / "result.json"
    if done.exists():
        return json.loads(done.read_text())
    device = torch.device(spec.device)
    p = spec.protocol
    space = SPACES.get(spec.space)
    # Validate the strategy (name, options) before anything is written.
    strategy = STRATEGIES.get(spec.strategy)(space, numpy_stream(spec.seed, "arch"), **spec.strategy_options)
    tables, skipped = available_ground_truths(spec.space, spec.resolved_ground_truths())
    if not tables:
        raise WsbenchError(f"no ground truth available for {spec.space}: {'; '.join(skipped)}")
    config = spec.config()
    config["cell_hash"] = spec.cell_hash()
    config["provenance"] = provenance(device)
    config["ground_truth_fingerprints"] = {t.query.label(): t.fingerprint for t in tables}
    config["ground_truths_skipped"] = skipped
    data = CellData(p, spec.seed, device, arch_half=strategy.needs_arch_data)
    config["data"] = {
        "source": data.source, "split_fingerprint": data.split_fingerprint,
        "n_train": data.n_train, "n_eval": data.n_eval, "n_arch_train": data.n_arch_train,
    }

    archs = build_archset(space, p.archset, p.archset_n, p.archset_seed, p.archset_source)
    arch_ids = [space.arch_id(a) for a in archs]

    model = space.build_supernet(C=p.C, N=p.N, num_classes=10, seed=stream_seed(spec.seed, "init")).to(device)
    if p.channels_last:
        model = model.to(memory_format=torch.channels_last)
    steps_per_epoch = len(data.train)
    # SPOS's steps per epoch run over the whole training part; bi-level strategies see only half.
    full_steps = (data.n_train + data.n_arch_train) // p.batch_size
    epochs, snapshot_epochs = effective_schedule(p, strategy.paths_per_step, steps_per_epoch / max(1, full_steps))
    model = strategy.bind(model, steps_per_epoch, epochs)  # e.g. few-shot: one copy per sub-supernet
    params = [q for q in model.parameters() if q.requires_grad]
    opt = torch.optim.SGD(params, lr=p.lr, momentum=p.momentum, nesterov=p.nesterov, weight_decay=p.weight_decay)
    config["schedule"] = {
        "epochs": epochs, "snapshot_epochs": list(snapshot_epochs), "paths_per_step": strategy.paths_per_step,
        "path_passes": epochs * steps_per_epoch * strategy.paths_per_step,  # forward/backward passes of one path
    }
    atomic_write_json(out / "config.json", config)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _cosine_lr(p, epochs * steps_per_epoch))
    crit = nn.CrossEntropyLoss()

    ckpt_path = out / "checkpoint.pt"
    start_epoch, step, log_rows, metric_rows = 0, 0, [], []
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=device, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        strategy.load_state_dict(ck["strategy"])
        data.train.generator.set_state(ck["data_rng"].cpu())
        if data.arch_train is not None:
            data.arch_train.generator.set_state(ck["archdata_rng"].cpu())
        start_epoch, step, log_rows, metric_rows = ck["epoch"], ck["step"], ck["log"], ck["metrics"]
        log(f"resuming {out.name} at epoch {start_epoch}")

    for epoch in range(start_epoch, epochs):
        t0 = time.perf_counter()
        model.train()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device)
        seen = 0
        path_samples = 0  # images x paths, the denominator of the path-averaged train accuracy
        arch_batches = iter(data.arch_train) if data.arch_train is not None else None
        for x, y in data.train:
            strategy.before_step(step, model, opt)
            if arch_batches is not None:
                xa, ya = next(arch_batches)  # both halves have the same number of batches
                with precision(device, p.autocast):
                    strategy.arch_step(step, model, xa, ya)
            paths = strategy.paths(step)
            opt.zero_grad(set_to_none=True)
            for arch in paths:
                with precision(device, p.autocast):
                    logits = model(x, arch)
                    loss = crit(logits.float(), y) / len(paths)
                loss.backward()
                loss_sum += loss.detach() * len(y)
                hits = (logits.argmax(1) == y).sum()
                correct += hits
                path_samples += len(y)
                if strategy.wants_feedback:
                    strategy.observe(step, arch, float(loss.detach()) * len(paths), 100.0 * float(hits) / len(y))
            if p.grad_clip:
                nn.utils.clip_grad_norm_(params, p.grad_clip)
            opt.step()
            sched.step()
            step += 1
            seen += len(y)
        train_loss = float(loss_sum) / max(1, seen)
        if not math.isfinite(train_loss):
            raise TrainingDiverged(f"training loss became {train_loss} in epoch {epoch + 1} of {out.name}")
        row = {
            "epoch": epoch + 1, "step": step, "train_loss": train_loss,
            "train_acc": 100.0 * float(correct) / max(1, path_samples), "lr": sched.get_last_lr()[0],
            "seconds": time.perf_counter() - t0,
        }
        chosen = strategy.selected()
        if chosen is not None:
            row["selected_arch"] = space.arch_id(chosen)
        if epoch + 1 in snapshot_epochs:
            t1 = time.perf_counter()
            scores = score_architectures(
                model, archs, arch_ids, data.eval_batches, p.bn_mode, data.calib_batches, progress=progress,
                autocast=p.autocast,
            )
            scores.insert(0, "epoch", epoch + 1)
            atomic_write_text(out / "scores" / f"epoch_{epoch + 1:03d}.csv", scores.to_csv(index=False))
            metric_rows.extend(snapshot_metrics(scores, tables, epoch + 1))
            # Written at every snapshot, so a cell cut short (e.g. by the end of a GPU lease) can
            # still be reported with ``wsbench report --partial``.
            atomic_write_text(out / "metrics.csv", pd.DataFrame(metric_rows).to_csv(index=False))
            row["score_seconds"] = time.perf_counter() - t1
        log_rows.append(row)
        log(
            f"{out.name} epoch {epoch + 1}/{epochs} loss {train_loss:.3f} "
            f"acc {row['train_acc']:.1f} {row['seconds']:.1f}s" + (f" scored {len(archs)} archs in {row['score_seconds']:.1f}s" if "score_seconds" in row else "")
        )
        _save_checkpoint(ckpt_path, {
            "model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
            "strategy": strategy.state_dict(), "data_rng": data.train.generator.get_state(),
            "archdata_rng": data.arch_train.generator.get_state() if data.arch_train is not None else None,
            "epoch": epoch + 1, "step": step, "log": log_rows, "metrics": metric_rows,
        })

    atomic_write_text(out / "train_log.csv", pd.DataFrame(log_rows).to_csv(index=False))
    atomic_write_text(out / "metrics.csv", pd.DataFrame(metric_rows).to_csv(index=False))
    # Keep the final shared weights for later re-scoring; the resume point (optimizer etc.) goes.
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    atomic_write_bytes(out / "supernet.pt", buf.getvalue())
    result = {
        "cell_hash": config["cell_hash"], "run_dir": str(out), "epochs": epochs, "steps": step,
        "path_passes": config["schedule"]["path_passes"],
        "seconds_per_epoch": float(np.mean([r["seconds"] for r in log_rows])) if log_rows else None,
        "n_archs": len(archs), "metrics": metric_rows,
    }
    chosen = strategy.selected()
    if chosen is not None:
        result["selected"] = selected_summary(space.arch_id(chosen), tables)
    atomic_write_json(done, result)  # last: the cell is finished iff this file exists
    ckpt_path.unlink(missing_ok=True)
    return result
