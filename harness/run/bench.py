"""``wsbench bench``: how fast the harness trains and scores on this device, against a naive loop.

One run measures, on one device and with random uint8 images (speed only, no dataset needed):

- *ours, training*: the step of ``harness.engine.loop.run_cell`` (device-resident uint8 data augmented
  on the device by ``TensorBatches``, SPOS uniform path sampling, forward/backward/clip/SGD and
  the cosine schedule) with ``channels_last`` on, the protocols' default;
- *naive, training*: the same network, loss and optimizer fed the way a first implementation
  would: a float32 NCHW CPU tensor, per-image crop/flip in NumPy, a host-to-device copy per
  batch, no ``channels_last``, ``loss.item()`` every step;
- *ours / naive, scoring*: ``score_architectures`` with BN recalibration vs a plain loop
  (batches of 256, momentum-based BN reset per architecture, per-batch ``.item()``);
- *aggregate*: k processes each running the ours-training loop at once (total images/s).

Every figure is taken after ``warmup`` untimed steps; on a GPU the timed span is bracketed by
CUDA events, on a CPU by ``time.perf_counter``.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from harness.api.errors import WsbenchError

NAIVE_BATCH = 256  # the naive scorer's calibration and evaluation batch size
_DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
_GRAD_CLIP = 5.0


def _protocol_default(name: str) -> Any:
    """A field default of ``Protocol``, so the bench trains with the protocols' hyper-parameters."""
    from harness.engine.protocols import Protocol

    return {f.name: f.default for f in dataclasses.fields(Protocol)}[name]


def resolve_device(device: str) -> torch.device:
    """``auto`` → ``cuda`` when a GPU is visible, else ``cpu``; ``cuda`` without a GPU is an error."""
    if not isinstance(device, str) or not _DEVICE_RE.match(device):
        raise WsbenchError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise WsbenchError(f"device {device!r} requested but no CUDA GPU is visible; use --device cpu")
        index = torch.device(device).index or 0
        if index >= torch.cuda.device_count():
            raise WsbenchError(f"device {device!r} does not exist ({torch.cuda.device_count()} GPU(s)); use cuda:0")
    return torch.device(device)


def _check_args(**ints: int) -> None:
    minimum = {"warmup": 0}
    for name, value in ints.items():
        lo = minimum.get(name, 1)
        if not isinstance(value, int) or isinstance(value, bool) or value < lo:
            raise WsbenchError(f"bench: {name} must be an integer >= {lo}, got {value!r}")


# ---------------------------------------------------------------- shared pieces


def random_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random uint8 NHWC 32x32 images and labels in 0..9 (the bench measures speed only)."""
    g = np.random.default_rng([int(seed), n])
    return g.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), g.integers(0, 10, n, dtype=np.int64)


def build_training(
    C: int, N: int, seed: int, device: torch.device, channels_last: bool, total_steps: int
) -> tuple[nn.Module, torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler, list[nn.Parameter]]:
    """Supernet, SGD (nesterov) and per-step cosine schedule with the protocols' defaults."""
    from harness.engine.seeding import stream_seed
    from spaces.nb201.supernet import NB201Supernet

    lr, lr_min = _protocol_default("lr"), _protocol_default("lr_min")
    model = NB201Supernet(C=C, N=N, num_classes=10, seed=stream_seed(seed, "init")).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    params = [q for q in model.parameters() if q.requires_grad]
    opt = torch.optim.SGD(
        params,
        lr=lr,
        momentum=_protocol_default("momentum"),
        nesterov=_protocol_default("nesterov"),
        weight_decay=_protocol_default("weight_decay"),
    )

    def cosine(step: int) -> float:
        t = min(step, total_steps) / max(1, total_steps)
        return (lr_min + 0.5 * (lr - lr_min) * (1 + math.cos(math.pi * t))) / lr

    return model, opt, torch.optim.lr_scheduler.LambdaLR(opt, cosine), params


def _timed(fn: Callable[[int], object], warmup: int, steps: int, device: torch.device) -> float:
    """Seconds for ``steps`` calls of ``fn(i)`` after ``warmup`` untimed ones."""
    for i in range(warmup):
        fn(i)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for i in range(warmup, warmup + steps):
            fn(i)
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1000.0
    t0 = time.perf_counter()
    for i in range(warmup, warmup + steps):
        fn(i)
    return time.perf_counter() - t0


def _forever(batches: Iterable) -> Iterator:
    while True:
        yield from batches


# ---------------------------------------------------------------- ours


