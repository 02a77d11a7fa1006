"""The shared-weight evaluator: score architectures with a supernet's weights.

Batch-norm handling is an explicit, recorded choice, because it changes rankings:
- ``recalibrate``: reset every BN's running statistics and re-estimate them for *this*
  architecture on fixed training batches (cumulative average, train-mode forward without
  gradients), then evaluate in eval mode — the common protocol (e.g. 25 batches x 400 images).
- ``batch``: evaluate in train mode, i.e. with each evaluation batch's own statistics.
- ``running``: evaluate in eval mode with the running statistics accumulated during supernet
  training (a mixture over all sampled paths).
The supernet's BN buffers are restored afterwards, so scoring never changes the training state.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from harness.api.protocol import BN_MODES, Protocol
from harness.api.task import Batch, Task


def precision(device: torch.device | str, autocast: str | None) -> contextlib.AbstractContextManager:
    """The forward-pass precision context: float32 (``None``) or bfloat16 autocast (``"bf16"``)."""
    if autocast is None:
        return contextlib.nullcontext()
    if autocast != "bf16":
        from harness.api.errors import unknown

        raise unknown("autocast mode", autocast, ["bf16"])
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


def scoring_autocast(p: Protocol) -> str | None:
    """The autocast mode a protocol scores in: ``score_autocast`` where set (``fp32``: none), else its training's."""
    if p.score_autocast is None:
        return p.autocast
    return None if p.score_autocast == "fp32" else p.score_autocast


def _bn_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@contextlib.contextmanager
def preserved_state(model: nn.Module) -> Iterator[None]:
    """Restore BN buffers, BN momenta and the train/eval flag on exit."""
    bns = _bn_layers(model)
    saved = [{k: v.detach().clone() for k, v in m.named_buffers(recurse=False)} for m in bns]
    momenta = [m.momentum for m in bns]
    was_training = model.training
    try:
        yield
    finally:
        for m, buf, mom in zip(bns, saved, momenta):
            for k, v in buf.items():
                getattr(m, k).copy_(v)
            m.momentum = mom
        model.train(was_training)


@torch.no_grad()
def recalibrate_bn(model: nn.Module, arch: object, batches: Sequence[Batch]) -> None:
    """Re-estimate BN running statistics for ``arch`` as the exact average over ``batches``."""
    for m in _bn_layers(model):
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: every batch weighs the same
    model.train()
    for x, _ in batches:
        model(x, arch)


@contextlib.contextmanager
def scoring_mode(model: nn.Module, bn_mode: str) -> Iterator[None]:
    """Put ``model`` in the mode ``bn_mode`` evaluates in (restored by ``preserved_state``)."""
    if bn_mode == "batch":
        # Train mode uses batch statistics; momentum 0 keeps the running buffers untouched.
        for m in _bn_layers(model):
            m.momentum = 0.0
        model.train()
    else:
        model.eval()
    yield


def score_architectures(
    model: nn.Module,
    archs: Sequence[object],
    arch_ids: Sequence[str],
    eval_batches: Sequence[Batch],
    bn_mode: str,
    calib_batches: Sequence[Batch] = (),
    progress: bool = False,
    autocast: str | None = None,
    task: Task | None = None,
) -> pd.DataFrame:
    """Score each architecture: a frame with column ``arch`` and one per score field of ``task``, in input order.

    ``task`` defaults to CIFAR-10 classification (columns accuracy, loss). BN recalibration runs only
    where the model has BN. ``autocast="bf16"`` runs the forwards under bfloat16 autocast (BN
    statistics and the loss stay float32).
    """
    if task is None:
        from harness.tasks.classification import CIFAR10_CLASSIFICATION

        task = CIFAR10_CLASSIFICATION
    if bn_mode not in BN_MODES:
        from harness.api.errors import unknown

        raise unknown("BN mode", bn_mode, BN_MODES)
    has_bn = bool(_bn_layers(model))
    if has_bn and bn_mode == "recalibrate" and not calib_batches:
        raise ValueError("bn_mode 'recalibrate' needs calibration batches")
    columns: dict[str, np.ndarray] = {f.name: np.empty(len(archs)) for f in task.score_fields}
    it: Iterable[int] = range(len(archs))
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="scoring", unit="arch", leave=False)
    device = next(model.parameters()).device
    with preserved_state(model), precision(device, autocast):
        for i in it:
            if has_bn and bn_mode == "recalibrate":
                recalibrate_bn(model, archs[i], calib_batches)
            with scoring_mode(model, bn_mode):
                values = task.evaluate(model, archs[i], eval_batches)
            for name, column in columns.items():
                column[i] = values[name]
    return pd.DataFrame({"arch": list(arch_ids), **columns})
