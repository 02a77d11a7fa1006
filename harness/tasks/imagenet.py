"""ImageNet-1k classification: streamed from the standard folder layout, or downsampled (32/64) in memory.

Training: cross-entropy with optional label smoothing (``label_smoothing``; the seed paper's
ProxylessNAS protocol uses 0.1). Scores: top-1 and top-5 accuracy (percent) and the loss on a
fixed, class-balanced evaluation set, after BN recalibration on a fixed, class-balanced subset of
``calib_batches`` x ``calib_batch_size`` training images (evaluation transform). Both fixed sets are
chosen per protocol (not per run seed) and decoded once, then held on the device as uint8.

Sources (``task_options.data``):

- ``folder``: ``<root>/train/<wnid>/*.JPEG`` and ``<root>/val/<wnid>/*.JPEG``, streamed by
  ``workers`` processes (``harness.data.imagenet``) with random-resized-crop + flip at
  ``image_size``, evaluation resize + centre crop;
- ``downsampled``: Chrabaszcz et al.'s ``.npz`` batches at ``image_size`` 32 or 64
  (``harness.data.imagenet_downsampled``), on the device, pad-crop (size / 8) + flip as for CIFAR.

``root`` is relative to ``$WSBENCH_DATA`` (default ``imagenet``, or ``imagenet32`` / ``imagenet64``)
or absolute. ``classes`` keeps the first K classes (sorted folder names; label order for the npz
files). Protocol fields it reads: ``train_part`` (``train``), ``eval_part`` (``val``, or ``holdout``:
``holdout_per_class`` training images per class that training never sees), ``subset`` (at most
this many training images, class-balanced), ``eval_images``, ``batch_size``, ``calib_batches``,
``calib_batch_size``, ``eval_batch_size``, ``augment``, ``channels_last``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from harness.api.errors import WsbenchError
from harness.api.space import TaskSpec
from harness.api.task import Batch, CellData, ScoreField, Task
from harness.engine.seeding import numpy_stream, torch_stream

DATA_FORMS = ("folder", "downsampled")
EVAL_PARTS = ("val", "holdout")


def topk_correct(logits: torch.Tensor, target: torch.Tensor, k: int) -> int:
    """How many targets are among the ``k`` largest logits of their row."""
    top = logits.topk(min(k, logits.shape[1]), dim=1).indices
    return int((top == target.view(-1, 1)).any(dim=1).sum())


class ImageNetClassification(Task):
    """ImageNet-format classification, top-1 the primary score."""

    name = "imagenet"
    version = 1
    dataset = "imagenet"
    score_fields = (
        ScoreField("top1", True, "top-1 accuracy (percent) on the evaluation images"),
        ScoreField("top5", True, "top-5 accuracy (percent) on the evaluation images"),
        ScoreField("loss", False, "mean cross-entropy (no smoothing) on the evaluation images"),
    )
    option_defaults: ClassVar[dict[str, Any]] = {
        "data": "folder",
        "root": None,
        "image_size": None,  # None: 224 for folder, 32 for downsampled
        "classes": 1000,
        "label_smoothing": 0.0,
        "workers": 4,
        "holdout_per_class": 50,
    }

    def __init__(self, num_classes: int = 1000, label_smoothing: float = 0.0) -> None:
        self.num_classes, self.label_smoothing = num_classes, float(label_smoothing)

    def configure(self, protocol: Any) -> "ImageNetClassification":
        """This task with the protocol's class count and label smoothing."""
        opts = self.options(protocol)
        return ImageNetClassification(opts["classes"], opts["label_smoothing"])

    def spec(self) -> TaskSpec:
        return TaskSpec(outputs=self.num_classes)

    def options(self, protocol: Any) -> dict[str, Any]:
        """The protocol's task options, checked, defaults filled in."""
        where = f"protocol {protocol.name!r}: task option"
        out = self.known_options(protocol)
        if out["data"] not in DATA_FORMS:
            raise WsbenchError(f"{where} data must be one of {', '.join(DATA_FORMS)}, got {out['data']!r}")
        if out["image_size"] is None:
            out["image_size"] = 224 if out["data"] == "folder" else 32
        for key, least in (("image_size", 8), ("classes", 2), ("workers", 0), ("holdout_per_class", 1)):
            v = out[key]
            if isinstance(v, bool) or not isinstance(v, int) or v < least:
                raise WsbenchError(f"{where} {key} must be an integer >= {least}, got {v!r}")
        if out["data"] == "downsampled" and out["image_size"] not in (32, 64):
            raise WsbenchError(f"{where} image_size must be 32 or 64 for downsampled ImageNet, got {out['image_size']}")
        ls = out["label_smoothing"]
        if isinstance(ls, bool) or not isinstance(ls, (int, float)) or not math.isfinite(ls) or not 0 <= ls < 1:
            raise WsbenchError(f"{where} label_smoothing must be a number in [0, 1), got {ls!r}")
        if out["root"] is not None and not isinstance(out["root"], str):
            raise WsbenchError(f"{where} root must be a folder path (text), got {out['root']!r}")
        return out

    def root(self, opts: dict[str, Any]) -> Path:
        """The data folder: ``root`` as given if absolute, else under ``$WSBENCH_DATA``."""
        from harness.settings import data_root

        name = opts["root"] or ("imagenet" if opts["data"] == "folder" else f"imagenet{opts['image_size']}")
        if Path(name).is_absolute():
            return Path(name)
        base = data_root(required=True)
        assert base is not None
        return base / name

    def check_protocol(self, protocol: Any) -> None:
        """Parts and options checked before any data is read."""
        p = protocol
        self.options(p)
        if p.train_part != "train":
            raise WsbenchError(f"protocol {p.name!r}: train_part must be 'train' for task 'imagenet', got {p.train_part!r}")
        if p.eval_part not in EVAL_PARTS:
            raise WsbenchError(
                f"protocol {p.name!r}: eval_part must be one of {', '.join(EVAL_PARTS)} for task 'imagenet', got {p.eval_part!r}"
            )

    # -- data --------------------------------------------------------------------------------------
    def make_data(self, protocol: Any, seed: int, device: torch.device, arch_half: bool = False) -> CellData:
        p, opts = protocol, self.options(protocol)
        if opts["data"] == "folder":
            return self._folder_data(p, opts, seed, device, arch_half)
        return self._downsampled_data(p, opts, seed, device, arch_half)

    def _parts(self, p: Any, opts: dict[str, Any], labels: np.ndarray, val_labels: np.ndarray | None) -> dict[str, np.ndarray]:
        """Positions of the training, calibration and evaluation images (fixed per protocol)."""
        from harness.data.imagenet import class_balanced

        k = opts["classes"]
        train = np.arange(len(labels))
        if p.eval_part == "holdout":
            held = class_balanced(labels, opts["holdout_per_class"] * k, numpy_stream(0, "archset"), k)
            train, evaluation, labels_eval = np.setdiff1d(train, held), held, labels
        else:
            assert val_labels is not None
            evaluation, labels_eval = np.arange(len(val_labels)), val_labels
        if p.eval_images is not None and p.eval_images < len(evaluation):
            sub = class_balanced(labels_eval[evaluation], p.eval_images, numpy_stream(0, "scoring"), k)
            evaluation = evaluation[sub]
        if p.subset is not None and p.subset < len(train):
            train = train[class_balanced(labels[train], p.subset, numpy_stream(0, "data"), k)]
        calib_n = min(len(train), p.calib_batches * p.calib_batch_size)
        calib = train[class_balanced(labels[train], calib_n, numpy_stream(1, "scoring"), k)] if calib_n else train[:0]
        return {"train": train, "eval": evaluation, "calib": calib}

    @staticmethod
    def _arch_split(train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A fixed half of the training images for architecture parameters (bi-level strategies)."""
        order = numpy_stream(0, "archdata").permutation(len(train))
        half = len(order) // 2
        return np.sort(train[order[:half]]), np.sort(train[order[half:]])

    def _fixed(self, images: np.ndarray, labels: np.ndarray, p: Any, device: torch.device, batch_size: int) -> Any:
        from harness.data import TensorBatches
        from harness.data.imagenet import IMAGENET_MEAN, IMAGENET_STD

        return TensorBatches(
            images,
            labels,
            device=device,
            batch_size=batch_size,
            channels_last=p.channels_last,
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
        )

    def _folder_data(self, p: Any, opts: dict[str, Any], seed: int, device: torch.device, arch_half: bool) -> CellData:
        from harness.data.imagenet import StreamedBatches, decode_fixed, scan_folder

        root, size, k = self.root(opts), opts["image_size"], opts["classes"]
        train_index = scan_folder(root, "train")
        if len(train_index.classes) < k:
            raise WsbenchError(
                f"{root / 'train'} has {len(train_index.classes)} class folders; the protocol asks for {k} (task option classes)"
            )
        classes = train_index.classes[:k]
        train_index = train_index.subset(np.flatnonzero(train_index.labels < k))
        val_index = scan_folder(root, "val", classes) if p.eval_part == "val" else None
        parts = self._parts(p, opts, train_index.labels, val_index.labels if val_index is not None else None)
        eval_index = (val_index or train_index).subset(parts["eval"])
        calib_index = train_index.subset(parts["calib"])

        def stream(idx: np.ndarray, concern: str) -> StreamedBatches:
            return StreamedBatches(
                train_index.subset(idx), size=size, batch_size=p.batch_size, generator=torch_stream(seed, concern),
                device=device, workers=opts["workers"],
            )  # fmt: skip

        train, arch_train = parts["train"], None
        if arch_half:
            arch_idx, train = self._arch_split(train)
            arch_train = stream(arch_idx, "archdata")
        workers = opts["workers"]
        evaluation = self._fixed(decode_fixed(eval_index, size, workers), eval_index.labels, p, device, p.eval_batch_size)
        calib = self._fixed(decode_fixed(calib_index, size, workers), calib_index.labels, p, device, p.calib_batch_size)
        return CellData(
            train=stream(train, "data"),
            calib_batches=calib,
            eval_batches=evaluation,
            n_train=len(train),
            n_eval=len(eval_index),
            arch_train=arch_train,
            info={"source": {"train": str(root / "train"), p.eval_part: str(root / eval_index.part)}, "classes": k,
                  "image_size": size, "form": "folder", "n_calib": len(calib_index)},
        )  # fmt: skip

    def _downsampled_data(self, p: Any, opts: dict[str, Any], seed: int, device: torch.device, arch_half: bool) -> CellData:
        from harness.data import TensorBatches
        from harness.data.imagenet import IMAGENET_MEAN, IMAGENET_STD
        from harness.data.imagenet_downsampled import load_part

        root, size, k = self.root(opts), opts["image_size"], opts["classes"]
        x, y = load_part(root, size, "train", k)
        xv, yv = load_part(root, size, "val", k) if p.eval_part == "val" else (None, None)
        parts = self._parts(p, opts, y, yv)
        ex, ey = (xv, yv) if xv is not None and yv is not None else (x, y)

        def batches(idx: np.ndarray, concern: str) -> TensorBatches:
            return TensorBatches(
                x[idx], y[idx], device=device, batch_size=p.batch_size, augment=p.augment, shuffle=True, drop_last=True,
                generator=torch_stream(seed, concern), channels_last=p.channels_last, pad=size // 8,
                mean=IMAGENET_MEAN, std=IMAGENET_STD,
            )  # fmt: skip

        train, arch_train = parts["train"], None
        if arch_half:
            arch_idx, train = self._arch_split(train)
            arch_train = batches(arch_idx, "archdata")
        calib = parts["calib"]
        return CellData(
            train=batches(train, "data"),
            calib_batches=self._fixed(x[calib], y[calib], p, device, p.calib_batch_size),
            eval_batches=self._fixed(ex[parts["eval"]], ey[parts["eval"]], p, device, p.eval_batch_size),
            n_train=len(train),
            n_eval=len(parts["eval"]),
            arch_train=arch_train,
            info={"source": str(root), "classes": k, "image_size": size, "form": "downsampled", "n_calib": len(calib)},
        )

    # -- loss and scores ---------------------------------------------------------------------------
    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(output.float(), target, label_smoothing=self.label_smoothing)

    def correct(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (output.argmax(1) == target).sum()

    def synthetic_batch(self, n: int, generator: torch.Generator) -> Batch:
        x = torch.randn(n, 3, 32, 32, generator=generator)
        return x, torch.randint(0, self.num_classes, (n,), generator=generator)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, arch: Any, batches: Sequence[Batch]) -> dict[str, float]:
        top1 = top5 = n = 0
        loss_sum = 0.0
        for x, y in batches:
            logits = model(x, arch).float()
            loss_sum += float(nn.functional.cross_entropy(logits, y, reduction="sum"))
            top1 += topk_correct(logits, y, 1)
            top5 += topk_correct(logits, y, 5)
            n += int(y.numel())
        return {"top1": 100.0 * top1 / n, "top5": 100.0 * top5 / n, "loss": loss_sum / n}


IMAGENET_CLASSIFICATION = ImageNetClassification()