def ours_train_step(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    sched: Any,
    params: list[nn.Parameter],
    x: torch.Tensor,
    y: torch.Tensor,
    paths: Sequence[Any],
    autocast: str | None = None,
) -> torch.Tensor:
    """One optimizer step exactly as ``run_cell`` takes it; returns the (device) loss, no sync."""
    from harness.engine.evaluator import precision

    opt.zero_grad(set_to_none=True)
    total = torch.zeros((), device=x.device)
    for arch in paths:
        with precision(x.device, autocast):
            loss = nn.functional.cross_entropy(model(x, arch).float(), y) / len(paths)
        loss.backward()
        total += loss.detach()
    nn.utils.clip_grad_norm_(params, _GRAD_CLIP)
    opt.step()
    sched.step()
    return total


def _spos_cell(C: int, N: int, batch_size: int, steps: int, warmup: int, seed: int, device: torch.device) -> tuple[Any, Any, Any]:
    """What one benchmarked cell trains with: device batches of random images, SPOS, model and optimizer."""
    from harness.data import TensorBatches
    from harness.engine.seeding import numpy_stream, torch_stream
    from spaces import SPACES
    from strategies import STRATEGIES

    images, labels = random_images(max(4 * batch_size, 512), seed)
    train = TensorBatches(
        images,
        labels,
        device=device,
        batch_size=batch_size,
        augment=True,
        shuffle=True,
        drop_last=True,
        generator=torch_stream(seed, "data"),
        channels_last=True,
    )
    strategy = STRATEGIES.get("spos")(SPACES.get("nb201"), numpy_stream(seed, "arch"))
    return train, strategy, build_training(C, N, seed, device, True, warmup + steps)


def _ours_training(
    C: int, N: int, batch_size: int, steps: int, warmup: int, seed: int, device: torch.device, autocast: str | None = None
) -> float:
    """Seconds for ``steps`` timed steps of the harness's training loop."""
    train, strategy, (model, opt, sched, params) = _spos_cell(C, N, batch_size, steps, warmup, seed, device)
    model.train()
    batches = _forever(train)

    def step(i: int) -> None:
        x, y = next(batches)
        ours_train_step(model, opt, sched, params, x, y, strategy.paths(i), autocast)

    return _timed(step, warmup, steps, device)


# ---------------------------------------------------------------- naive reference


def naive_dataset(images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole set as a normalized float32 NCHW CPU tensor, as a first implementation keeps it."""
    from harness.data import CIFAR10_MEAN, CIFAR10_STD

    x = torch.from_numpy(images.astype(np.float32) / 255.0).permute(0, 3, 1, 2)
    mean = torch.tensor(CIFAR10_MEAN, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD, dtype=torch.float32).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous(), torch.from_numpy(np.asarray(labels, dtype=np.int64))


def naive_batch(
    data: torch.Tensor, labels: torch.Tensor, idx: np.ndarray, rng: np.random.Generator | None, pad: int = 4
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gather ``idx`` on the CPU; with ``rng``, crop and flip each image in NumPy, one by one."""
    x = data[torch.from_numpy(np.asarray(idx))].numpy()
    if rng is not None:
        out = np.empty_like(x)
        h, w = x.shape[2], x.shape[3]
        for i in range(len(x)):
            padded = np.pad(x[i], ((0, 0), (pad, pad), (pad, pad)))  # zero padding of the normalized image
            dy, dx = rng.integers(0, 2 * pad + 1, size=2)
            crop = padded[:, dy : dy + h, dx : dx + w]
            out[i] = crop[:, :, ::-1] if rng.random() < 0.5 else crop
        x = out
    return torch.from_numpy(np.ascontiguousarray(x)), labels[torch.from_numpy(np.asarray(idx))]


def naive_train_step(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    sched: Any,
    x: torch.Tensor,
    y: torch.Tensor,
    arch: Any,
    device: torch.device,
) -> float:
    """A first implementation's step: copy the batch over, step, read the loss back every step."""
    x, y = x.to(device), y.to(device)
    opt.zero_grad()
    loss = nn.functional.cross_entropy(model(x, arch), y)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), _GRAD_CLIP)
    opt.step()
    sched.step()
    return loss.item()


def _naive_training(C: int, N: int, batch_size: int, steps: int, warmup: int, seed: int, device: torch.device) -> float:
    """Seconds for ``steps`` timed steps of the naive loop."""
    from harness.engine.seeding import numpy_stream
    from spaces import SPACES

    data, labels = naive_dataset(*random_images(max(4 * batch_size, 512), seed))
    rng, arch_rng = np.random.default_rng(seed), numpy_stream(seed, "arch")
    space = SPACES.get("nb201")
    model, opt, sched, _ = build_training(C, N, seed, device, False, warmup + steps)
    model.train()

    def step(i: int) -> None:
        idx = rng.choice(len(labels), batch_size, replace=False)
        x, y = naive_batch(data, labels, idx, rng)
        naive_train_step(model, opt, sched, x, y, space.sample(arch_rng), device)

    return _timed(step, warmup, steps, device)


