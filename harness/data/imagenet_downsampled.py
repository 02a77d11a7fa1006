"""Downsampled ImageNet (Chrabaszcz, Loshchilov & Hutter, 2017): the 32x32 and 64x64 ``.npz`` batches, in memory.

The files users download: ``train_data_batch_1.npz`` .. ``train_data_batch_10.npz`` and
``val_data.npz``, each holding ``data`` (uint8, one row per image: the R plane, then G, then B, each
``size`` x ``size`` row-major) and ``labels`` (1..1000). They are read from one folder, or from the
archives' own folder names (``Imagenet32_train_npz`` / ``Imagenet32_val_npz``) beside each other.
The image side is inferred from the row length and must match the asked size. A cheaper fidelity
of the same data set: the whole training set of the 32x32 version is 3.8 GB of uint8.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.api.errors import CorruptDataError, DataMissingError
from harness.api.task import DataIdentity

_TRAIN = re.compile(r"train_data_batch_(\d+)\.npz")
VAL_FILE = "val_data.npz"


def _candidates(root: Path, size: int, part: str) -> list[Path]:
    official = root.parent / f"Imagenet{size}_{part}_npz"
    return [root, root / f"Imagenet{size}_{part}_npz", official]


def part_files(root: str | Path, size: int, part: str) -> list[Path]:
    """The ``.npz`` files of ``part`` (``train`` or ``val``) under ``root``, in batch order."""
    root = Path(root)
    for folder in _candidates(root, size, part):
        if not folder.is_dir():
            continue
        if part == "val":
            if (folder / VAL_FILE).is_file():
                return [folder / VAL_FILE]
            continue
        found = sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := _TRAIN.fullmatch(p.name)))
        if found:
            return [p for _, p in found]
    want = VAL_FILE if part == "val" else "train_data_batch_<k>.npz"
    raise DataMissingError(
        f"downsampled ImageNet {size}x{size} {part} files ({want}) not found in {root} or Imagenet{size}_{part}_npz/ beside it; "
        "download the npz version from image-net.org (Downsampled ImageNet) and unpack it there"
    )


def files_identity(root: str | Path, size: int, parts: Sequence[str], selection: Mapping[str, Any]) -> DataIdentity:
    """Which downsampled-ImageNet files a cell reads: the SHA-256 of each ``.npz`` of ``parts``, where, and ``selection``."""
    from harness.data.identity import file_sha256

    files = {f"{part}/{path.name}": file_sha256(path) for part in parts for path in part_files(root, size, part)}
    return DataIdentity("imagenet", f"downsampled ImageNet {size}x{size} in {Path(root).resolve()}", files, selection)


def _read_npz(path: Path, size: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as f:
            data, labels = f["data"], f["labels"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as e:
        raise CorruptDataError(
            f"{path}: not a downsampled-ImageNet batch with data and labels ({type(e).__name__}: {e}); download it again"
        ) from None
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] % 3:
        raise CorruptDataError(f"{path}: data must be uint8 rows of 3 x side^2 values, got {data.dtype} {list(data.shape)}")
    side = int(round((data.shape[1] // 3) ** 0.5))
    if side * side * 3 != data.shape[1]:
        raise CorruptDataError(f"{path}: rows of {data.shape[1]} values are not 3 square planes")
    if side != size:
        raise CorruptDataError(
            f"{path} holds {side}x{side} images, not {size}x{size}; point the task at the {side}x{side} files or set image_size = {side}"
        )
    labels = _class_numbers(path, np.asarray(labels).reshape(-1)) - 1  # the files count classes from 1
    if labels.shape[0] != data.shape[0] or (labels.size and (labels.min() < 0 or labels.max() > 999)):
        raise CorruptDataError(f"{path}: labels must be one per image in 1..1000; the file is damaged")
    return data, labels


def _class_numbers(path: Path, raw: np.ndarray) -> np.ndarray:
    """Labels as int64; a float label (3.7) is damage, which a cast would silently truncate to another class."""
    if np.issubdtype(raw.dtype, np.integer):
        return raw.astype(np.int64)
    if np.issubdtype(raw.dtype, np.floating):
        bad = np.flatnonzero(raw != np.floor(raw))  # NaN included
        if not bad.size:
            return raw.astype(np.int64)
        raise CorruptDataError(
            f"{path}: label {raw[bad[0]]:g} of image {bad[0]} is not a whole class number 1..1000; the file is damaged"
        )
    raise CorruptDataError(f"{path}: labels must be whole class numbers 1..1000, not {raw.dtype}; the file is damaged")


def load_part(root: str | Path, size: int, part: str, num_classes: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """uint8 NHWC images and 0-based labels of one part, keeping classes ``0..num_classes-1``."""
    images, labels = [], []
    for path in part_files(root, size, part):
        data, y = _read_npz(path, size)
        keep = y < num_classes
        images.append(data[keep].reshape(-1, 3, size, size).transpose(0, 2, 3, 1))
        labels.append(y[keep])
    x, y = np.ascontiguousarray(np.concatenate(images)), np.concatenate(labels)
    present = np.unique(y).size
    if present < num_classes:
        raise CorruptDataError(
            f"downsampled ImageNet {part} in {root}: only {present} of the {num_classes} classes asked for have images"
        )
    return x, y
