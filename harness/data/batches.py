"""Batches for the training loop: the whole uint8 set lives on the device, augmentation runs there.

No DataLoader: each batch is one gather from a device tensor, so the hot path costs a few
kernels. All randomness (data order, crop offsets, flips) comes from an explicit
``torch.Generator`` and is drawn on that generator's device, so the same generator seed gives
the same batches; with a CPU generator they are the same on CPU and GPU.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from harness.api.errors import WsbenchError
from harness.data.cifar10 import CIFAR10_MEAN, CIFAR10_STD

Batch = tuple[torch.Tensor, torch.Tensor]


def crop_flip(images: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, flip: torch.Tensor, pad: int) -> torch.Tensor:
    """Crop each NHWC image from its zero-padded copy at offset (dy, dx) in [0, 2*pad], mirrored where ``flip``.

    Offset (pad, pad) with no flip returns the image unchanged. One gather does both crop and
    flip, so the cost does not depend on how many distinct offsets a batch has.
    """
    n, h, w, c = images.shape
    padded = torch.nn.functional.pad(images, (0, 0, pad, pad, pad, pad))  # pads W then H with zeros
    rows = dy.view(n, 1) + torch.arange(h, device=images.device).view(1, h)  # [n, h]
    cols = torch.arange(w, device=images.device).view(1, w).expand(n, w)
    cols = torch.where(flip.view(n, 1), (w - 1) - cols, cols) + dx.view(n, 1)  # [n, w]
    batch = torch.arange(n, device=images.device).view(n, 1, 1)
    return padded[batch, rows.view(n, h, 1), cols.view(n, 1, w)]  # [n, h, w, c]


def cut_out(x: torch.Tensor, cy: torch.Tensor, cx: torch.Tensor, size: int) -> torch.Tensor:
    """Zero a ``size`` x ``size`` square (clipped at the border) centred at (cy, cx) of each normalized NCHW image.

    Cutout (DeVries & Taylor, 2017) as the DARTS code applies it: after normalization, so the square
    holds the data-set mean; rows cy - size//2 <= r < cy + size//2, likewise columns.
    """
    n, _, h, w = x.shape
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    half = size // 2
    inside_r = (rows >= cy.view(n, 1, 1) - half) & (rows < cy.view(n, 1, 1) + half)
    inside_c = (cols >= cx.view(n, 1, 1) - half) & (cols < cx.view(n, 1, 1) + half)
    return x * (~(inside_r & inside_c)).unsqueeze(1).to(x.dtype)


def _as_tensor(array: np.ndarray | torch.Tensor) -> torch.Tensor:
    """A tensor over ``array``; read-only arrays (e.g. from ``ImageSet``) are copied, never aliased."""
    if isinstance(array, torch.Tensor):
        return array
    array = np.asarray(array)
    return torch.from_numpy(array if array.flags.writeable else array.copy())


class TensorBatches:
    """Normalized float32 NCHW batches and int64 labels from a uint8 NHWC image set held on ``device``."""

    def __init__(
        self,
        images: np.ndarray | torch.Tensor,
        labels: np.ndarray | torch.Tensor,
        *,
        device: torch.device | str,
        batch_size: int,
        augment: bool = False,
        shuffle: bool = False,
        drop_last: bool = False,
        generator: torch.Generator | None = None,
        channels_last: bool = False,
        pad: int = 4,
        cutout: int = 0,
        mean: Sequence[float] = CIFAR10_MEAN,
        std: Sequence[float] = CIFAR10_STD,
    ) -> None:
        images, labels = _as_tensor(images), _as_tensor(labels)
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise WsbenchError(f"images must be uint8 [N,H,W,C], got {images.dtype} {list(images.shape)}")
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise WsbenchError(f"labels must be [N] with N={images.shape[0]}, got {list(labels.shape)}")
        if batch_size < 1:
            raise WsbenchError(f"batch_size must be >= 1, got {batch_size}")
        if (shuffle or augment) and generator is None:
            raise WsbenchError("shuffle/augment need an explicit torch.Generator (pass generator=...) for determinism")
        if len(mean) != images.shape[3] or len(std) != images.shape[3]:
            raise WsbenchError(f"mean/std need {images.shape[3]} values, one per channel")
        self.device = torch.device(device)
        self.images = images.to(self.device).contiguous()  # uint8 NHWC, copied to the device once
        self.labels = labels.to(self.device, dtype=torch.int64)
        self.batch_size = int(batch_size)
        self.augment, self.shuffle, self.drop_last = augment, shuffle, drop_last
        self.generator = generator
        self.channels_last = channels_last
        self.pad = int(pad)
        if isinstance(cutout, bool) or not isinstance(cutout, int) or cutout < 0:
            raise WsbenchError(f"cutout must be a non-negative integer (square side in pixels), got {cutout!r}")
        self.cutout = cutout
        # (x/255 - mean)/std folded into one multiply-add.
        std_t = torch.tensor(std, dtype=torch.float32, device=self.device)
        self._scale = 1.0 / (255.0 * std_t)
        self._shift = -torch.tensor(mean, dtype=torch.float32, device=self.device) / std_t

    @property
    def num_examples(self) -> int:
        """Images in the set."""
        return int(self.labels.shape[0])

    def __len__(self) -> int:
        """Batches per epoch."""
        n, b = self.num_examples, self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self) -> Iterator[Batch]:
        """One epoch: a fresh order (when shuffling) and fresh augmentation per batch."""
        order = self._permutation(self.generator) if self.shuffle else None
        for i in range(len(self)):
            start = i * self.batch_size
            if order is None:
                idx: torch.Tensor | slice = slice(start, start + self.batch_size)
            else:
                idx = order[start : start + self.batch_size]
            yield self._batch(idx, self.augment, self.generator)

    def fixed_batches(self, num_batches: int, generator: torch.Generator, augment: bool | None = None) -> list[Batch]:
        """``num_batches`` batches drawn without replacement (wrapping to a new permutation when
        the set runs out) from ``generator`` alone, e.g. for BN recalibration or a fixed eval subset."""
        augment = self.augment if augment is None else augment
        need = num_batches * self.batch_size
        perms = [self._permutation(generator) for _ in range(max(1, -(-need // self.num_examples)))]
        order = torch.cat(perms)[:need]
        return [
            self._batch(order[i * self.batch_size : (i + 1) * self.batch_size], augment, generator) for i in range(num_batches)
        ]

    def _permutation(self, generator: torch.Generator | None) -> torch.Tensor:
        assert generator is not None
        return torch.randperm(self.num_examples, generator=generator, device=generator.device).to(self.device)

    def _batch(self, idx: torch.Tensor | slice, augment: bool, generator: torch.Generator | None) -> Batch:
        x = self.images[idx]
        y = self.labels[idx]
        centres = None
        if augment:
            assert generator is not None
            n, gdev = x.shape[0], generator.device
            offsets = torch.randint(0, 2 * self.pad + 1, (2, n), generator=generator, device=gdev).to(self.device)
            flip = (torch.rand(n, generator=generator, device=gdev) < 0.5).to(self.device)
            x = crop_flip(x, offsets[0], offsets[1], flip, self.pad)
            # Drawn only with cutout on, so the streams of runs without it are unchanged.
            centres = (
                torch.randint(0, x.shape[1], (2, n), generator=generator, device=gdev).to(self.device) if self.cutout else None
            )
        if self.channels_last:
            # NHWC memory seen as NCHW is exactly channels_last: no layout copy at all.
            x = x.to(torch.float32).mul_(self._scale).add_(self._shift).permute(0, 3, 1, 2)
        else:
            # Reorder while still 1 byte per value, then normalize with a per-plane broadcast,
            # which vectorizes far better on CPU than a size-3 innermost broadcast.
            x = x.permute(0, 3, 1, 2).contiguous().to(torch.float32)
            x = x.mul_(self._scale.view(1, -1, 1, 1)).add_(self._shift.view(1, -1, 1, 1))
        if centres is not None:
            x = cut_out(x, centres[0], centres[1], self.cutout)
        return x, y