# ---------------------------------------------------------------- scoring


def _scoring(
    C: int,
    N: int,
    archs: list[Any],
    warmup: int,
    calib_images: int,
    eval_images: int,
    seed: int,
    device: torch.device,
    autocast: str | None = None,
) -> tuple[float, float]:
    """Seconds to score ``archs`` the harness's way and the naive way (after ``warmup`` archs untimed)."""
    from harness.data import TensorBatches
    from harness.engine.evaluator import score_architectures
    from harness.engine.seeding import stream_seed, torch_stream
    from spaces.nb201.supernet import NB201Supernet

    train_x, train_y = random_images(calib_images, seed)
    eval_x, eval_y = random_images(eval_images, seed + 1)
    warm = [archs[i % len(archs)] for i in range(warmup)]

    # Ours: fixed device batches built once (as CellData does), channels_last, large batches.
    model = NB201Supernet(C=C, N=N, seed=stream_seed(seed, "init")).to(device).to(memory_format=torch.channels_last)
    cbs = min(_protocol_default("calib_batch_size"), calib_images)
    calib = TensorBatches(train_x, train_y, device=device, batch_size=cbs, channels_last=True).fixed_batches(
        max(1, calib_images // cbs), torch_stream(0, "scoring"), augment=False
    )
    evalb = list(
        TensorBatches(eval_x, eval_y, device=device, batch_size=_protocol_default("eval_batch_size"), channels_last=True)
    )

    def ours(batch_archs: list[Any]) -> None:
        score_architectures(model, batch_archs, [str(a) for a in batch_archs], evalb, "recalibrate", calib, autocast=autocast)

    if warm:
        ours(warm)
    t_ours = _timed(lambda i: ours(archs), 0, 1, device)

    # Naive: CPU float tensors, batches of 256 copied per batch, momentum BN reset, .item() per batch.
    naive_model = NB201Supernet(C=C, N=N, seed=stream_seed(seed, "init")).to(device)
    cx, cy = naive_dataset(train_x, train_y)
    ex, ey = naive_dataset(eval_x, eval_y)

    @torch.no_grad()
    def naive_one(arch: Any) -> float:
        for m in naive_model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.reset_running_stats()
        naive_model.train()
        for s in range(0, len(cy), NAIVE_BATCH):
            naive_model(cx[s : s + NAIVE_BATCH].to(device), arch)
        naive_model.eval()
        correct = 0
        for s in range(0, len(ey), NAIVE_BATCH):
            logits = naive_model(ex[s : s + NAIVE_BATCH].to(device), arch)
            correct += (logits.argmax(1) == ey[s : s + NAIVE_BATCH].to(device)).sum().item()
        return 100.0 * correct / len(ey)

    for a in warm:
        naive_one(a)
    t_naive = _timed(lambda i: [naive_one(a) for a in archs], 0, 1, device)
    return t_ours, t_naive


# ---------------------------------------------------------------- k cells at once


def _cell_worker(args: tuple, barrier: Any, queue: Any) -> None:
    """One of k processes: train like a cell, timing only after all k are warm."""
    C, N, batch_size, steps, warmup, seed, device_str, threads, autocast = args
    if threads:
        torch.set_num_threads(threads)
    device = torch.device(device_str)
    try:
        train, strategy, (model, opt, sched, params) = _spos_cell(C, N, batch_size, steps, warmup, seed, device)
        batches = _forever(train)
        for i in range(warmup + steps):
            if i == warmup:
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                barrier.wait()
                t0 = time.perf_counter()  # CLOCK_MONOTONIC: comparable across processes
            x, y = next(batches)
            ours_train_step(model, opt, sched, params, x, y, strategy.paths(i), autocast)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        queue.put((t0, time.perf_counter(), None))
    except BaseException as e:  # report, never hang the parent
        barrier.abort()
        queue.put((0.0, 0.0, f"{type(e).__name__}: {e}"))


def _aggregate(
    k: int,
    C: int,
    N: int,
    batch_size: int,
    steps: int,
    warmup: int,
    seed: int,
    device: torch.device,
    autocast: str | None = None,
) -> float:
    """Total images/s of ``k`` spawned processes each running the ours-training loop."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(k), ctx.Queue()
    # On a CPU split this process's threads among the k cells, as the matrix runner splits cores;
    # on a GPU the processes share the device.
    threads = max(1, torch.get_num_threads() // k) if device.type == "cpu" else 0
    procs = [
        ctx.Process(
            target=_cell_worker,
            args=((C, N, batch_size, steps, max(1, warmup), seed + j, str(device), threads, autocast), barrier, queue),
        )
        for j in range(k)
    ]
    for p in procs:
        p.start()
    try:
        spans = [queue.get(timeout=600) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.terminate()
    errors = [e for *_, e in spans if e]
    if errors:
        raise WsbenchError(f"bench: a {k}-cell worker failed: {errors[0]}")
    wall = max(t1 for _, t1, _ in spans) - min(t0 for t0, _, _ in spans)
    return k * steps * batch_size / wall


# ---------------------------------------------------------------- the command


def run_bench(
    device: str = "auto",
    C: int = 16,
    N: int = 5,
    batch_size: int = 256,
    steps: int = 30,
    warmup: int = 5,
    score_archs: int = 20,
    calib_images: int = 2048,
    eval_images: int = 5120,
    cells: tuple[int, ...] = (1,),
    seed: int = 0,
    threads: int | None = None,
    autocast: str | None = None,
) -> dict[str, Any]:
    """Training images/s and scoring archs/s of the harness vs a naive loop on one device, plus k-cell aggregates.

    ``threads`` sets torch's CPU threads for the run (default: as they are); k cells share them.
    """
    _check_args(
        C=C,
        N=N,
        batch_size=batch_size,
        steps=steps,
        warmup=warmup,
        score_archs=score_archs,
        calib_images=calib_images,
        eval_images=eval_images,
    )
    cells = tuple(cells)
    if not cells or any(not isinstance(k, int) or isinstance(k, bool) or k < 1 for k in cells):
        raise WsbenchError(f"bench: cells must be positive integers, e.g. 1,4; got {cells!r}")
    dev = resolve_device(device)
    if threads is not None:
        _check_args(threads=threads)
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return run_bench(
                device, C, N, batch_size, steps, warmup, score_archs, calib_images, eval_images, cells, seed, autocast=autocast
            )
        finally:
            torch.set_num_threads(previous)
    from harness.engine.cell import provenance

    if autocast not in (None, "bf16"):
        raise WsbenchError(f"bench: --autocast must be bf16 (or left out for float32), got {autocast!r}")
    multi = sorted(k for k in set(cells) if k > 1)
    t_ours, t_naive, s_ours, s_naive, per_k = _timed_phases(
        C, N, batch_size, steps, warmup, score_archs, calib_images, eval_images, multi, seed, dev, autocast
    )

    def train_fig(seconds: float) -> dict[str, float]:
        return {"images_per_s": steps * batch_size / seconds, "ms_per_step": 1000.0 * seconds / steps}

    def score_fig(seconds: float) -> dict[str, float]:
        return {"archs_per_s": score_archs / seconds, "ms_per_arch": 1000.0 * seconds / score_archs}

    train = {"ours": train_fig(t_ours), "naive": train_fig(t_naive)}
    score = {"ours": score_fig(s_ours), "naive": score_fig(s_naive)}
    aggregate = [{"cells": k, "images_per_s": per_k[k]} for k in multi]
    ratios = {
        "train_images_per_s": train["ours"]["images_per_s"] / train["naive"]["images_per_s"],
        "train_ms_per_step": train["ours"]["ms_per_step"] / train["naive"]["ms_per_step"],
        "score_archs_per_s": score["ours"]["archs_per_s"] / score["naive"]["archs_per_s"],
        "score_ms_per_arch": score["ours"]["ms_per_arch"] / score["naive"]["ms_per_arch"],
    }
    for row in aggregate:
        row["vs_one_cell"] = row["images_per_s"] / train["ours"]["images_per_s"]
    prov = provenance(dev)
    prov["device_name"] = prov.get("gpu") or _cpu_name()
    config = {
        "device": str(dev),
        "C": C,
        "N": N,
        "batch_size": batch_size,
        "steps": steps,
        "warmup": warmup,
        "score_archs": score_archs,
        "calib_images": calib_images,
        "eval_images": eval_images,
        "cells": list(cells),
        "seed": seed,
        "channels_last": True,
        "autocast": autocast,
        "strategy": "spos-uniform",
        "ours_calib_batch": min(_protocol_default("calib_batch_size"), calib_images),
        "ours_eval_batch": _protocol_default("eval_batch_size"),
        "naive_batch": NAIVE_BATCH,
    }
    return {"config": config, "provenance": prov, "train": train, "score": score, "aggregate": aggregate, "ratios": ratios}


def _timed_phases(
    C: int,
    N: int,
    batch_size: int,
    steps: int,
    warmup: int,
    score_archs: int,
    calib_images: int,
    eval_images: int,
    multi: list[int],
    seed: int,
    dev: torch.device,
    autocast: str | None,
) -> tuple[float, float, float, float, dict[int, float]]:
    """Seconds of training (ours, naive) and scoring (ours, naive), and k-cell images/s, behind one progress bar."""
    import os

    from tqdm import tqdm

    from harness.engine.seeding import numpy_stream
    from spaces import SPACES

    bar = tqdm(total=3 + len(multi), desc="bench", unit="phase", disable=bool(os.environ.get("CI")), leave=False)
    bar.set_postfix_str("training (ours)")
    t_ours = _ours_training(C, N, batch_size, steps, warmup, seed, dev, autocast)
    bar.update()
    bar.set_postfix_str("training (naive loop)")
    t_naive = _naive_training(C, N, batch_size, steps, warmup, seed, dev)
    bar.update()
    bar.set_postfix_str("scoring")
    space, rng = SPACES.get("nb201"), numpy_stream(seed, "archset")
    archs = [space.sample(rng) for _ in range(score_archs)]
    s_ours, s_naive = _scoring(C, N, archs, min(warmup, score_archs), calib_images, eval_images, seed, dev, autocast)
    bar.update()
    per_k = {}
    for k in multi:
        bar.set_postfix_str(f"{k} cells at once")
        per_k[k] = _aggregate(k, C, N, batch_size, steps, warmup, seed, dev, autocast)
        bar.update()
    bar.close()
    return t_ours, t_naive, s_ours, s_naive, per_k


def _cpu_name() -> str:
    import platform

    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def format_bench(result: dict[str, Any]) -> str:
    """A plain-text table of one ``run_bench`` result, with the ours/naive ratios."""
    c, p, t, s, r = result["config"], result["provenance"], result["train"], result["score"], result["ratios"]
    lines = [
        f"wsbench bench on {c['device']} ({p['device_name']}), torch {p['torch']}, {p['torch_threads']} threads",
        f"NB201 supernet C={c['C']} N={c['N']}, batch {c['batch_size']}, {c['steps']} timed steps after {c['warmup']} warmup, seed {c['seed']}"
        + (f", ours under {c['autocast']} autocast" if c.get("autocast") else ""),
        "",
        f"{'figure':<28}{'ours':>12}{'naive':>12}{'ours/naive':>12}",
        f"{'train images/s':<28}{t['ours']['images_per_s']:>12.1f}{t['naive']['images_per_s']:>12.1f}{r['train_images_per_s']:>11.2f}x",
        f"{'train ms/step':<28}{t['ours']['ms_per_step']:>12.2f}{t['naive']['ms_per_step']:>12.2f}{r['train_ms_per_step']:>11.2f}x",
        f"{'score archs/s':<28}{s['ours']['archs_per_s']:>12.3f}{s['naive']['archs_per_s']:>12.3f}{r['score_archs_per_s']:>11.2f}x",
        f"{'score ms/arch':<28}{s['ours']['ms_per_arch']:>12.1f}{s['naive']['ms_per_arch']:>12.1f}{r['score_ms_per_arch']:>11.2f}x",
        f"  (scoring {c['score_archs']} archs: recalibrate on {c['calib_images']} images, evaluate {c['eval_images']})",
    ]
    for row in result["aggregate"]:
        lines.append(
            f"{row['cells']} cells at once: {row['images_per_s']:.1f} images/s in total ({row['vs_one_cell']:.2f}x one cell)"
        )
    return "\n".join(lines)


def bench_command(
    device: str = "auto",
    C: int = 16,
    N: int = 5,
    batch_size: int = 256,
    steps: int = 30,
    cells: str | Sequence[int] = "1",
    threads: int | None = None,
    autocast: str | None = None,
) -> str:
    """What ``wsbench bench`` prints; ``cells`` may be a comma list such as ``"1,4"``."""
    if isinstance(cells, str):
        try:
            parsed = tuple(int(k) for k in cells.split(",") if k.strip())
        except ValueError:
            raise WsbenchError(f"bench: --cells must be comma-separated integers such as 1,4; got {cells!r}") from None
    else:
        parsed = tuple(cells)
    return format_bench(
        run_bench(device=device, C=C, N=N, batch_size=batch_size, steps=steps, cells=parsed, threads=threads, autocast=autocast)
    )
