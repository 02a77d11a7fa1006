"""CIFAR-100 as uint8 arrays from the standard python batches, ``$WSBENCH_DATA/cifar-100-python``.

The folder holds two pickled dicts, ``train`` (50,000 images) and ``test`` (10,000), each with
``data`` (uint8 N x 3072, rows stored channel-major: 1024 R, 1024 G, 1024 B) and ``fine_labels``
(N integers in 0..99); ``coarse_labels`` (the 20 superclasses) are not read. The files the
official archive holds were written by Python 2, so their keys unpickle as bytes; a re-pickled
copy may have text keys; both are read. Nothing is downloaded: a missing folder or file, or a
file that does not hold what the format promises, is a one-line error naming the fix.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from harness.api.errors import CorruptDataError, DataMissingError, unknown
from harness.api.task import DataIdentity
from harness.data.cifar10 import ImageSet, _ArrayUnpickler, _frozen
from harness.data.identity import file_sha256
from harness.fileio import sha256_file
from harness.settings import DATA_ENV, data_root

FOLDER = "cifar-100-python"
PARTS: tuple[str, ...] = ("train", "test")
NUM_CLASSES = 100
#: Images per part of the official data set.
SIZES = {"train": 50_000, "test": 10_000}
# Per-channel mean and standard deviation of the 50k training images, in [0, 1] units.
CIFAR100_MEAN: tuple[float, float, float] = (0.5071, 0.4865, 0.4409)
CIFAR100_STD: tuple[float, float, float] = (0.2673, 0.2564, 0.2762)

_HINT = f"set {DATA_ENV} to a folder holding {FOLDER}/ (the official python version: files train and test)"


def load_cifar100(part: str, root: Path | None = None) -> ImageSet:
    """The ``"train"`` or ``"test"`` part: images [N,32,32,3] and fine labels [N], read-only."""
    if part not in PARTS:
        raise unknown("CIFAR-100 part", part, PARTS)
    if root is None:
        base = data_root(required=True)
        assert base is not None
        root = base
    folder = Path(root) / FOLDER
    if not folder.is_dir():
        raise DataMissingError(f"CIFAR-100 folder not found at {folder}; {_HINT}")
    path = folder / part
    images, labels = read_part_file(path)
    return _frozen(images, labels, f"{FOLDER} at {folder} ({part}: sha256 {sha256_file(path)})")


def folder_identity(selection: Mapping[str, Any], root: Path | None = None) -> DataIdentity:
    """Which CIFAR-100 ``load_cifar100`` reads: the SHA-256 of both part files (a cell reads both), and ``selection``."""
    if root is None:
        base = data_root(required=True)
        assert base is not None
        root = base
    folder = Path(root) / FOLDER
    if not folder.is_dir():
        raise DataMissingError(f"CIFAR-100 folder not found at {folder}; {_HINT}")
    files = {}
    for part in PARTS:
        if not (folder / part).is_file():
            raise DataMissingError(f"CIFAR-100 file {folder / part} is missing; copy the whole {FOLDER} folder again")
        files[part] = file_sha256(folder / part)
    return DataIdentity("cifar100", f"{FOLDER} at {folder.resolve()}", files, selection)


def read_part_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images [N,32,32,3] and fine labels [N] from one pickled part file, checked."""
    if not path.is_file():
        raise DataMissingError(f"CIFAR-100 file {path} is missing; copy the whole {FOLDER} folder again")
    try:
        with open(path, "rb") as f:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
        data = np.asarray(_entry(batch, "data"))
        labels = np.asarray(_entry(batch, "fine_labels"), dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CorruptDataError(
            f"CIFAR-100 file {path} is unreadable ({type(exc).__name__}: {exc}); copy {FOLDER} again"
        ) from None
    n = labels.shape[0] if labels.ndim == 1 else -1
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape != (n, 3 * 32 * 32):
        raise CorruptDataError(
            f"CIFAR-100 file {path} has data {data.dtype}{list(data.shape)} and labels {list(labels.shape)}, "
            f"expected uint8[N,3072] and N fine labels; copy {FOLDER} again"
        )
    if n and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise CorruptDataError(f"CIFAR-100 file {path} has fine labels outside 0..99; copy {FOLDER} again")
    return data.reshape(n, 3, 32, 32).transpose(0, 2, 3, 1), labels


def _entry(batch: Any, key: str) -> Any:
    """``batch[key]`` for text keys (a re-pickled file) or bytes keys (the official Python 2 pickles)."""
    if not isinstance(batch, dict):
        raise TypeError(f"the file holds a {type(batch).__name__}, not a dict")
    if key in batch:
        return batch[key]
    return batch[key.encode()]
