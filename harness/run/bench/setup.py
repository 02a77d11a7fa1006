"""What a bench measures (a space under a protocol on a device) and the supernet it builds for it."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from harness.api.errors import WsbenchError
from harness.api.protocol import Protocol
from harness.catalog import PROTOCOLS, SPACES, STRATEGIES, task_of
from harness.engine.step import Trainer, trainer_for
from harness.seeding import numpy_stream, stream_seed

_DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
#: The protocol of a bench without ``--protocol``: engine defaults at the sizes of the published bench.
DEFAULT_BENCH = Protocol(
    name="bench-default",
    description="engine defaults at the space's benchmark scale, batch 256 (the published bench's setting)",
    batch_size=256,
    calib_batches=5,
    calib_batch_size=400,
    eval_images=5120,
    eval_batch_size=1000,
)


@dataclass(frozen=True)
class Plan:
    """What one bench measures: a space under a protocol, on a device, from a seed."""

    space: str
    protocol: Protocol
    device: str
    seed: int = 0


@dataclass
class Setup:
    """A built supernet with its trainer and the task's synthetic data."""

    space: Any
    trainer: Trainer
    data: Any


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


def bench_protocol(
    space_name: str,
    protocol: str | None = None,
    network: dict[str, int] | None = None,
    batch_size: int | None = None,
    autocast: str | None = None,
) -> Protocol:
    """The protocol a bench runs: ``protocol`` (default ``DEFAULT_BENCH``) with the given network keys, batch and autocast."""
    space = SPACES.get(space_name)
    p = PROTOCOLS.get(protocol) if protocol is not None else DEFAULT_BENCH
    changes: dict[str, Any] = {}
    if network:
        changes["network"] = {**p.network, **network}
        space.network_config(changes["network"], where="bench: network")
    if batch_size is not None:
        changes["batch_size"] = batch_size
    if autocast is not None:
        changes["autocast"] = autocast
    p = p.replace(**changes) if changes else p
    task_of(space, p.task).check_protocol(p)  # e.g. a batch larger than the data it would train on
    return p


def build_setup(
    plan: Plan, device: torch.device, total_steps: int, channels_last: bool | None = None, dtype: torch.dtype | None = None
) -> Setup:
    """The supernet (initialised from the plan's seed), SPOS, the protocol's optimizer and the task's synthetic data
    (``dtype``: the supernet's floating type, e.g. float64 for an equivalence check; default as built)."""
    space, p = SPACES.get(plan.space), plan.protocol
    task = task_of(space, p.task).configure(p)
    model = space.build_supernet(p.network_for(space), task.spec(), seed=stream_seed(plan.seed, "init")).to(device)
    if dtype is not None:
        model = model.to(dtype)
    if p.channels_last if channels_last is None else channels_last:
        model = model.to(memory_format=torch.channels_last)
    strategy = STRATEGIES.get("spos")(space, numpy_stream(plan.seed, "arch"))
    trainer = trainer_for(p, model, strategy, task, max(1, total_steps), 1)
    return Setup(space, trainer, task.synthetic_data(p, plan.seed, device))


def timed(fn: Callable[[int], object], warmup: int, steps: int, device: torch.device) -> float:
    """Seconds for ``steps`` calls of ``fn(i)`` after ``warmup`` untimed ones (CUDA events on a GPU)."""
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


def forever(batches: Iterable) -> Iterator:
    """Batches of ``batches``, epoch after epoch."""
    while True:
        yield from batches


def examples(batch: Any) -> int:
    """Predictions in one batch (images, or the tokens of a window)."""
    return int(batch[1].numel())
