"""The naive reference the bench compares against: what a first implementation of the same cell does.

Same network, loss and optimizer as the harness; the batches live on the CPU as NCHW float and are
copied to the device every step (images cropped and flipped one by one in NumPy), no
``channels_last``, the loss read back every step; scoring resets BN statistics and walks the
calibration and evaluation batches with a copy and a read per batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from harness.run.bench.setup import Plan, build_setup, timed
from harness.seeding import numpy_stream


def to_cpu_nchw(batch: Any) -> tuple[Any, torch.Tensor]:
    """A batch as a first implementation keeps it: on the CPU, images as contiguous NCHW float."""
    x, y = batch
    x = x.to("cpu")
    if isinstance(x, torch.Tensor):
        x = x.float().contiguous()
    return x, y.to("cpu")


def naive_augment(x: torch.Tensor, rng: np.random.Generator, pad: int = 4) -> torch.Tensor:
    """Crop (from a zero-padded copy) and maybe flip each NCHW image, one by one in NumPy."""
    images = x.numpy()
    out = np.empty_like(images)
    h, w = images.shape[2], images.shape[3]
    for i in range(len(images)):
        padded = np.pad(images[i], ((0, 0), (pad, pad), (pad, pad)))
        dy, dx = rng.integers(0, 2 * pad + 1, size=2)
        crop = padded[:, dy : dy + h, dx : dx + w]
        out[i] = crop[:, :, ::-1] if rng.random() < 0.5 else crop
    return torch.from_numpy(np.ascontiguousarray(out))


def naive_train_step(t: Any, x: Any, y: torch.Tensor, arch: Any, device: torch.device) -> float:
    """A first implementation's step: copy the batch over, one path, clip, step, read the loss back."""
    x, y = x.to(device), y.to(device)
    t.opt.zero_grad()
    loss = t.task.loss(t.model(x, arch), y)
    loss.backward()
    if t.grad_clip:
        nn.utils.clip_grad_norm_(t.model.parameters(), t.grad_clip)
    t.opt.step()
    t.sched.step()
    return float(loss.item())


def naive_training(plan: Plan, steps: int, warmup: int) -> float:
    """Seconds for ``steps`` timed steps of the naive loop."""
    device = torch.device(plan.device)
    setup = build_setup(plan, device, warmup + steps, channels_last=False)
    batches = [to_cpu_nchw(b) for b, _ in zip(setup.data.train, range(4))]
    rng, arch_rng = np.random.default_rng(plan.seed), numpy_stream(plan.seed, "arch")
    setup.trainer.model.train()

    def step(i: int) -> None:
        x, y = batches[i % len(batches)]
        if isinstance(x, torch.Tensor) and x.dim() == 4:
            x = naive_augment(x, rng)
        naive_train_step(setup.trainer, x, y, setup.space.sample(arch_rng), device)

    return timed(step, warmup, steps, device)


@torch.no_grad()
def naive_score(model: nn.Module, task: Any, arch: Any, calib: list[Any], evaluation: list[Any], device: torch.device) -> None:
    """One architecture scored the naive way: BN statistics reset, calibration forwards, evaluation per batch."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
    model.train()
    for x, _ in calib:
        model(x.to(device), arch)
    model.eval()
    for x, y in evaluation:
        task.evaluate(model, arch, [(x.to(device), y.to(device))])


def naive_scoring(plan: Plan, archs: list[Any], warmup: int) -> float:
    """Seconds to score ``archs`` the naive way (after ``warmup`` of them untimed)."""
    device = torch.device(plan.device)
    setup = build_setup(plan, device, 1, channels_last=False)
    calib = [to_cpu_nchw(b) for b in setup.data.calib_batches]
    evaluation = [to_cpu_nchw(b) for b in setup.data.eval_batches]
    model, task = setup.trainer.model, setup.trainer.task
    for a in archs[:warmup]:
        naive_score(model, task, a, calib, evaluation, device)
    return timed(lambda i: [naive_score(model, task, a, calib, evaluation, device) for a in archs], 0, 1, device)
