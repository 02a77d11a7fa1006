"""Image classification on CIFAR-100 (fine labels): the CIFAR-10 task's batching, on 100 classes.

The seed paper's NAS-Bench-201 trainer defaults to CIFAR-100 (matluster/anonymous-2102,
``configs/nb201.py``, ``dataset`` choices ``cifar100`` first). Data: the standard python version,
``$WSBENCH_DATA/cifar-100-python/{train,test}`` (``harness.data.cifar100``); nothing is downloaded.
Everything else is the CIFAR-10 task's (``ImageClassification``): the same options, named splits
balanced over the 100 classes, device batches with random crop and flip, fixed calibration and
scoring images, accuracy and loss as scores. Images are normalised with CIFAR-100's own channel
mean and standard deviation. The default split trains on the 50k training images and scores on
the 10k test images (``train-test``); NAS-Bench-201's own CIFAR-100 split halves the test images
into valid and test, which these splits do not hold.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from harness.api.options import Option
from harness.api.task import CellData, DataIdentity
from harness.data.cifar100 import CIFAR100_MEAN, CIFAR100_STD
from harness.seeding import numpy_stream
from harness.tasks.classification import ImageClassification


def _with_defaults(specs: dict[str, Option], **defaults: Any) -> dict[str, Option]:
    """``specs`` with some defaults changed (the same types, bounds and help)."""
    import dataclasses

    return {k: dataclasses.replace(o, default=defaults[k]) if k in defaults else o for k, o in specs.items()}


class CIFAR100Classification(ImageClassification):
    """CIFAR-100 fine-label classification of images held on the device as uint8."""

    name = "cifar100"
    version = 1
    dataset = "cifar100"
    option_specs: ClassVar[dict[str, Option]] = _with_defaults(
        ImageClassification.option_specs, split="train-test", eval_part="test"
    )
    #: Images per part the task insists on (a truncated copy is an error, not a smaller run).
    part_sizes: ClassVar[dict[str, int]] = {"train": 50_000, "test": 10_000}

    mean = CIFAR100_MEAN
    std = CIFAR100_STD

    def __init__(self, num_classes: int = 100) -> None:
        super().__init__(num_classes)

    def make_data(self, protocol: Any, seed: int, device: torch.device, arch_half: bool = False) -> CellData:
        from harness.data import get_split

        p, o = protocol, self.options(protocol)
        loaded = {part: self._load(part) for part in ("train", "test")}  # read once: the train file is 150 MB
        labels = {part: data.labels for part, data in loaded.items()}
        split = get_split(o["split"], seed=0, subset=o["subset"], labels=labels, num_classes=self.num_classes)
        parts = {
            part: self._read_part(p, split, part, part == o["eval_part"], loaded[split.parts[part][0]])
            for part in (o["train_part"], o["eval_part"])
        }
        (xtr, ytr, _), (xev, yev, _) = parts[o["train_part"]], parts[o["eval_part"]]
        info = {"source": {k: v[2] for k, v in parts.items()}, "split_fingerprint": split.fingerprint()}
        return self._cell_data(p, o, (xtr, ytr), (xev, yev), seed, device, arch_half, info)

    def data_identity(self, protocol: Any) -> DataIdentity:
        """The checksums of both CIFAR-100 part files (a cell reads both), and the split and image budgets."""
        from harness.data.cifar100 import folder_identity

        return folder_identity(self.selection(protocol, self.options(protocol)))

    def _load(self, cifar_part: str) -> Any:
        """One CIFAR-100 part, checked to be complete."""
        from harness.api.errors import CorruptDataError
        from harness.data.cifar100 import FOLDER, load_cifar100

        full = load_cifar100(cifar_part)
        if len(full.labels) != self.part_sizes[cifar_part]:
            raise CorruptDataError(
                f"CIFAR-100 {cifar_part} part ({full.source}) has {len(full.labels)} images, not "
                f"{self.part_sizes[cifar_part]}; the data set is incomplete: copy {FOLDER} again"
            )
        return full

    def _read_part(self, p: Any, split: Any, part: str, scored: bool, full: Any = None) -> tuple[np.ndarray, np.ndarray, str]:
        """One part's images and labels (the scored part cut to ``eval_images``, class-balanced), and its source;
        ``full``: the CIFAR-100 part it indexes, when already read."""
        from harness.data.splits import balanced_subset

        cifar_part, idx = split.parts[part]
        full = full if full is not None else self._load(cifar_part)
        if scored and p.eval_images is not None and p.eval_images < len(idx):
            idx = balanced_subset(idx, full.labels, p.eval_images, numpy_stream(0, "scoring"), self.num_classes)
        return full.images[idx], full.labels[idx], full.source


CIFAR100_CLASSIFICATION = CIFAR100Classification()

#: Registered by ``harness.catalog`` (this module describes itself).
PLUGINS = {"task": {"cifar100": CIFAR100_CLASSIFICATION}}
