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
files). Its other options: ``train_part`` (``train``), ``eval_part`` (``val``, or ``holdout``:
``holdout_per_class`` training images per class that training never sees), ``subset`` (at most
this many training images, class-balanced), ``augment``. Protocol fields it reads: ``eval_images``,
``batch_size``, ``calib_batches``, ``calib_batch_size``, ``eval_batch_size``, ``channels_last``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from harness.api.errors import WsbenchError
from harness.api.options import Option
from harness.api.task import CellData, DataIdentity, ScoreField
from harness.seeding import numpy_stream, torch_stream
from harness.tasks.classification import ClassificationTask

DATA_FORMS = ("folder", "downsampled")
EVAL_PARTS = ("val", "holdout")


def topk_correct(logits: torch.Tensor, target: torch.Tensor, k: int) -> int:
    """How many targets are among the ``k`` largest logits of their row."""
    top = logits.topk(min(k, logits.shape[1]), dim=1).indices
    return int((top == target.view(-1, 1)).any(dim=1).sum())


class ImageNetClassification(ClassificationTask):
    """ImageNet-format classification, top-1 the primary score."""

    name = "imagenet"
    version = 1
    dataset = "imagenet"
    score_fields = (
        ScoreField("top1", True, "top-1 accuracy (percent) on the evaluation images"),
        ScoreField("top5", True, "top-5 accuracy (percent) on the evaluation images"),
        ScoreField("loss", False, "mean cross-entropy (no smoothing) on the evaluation images"),
    )
    option_specs: ClassVar[dict[str, Option]] = {
        "data": Option("folder", str, choices=DATA_FORMS, help="a streamed folder, or downsampled npz batches"),
        "root": Option(None, str, nullable=True, help="the data folder: absolute, or under $WSBENCH_DATA"),
        "image_size": Option(None, int, min=8, nullable=True, help="crop side (unset: 224 for folder, 32 for downsampled)"),
        "classes": Option(1000, int, min=2, help="the first K classes"),
        "label_smoothing": Option(0.0, float, min=0.0, below=1.0, help="label smoothing of the training loss"),
        "workers": Option(4, int, min=0, help="decoding worker processes (folder)"),
        "holdout_per_class": Option(50, int, min=1, help="eval_part holdout: training images per class held out"),
        "train_part": Option("train", str, choices=("train",), help="the part the supernet trains on"),
        "eval_part": Option("val", str, choices=EVAL_PARTS, help="val, or holdout: training images training never sees"),
        "subset": Option(None, int, min=1, nullable=True, help="at most this many training images, class-balanced"),
        "augment": Option(True, bool, help="random crops and flips of training images"),
    }

    def __init__(self, num_classes: int = 1000, label_smoothing: float = 0.0) -> None:
        super().__init__(num_classes, label_smoothing)

    def configure(self, protocol: Any) -> "ImageNetClassification":
        """This task with the protocol's class count and label smoothing."""
        opts = self.options(protocol)
        return ImageNetClassification(opts["classes"], opts["label_smoothing"])

    def refine_options(self, opts: dict[str, Any], where: str) -> dict[str, Any]:
        """The image size that depends on the data form, and the sizes downsampled ImageNet has."""
        if opts["image_size"] is None:
            opts["image_size"] = 224 if opts["data"] == "folder" else 32
        if opts["data"] == "downsampled" and opts["image_size"] not in (32, 64):
            raise WsbenchError(f"{where} image_size must be 32 or 64 for downsampled ImageNet, got {opts['image_size']}")
        return opts

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
        self.options(protocol)

    # -- data --------------------------------------------------------------------------------------
    def data_identity(self, protocol: Any) -> DataIdentity:
        """The files (npz) or the listing (folder) of the parts a cell reads, and the selection it makes."""
        from harness.data.imagenet import folder_identity
        from harness.data.imagenet_downsampled import files_identity

        p, opts = protocol, self.options(protocol)
        parts = ["train", "val"] if opts["eval_part"] == "val" else ["train"]
        keys = ("data", "image_size", "classes", "train_part", "eval_part", "holdout_per_class", "subset")
        selection = {**{k: opts[k] for k in keys}, "eval_images": p.eval_images}
        if opts["data"] == "folder":
            return folder_identity(self.root(opts), parts, opts["classes"], selection)
        return files_identity(self.root(opts), opts["image_size"], parts, selection)

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
        if opts["eval_part"] == "holdout":
            held = class_balanced(labels, opts["holdout_per_class"] * k, numpy_stream(0, "archset"), k)
            train, evaluation, labels_eval = np.setdiff1d(train, held), held, labels
        else:
            assert val_labels is not None
            evaluation, labels_eval = np.arange(len(val_labels)), val_labels
        if p.eval_images is not None and p.eval_images < len(evaluation):
            sub = class_balanced(labels_eval[evaluation], p.eval_images, numpy_stream(0, "scoring"), k)
            evaluation = evaluation[sub]
        if opts["subset"] is not None and opts["subset"] < len(train):
            train = train[class_balanced(labels[train], opts["subset"], numpy_stream(0, "data"), k)]
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
        val_index = scan_folder(root, "val", classes) if opts["eval_part"] == "val" else None
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
            info={"source": {"train": str(root / "train"), opts["eval_part"]: str(root / eval_index.part)}, "classes": k,
                  "image_size": size, "form": "folder", "n_calib": len(calib_index)},
        )  # fmt: skip

    def _downsampled_data(self, p: Any, opts: dict[str, Any], seed: int, device: torch.device, arch_half: bool) -> CellData:
        from harness.data import TensorBatches
        from harness.data.imagenet import IMAGENET_MEAN, IMAGENET_STD
        from harness.data.imagenet_downsampled import load_part

        root, size, k = self.root(opts), opts["image_size"], opts["classes"]
        x, y = load_part(root, size, "train", k)
        xv, yv = load_part(root, size, "val", k) if opts["eval_part"] == "val" else (None, None)
        parts = self._parts(p, opts, y, yv)
        ex, ey = (xv, yv) if xv is not None and yv is not None else (x, y)

        def batches(idx: np.ndarray, concern: str) -> TensorBatches:
            return TensorBatches(
                x[idx], y[idx], device=device, batch_size=p.batch_size, augment=opts['augment'], shuffle=True, drop_last=True,
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
    def hits(self, logits: torch.Tensor, target: torch.Tensor) -> dict[str, int]:
        """Top-1 and top-5 hits."""
        return {"top1": topk_correct(logits, target, 1), "top5": topk_correct(logits, target, 5)}


IMAGENET_CLASSIFICATION = ImageNetClassification()

#: Registered by ``harness.catalog`` (this module describes itself).
PLUGINS = {"task": {"imagenet": IMAGENET_CLASSIFICATION}}
