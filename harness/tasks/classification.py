"""Image classification on CIFAR-10: the first task (cross-entropy; accuracy and loss as scores).

The split and the scoring images are fixed per protocol (not per run seed), so every cell of a
space is scored on the same images. All generators live on the CPU, so a CPU run and a GPU run
with the same seed see the same batches. The protocol fields it reads: ``split``, ``train_part``,
``eval_part``, ``subset``, ``augment``, ``cutout``, ``channels_last``, ``batch_size``, ``calib_batches``,
``calib_batch_size``, ``eval_images``, ``eval_batch_size``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from harness.api.space import TaskSpec
from harness.api.task import Batch, CellData, ScoreField, Task
from harness.engine.seeding import numpy_stream, torch_stream

#: Images per CIFAR-10 part (balanced: a tenth per class).
CIFAR10_SIZES = {"train": 50_000, "test": 10_000}


class ImageClassification(Task):
    """Classification of CIFAR-10-format images held on the device as uint8."""

    name = "cifar10"
    version = 1
    dataset = "cifar10"
    score_fields = (
        ScoreField("accuracy", True, "top-1 accuracy (percent) on the evaluation images"),
        ScoreField("loss", False, "mean cross-entropy on the evaluation images"),
    )

    def __init__(self, num_classes: int = 10) -> None:
        self.num_classes = num_classes

    def spec(self) -> TaskSpec:
        return TaskSpec(outputs=self.num_classes)

    def check_protocol(self, protocol: Any) -> None:
        """The split, its parts and the image counts, checked against CIFAR-10's sizes before any data is read."""
        from harness.api.errors import WsbenchError, unknown
        from harness.data.splits import SPLITS, get_split

        p = protocol
        if p.split not in SPLITS:
            raise unknown(f"data split of protocol {p.name!r}", p.split, SPLITS.names())
        # Part sizes depend only on the class counts, so CIFAR-10's nominal labels give them exactly.
        nominal = {part: np.repeat(np.arange(self.num_classes), n // self.num_classes) for part, n in CIFAR10_SIZES.items()}
        sizes = get_split(p.split, seed=0, subset=p.subset, labels=nominal).sizes()
        for key in ("train_part", "eval_part"):
            if getattr(p, key) not in sizes:
                raise unknown(f"{key} of split {p.split!r} (protocol {p.name!r})", getattr(p, key), sizes)
        n_train = sizes[p.train_part]
        if n_train < p.batch_size:
            raise WsbenchError(
                f"protocol {p.name!r}: batch_size {p.batch_size} exceeds the {n_train} training images of "
                f"{p.split}/{p.train_part}: no training step would run; lower batch_size or raise subset"
            )
        if p.calib_batch_size > n_train:
            raise WsbenchError(
                f"protocol {p.name!r}: calib_batch_size {p.calib_batch_size} exceeds the {n_train} training images"
            )

    def make_data(self, protocol: Any, seed: int, device: torch.device, arch_half: bool = False) -> CellData:
        from harness.data import TensorBatches, get_split, load_cifar10
        from harness.data.splits import balanced_subset

        p = protocol
        split = get_split(p.split, seed=0, subset=p.subset)
        parts = {}
        for part in (p.train_part, p.eval_part):
            cifar_part, idx = split.parts[part]
            full = load_cifar10(cifar_part)
            if len(full.labels) != CIFAR10_SIZES[cifar_part]:  # e.g. a truncated pack whose checksum line was redone
                from harness.api.errors import CorruptDataError

                raise CorruptDataError(
                    f"CIFAR-10 {cifar_part} part ({full.source}) "
                    f"has {len(full.labels)} images, not {CIFAR10_SIZES[cifar_part]}; the data set is incomplete: copy it again"
                )
            if part == p.eval_part and p.eval_images is not None and p.eval_images < len(idx):
                idx = balanced_subset(idx, full.labels, p.eval_images, numpy_stream(0, "scoring"))
            parts[part] = (full.images[idx], full.labels[idx], full.source)
        xtr, ytr, _ = parts[p.train_part]
        xev, yev, _ = parts[p.eval_part]

        def batches(x: np.ndarray, y: np.ndarray, stream: str) -> TensorBatches:
            return TensorBatches(
                x,
                y,
                device=device,
                batch_size=p.batch_size,
                augment=p.augment,
                cutout=p.cutout if p.augment else 0,
                shuffle=True,
                drop_last=True,
                generator=torch_stream(seed, stream),
                channels_last=p.channels_last,
            )

        arch_train = None
        if arch_half:
            # Bi-level strategies (DARTS) fit architecture parameters on images the weights never
            # see: a fixed half of the training part (fixed per protocol, like the split itself).
            order = numpy_stream(0, "archdata").permutation(len(ytr))
            half = len(order) // 2
            arch_idx, weight_idx = np.sort(order[half:]), np.sort(order[:half])
            arch_train = batches(xtr[arch_idx], ytr[arch_idx], "archdata")
            xtr, ytr = xtr[weight_idx], ytr[weight_idx]
        calib = TensorBatches(xtr, ytr, device=device, batch_size=p.calib_batch_size, channels_last=p.channels_last)
        evaluation = TensorBatches(xev, yev, device=device, batch_size=p.eval_batch_size, channels_last=p.channels_last)
        return CellData(
            train=batches(xtr, ytr, "data"),
            calib_batches=calib.fixed_batches(p.calib_batches, torch_stream(0, "scoring"), augment=False),
            eval_batches=list(evaluation),
            n_train=len(ytr),
            n_eval=len(yev),
            arch_train=arch_train,
            info={"source": {k: v[2] for k, v in parts.items()}, "split_fingerprint": split.fingerprint()},
        )

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(output.float(), target)

    def correct(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (output.argmax(1) == target).sum()

    def synthetic_batch(self, n: int, generator: torch.Generator) -> Batch:
        x = torch.randn(n, 3, 32, 32, generator=generator)
        return x, torch.randint(0, self.num_classes, (n,), generator=generator)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, arch: Any, batches: Sequence[Batch]) -> dict[str, float]:
        correct, loss_sum, n = 0, 0.0, 0
        for x, y in batches:
            logits = model(x, arch).float()
            loss_sum += float(nn.functional.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
            n += int(y.numel())
        return {"accuracy": 100.0 * correct / n, "loss": loss_sum / n}


CIFAR10_CLASSIFICATION = ImageClassification()
