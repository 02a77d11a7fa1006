"""Image classification on CIFAR-10: the first task (cross-entropy; accuracy and loss as scores).

The split and the scoring images are fixed per protocol (not per run seed), so every cell of a
space is scored on the same images. All generators live on the CPU, so a CPU run and a GPU run
with the same seed see the same batches. Its options (``task_options``): ``split``, ``train_part``,
``eval_part``, ``subset``, ``augment``, ``cutout``; the protocol fields it reads: ``channels_last``,
``batch_size``, ``calib_batches``, ``calib_batch_size``, ``eval_images``, ``eval_batch_size``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from harness.api.options import Option
from harness.api.space import TaskSpec
from harness.api.task import Batch, CellData, DataIdentity, ScoreField, Task
from harness.data.cifar10 import CIFAR10_MEAN, CIFAR10_STD
from harness.seeding import numpy_stream, torch_stream

#: Images per CIFAR-10 part (balanced: a tenth per class).
CIFAR10_SIZES = {"train": 50_000, "test": 10_000}


class ClassificationTask(Task):
    """What image classification tasks share: cross-entropy, top-k hits, synthetic batches, evaluation.

    Subclasses bring their data (``make_data``) and say which hits their accuracy fields count (``hits``).
    """

    def __init__(self, num_classes: int, label_smoothing: float = 0.0) -> None:
        self.num_classes, self.label_smoothing = num_classes, float(label_smoothing)

    def spec(self) -> TaskSpec:
        return TaskSpec(outputs=self.num_classes)

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the logits; plus ``output.aux_weight`` x that of ``output.aux`` where a training
        output carries an auxiliary head's logits (DARTS: ``CE + 0.4 CE_aux``, one criterion for both)."""
        # Read before ``.float()``: under autocast that makes a new tensor, without the attributes.
        aux = getattr(output, "aux", None)
        main = nn.functional.cross_entropy(output.float(), target, label_smoothing=self.label_smoothing)
        if aux is None:
            return main
        aux_loss = nn.functional.cross_entropy(aux.float(), target, label_smoothing=self.label_smoothing)
        return main + getattr(output, "aux_weight") * aux_loss  # noqa: B009 - set by the supernet, unknown to mypy

    def correct(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (output.argmax(1) == target).sum()

    def synthetic_batch(self, n: int, generator: torch.Generator) -> Batch:
        x = torch.randn(n, 3, 32, 32, generator=generator)
        return x, torch.randint(0, self.num_classes, (n,), generator=generator)

    def hits(self, logits: torch.Tensor, target: torch.Tensor) -> dict[str, int]:
        """Correct predictions in one batch, per accuracy score field."""
        raise NotImplementedError

    @torch.no_grad()
    def evaluate(self, model: nn.Module, arch: Any, batches: Sequence[Batch]) -> dict[str, float]:
        """Every accuracy field (percent) and the mean cross-entropy, without smoothing."""
        hits: dict[str, int] = {}
        loss_sum, n = 0.0, 0
        for x, y in batches:
            logits = model(x, arch).float()
            loss_sum += float(nn.functional.cross_entropy(logits, y, reduction="sum"))
            for name, count in self.hits(logits, y).items():
                hits[name] = hits.get(name, 0) + count
            n += int(y.numel())
        return {**{name: 100.0 * count / n for name, count in hits.items()}, "loss": loss_sum / n}


class ImageClassification(ClassificationTask):
    """Classification of CIFAR-10-format images held on the device as uint8."""

    #: The data set's channel means and standard deviations the batches normalise with.
    mean: ClassVar[tuple[float, ...]] = CIFAR10_MEAN
    std: ClassVar[tuple[float, ...]] = CIFAR10_STD

    name = "cifar10"
    version = 1
    dataset = "cifar10"
    score_fields = (
        ScoreField("accuracy", True, "top-1 accuracy (percent) on the evaluation images"),
        ScoreField("loss", False, "mean cross-entropy on the evaluation images"),
    )

    option_specs: ClassVar[dict[str, Option]] = {
        "split": Option("nb201-cifar10-valid", str, help="a named split of CIFAR-10 (harness.data.splits)"),
        "train_part": Option("train", str, help="the split's part the supernet trains on"),
        "eval_part": Option("valid", str, help="the split's part architectures are scored on"),
        "subset": Option(None, int, min=1, nullable=True, help="at most this many images per part, class-balanced"),
        "augment": Option(True, bool, help="random crop and flip of training images"),
        "cutout": Option(0, int, min=0, help="side of the Cutout square on training images (0: none)"),
        # The JPEG pack stores the test images class by class; scoring with batch statistics (BN that
        # tracks none, ``bn_mode`` batch or running) then sees one-class batches. ``shuffled`` scores such
        # class-grouped images in one fixed mixed order; an order already mixed (the python batches'
        # official one, which the reference code scores in) is kept.
        "eval_order": Option("stored", str, choices=("stored", "shuffled"), help="order of the scored images"),
    }

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__(num_classes)

    def check_protocol(self, protocol: Any) -> None:
        """The split, its parts and the image counts, checked against CIFAR-10's sizes before any data is read."""
        from harness.api.errors import WsbenchError, unknown
        from harness.data.splits import SPLITS, get_split

        p, o = protocol, self.options(protocol)
        if o["split"] not in SPLITS:
            raise unknown(f"data split of protocol {p.name!r}", o["split"], SPLITS.names())
        # Part sizes depend only on the class counts, so CIFAR-10's nominal labels give them exactly.
        nominal = {part: np.repeat(np.arange(self.num_classes), n // self.num_classes) for part, n in CIFAR10_SIZES.items()}
        sizes = get_split(o["split"], seed=0, subset=o["subset"], labels=nominal).sizes()
        for key in ("train_part", "eval_part"):
            if o[key] not in sizes:
                raise unknown(f"{key} of split {o['split']!r} (protocol {p.name!r})", o[key], sizes)
        n_train = sizes[o["train_part"]]
        if n_train < p.batch_size:
            raise WsbenchError(
                f"protocol {p.name!r}: batch_size {p.batch_size} exceeds the {n_train} training images of "
                f"{o['split']}/{o['train_part']}: no training step would run; lower batch_size or raise subset"
            )
        if p.calib_batch_size > n_train:
            raise WsbenchError(
                f"protocol {p.name!r}: calib_batch_size {p.calib_batch_size} exceeds the {n_train} training images"
            )

    def make_data(self, protocol: Any, seed: int, device: torch.device, arch_half: bool = False) -> CellData:
        from harness.data import get_split

        p, o = protocol, self.options(protocol)
        split = get_split(o["split"], seed=0, subset=o["subset"])
        parts = {part: self._read_part(p, split, part, part == o["eval_part"]) for part in (o["train_part"], o["eval_part"])}
        (xtr, ytr, _), (xev, yev, _) = parts[o["train_part"]], parts[o["eval_part"]]
        info = {"source": {k: v[2] for k, v in parts.items()}, "split_fingerprint": split.fingerprint()}
        return self._cell_data(p, o, (xtr, ytr), (xev, yev), seed, device, arch_half, info)

    def data_identity(self, protocol: Any) -> DataIdentity:
        """The checksums of the CIFAR-10 files the split's parts come from, and the split and image budgets."""
        from harness.data.cifar10 import source_identity
        from harness.data.splits import get_split

        o = self.options(protocol)
        # Which CIFAR-10 parts the split's parts index depends only on the class counts (as in check_protocol).
        nominal = {part: np.repeat(np.arange(self.num_classes), n // self.num_classes) for part, n in CIFAR10_SIZES.items()}
        split = get_split(o["split"], seed=0, subset=o["subset"], labels=nominal)
        parts = sorted({split.parts[part][0] for part in (o["train_part"], o["eval_part"])})
        return source_identity(parts, self.selection(protocol, o))

    def selection(self, protocol: Any, o: dict[str, Any]) -> dict[str, Any]:
        """The options that choose which images a cell trains and scores on (for its data identity)."""
        keys = ("split", "train_part", "eval_part", "subset", "eval_order")
        return {**{k: o.get(k) for k in keys}, "eval_images": protocol.eval_images}

    def synthetic_data(self, protocol: Any, seed: int, device: torch.device) -> CellData:
        """Random uint8 images through the same device batches, augmentation and scoring sets as ``make_data``."""
        p, o = protocol, self.options(protocol)
        n_eval = p.eval_images or 2 * p.eval_batch_size
        g = np.random.default_rng([int(seed), max(4 * p.batch_size, 512)])
        train = (
            g.integers(0, 256, (max(4 * p.batch_size, 512), 32, 32, 3), dtype=np.uint8),
            g.integers(0, 10, max(4 * p.batch_size, 512)),
        )
        held = g.integers(0, 256, (n_eval, 32, 32, 3), dtype=np.uint8), g.integers(0, 10, n_eval)
        return self._cell_data(p, o, train, held, seed, device, False, {"source": "synthetic"})

    def _read_part(self, p: Any, split: Any, part: str, scored: bool) -> tuple[np.ndarray, np.ndarray, str]:
        """One part's images and labels (the scored part cut to ``eval_images``, class-balanced), and its source."""
        from harness.data import load_cifar10
        from harness.data.splits import balanced_subset

        cifar_part, idx = split.parts[part]
        full = load_cifar10(cifar_part)
        if len(full.labels) != CIFAR10_SIZES[cifar_part]:  # e.g. a truncated pack whose checksum line was redone
            from harness.api.errors import CorruptDataError

            raise CorruptDataError(
                f"CIFAR-10 {cifar_part} part ({full.source}) "
                f"has {len(full.labels)} images, not {CIFAR10_SIZES[cifar_part]}; the data set is incomplete: copy it again"
            )
        if scored and p.eval_images is not None and p.eval_images < len(idx):
            idx = balanced_subset(idx, full.labels, p.eval_images, numpy_stream(0, "scoring"))
        return full.images[idx], full.labels[idx], full.source

    def _cell_data(
        self, p: Any, o: dict[str, Any], train: tuple[np.ndarray, np.ndarray], held: tuple[np.ndarray, np.ndarray],
        seed: int, device: torch.device, arch_half: bool, info: dict[str, Any],
    ) -> CellData:  # fmt: skip
        """Device batches: augmented training (and a bi-level strategy's architecture half), fixed calibration, evaluation."""
        from harness.data import TensorBatches

        (xtr, ytr), (xev, yev) = train, held

        norm = {"mean": self.mean, "std": self.std, "channels_last": p.channels_last}

        def batches(x: np.ndarray, y: np.ndarray, stream: str) -> TensorBatches:
            return TensorBatches(
                x, y, device=device, batch_size=p.batch_size, augment=o["augment"], cutout=o["cutout"] if o["augment"] else 0,
                shuffle=True, drop_last=True, generator=torch_stream(seed, stream), **norm,
            )  # fmt: skip

        arch_train = None
        if arch_half:
            # Bi-level strategies (DARTS) fit architecture parameters on images the weights never
            # see: a fixed half of the training part (fixed per protocol, like the split itself).
            order = numpy_stream(0, "archdata").permutation(len(ytr))
            half = len(order) // 2
            arch_idx, weight_idx = np.sort(order[half:]), np.sort(order[:half])
            arch_train = batches(xtr[arch_idx], ytr[arch_idx], "archdata")
            xtr, ytr = xtr[weight_idx], ytr[weight_idx]
        if o.get("eval_order") == "shuffled" and bool(np.all(np.diff(yev) >= 0)):  # grouped by class: mix, fixed per protocol
            order = numpy_stream(1, "scoring").permutation(len(yev))
            xev, yev = xev[order], yev[order]
        calib = TensorBatches(xtr, ytr, device=device, batch_size=p.calib_batch_size, **norm)
        evaluation = TensorBatches(xev, yev, device=device, batch_size=p.eval_batch_size, **norm)
        return CellData(
            train=batches(xtr, ytr, "data"),
            calib_batches=calib.fixed_batches(p.calib_batches, torch_stream(0, "scoring"), augment=False),
            eval_batches=list(evaluation),
            n_train=len(ytr),
            n_eval=len(yev),
            arch_train=arch_train,
            info=info,
        )

    def hits(self, logits: torch.Tensor, target: torch.Tensor) -> dict[str, int]:
        """Top-1 hits (the argmax, as the training log counts them)."""
        return {"accuracy": int((logits.argmax(1) == target).sum())}


CIFAR10_CLASSIFICATION = ImageClassification()

#: Registered by ``harness.catalog`` (this module describes itself).
PLUGINS = {"task": {"cifar10": CIFAR10_CLASSIFICATION}}
