"""Small ImageNet-format data sets the tests, the loader benchmark and the CPU smoke profile build themselves.

ImageNet is not on these machines; its formats are. ``write_image_folder`` writes
``train/<wnid>/*.JPEG`` and ``val/<wnid>/*.JPEG`` with a learnable signal (each class has its own
colour and stripe orientation, under noise), at sizes like ImageNet's (default 500 x 375: about
what an average ImageNet image decodes to). ``write_downsampled`` writes Chrabaszcz et al.'s
``.npz`` batches.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _image(label: int, rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    colour = np.array([(37 * label) % 256, (91 * label + 60) % 256, (151 * label + 120) % 256], dtype=np.float32)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = np.pi * label / 7
    stripes = 60 * np.sin((np.cos(angle) * xx + np.sin(angle) * yy) / (6 + label % 5))
    noise = rng.normal(0, 40, size=(height, width, 3))
    return np.clip(colour + stripes[..., None] + noise, 0, 255).astype(np.uint8)


def wnid(label: int) -> str:
    """A WordNet-style class folder name (``n00000000`` + label)."""
    return f"n{label:08d}"


def write_image_folder(
    root: str | Path,
    classes: int = 3,
    train_per_class: int = 8,
    val_per_class: int = 4,
    size: tuple[int, int] = (500, 375),
    seed: int = 0,
) -> Path:
    """An ImageNet-format folder of generated JPEGs (sizes vary by up to 20 % around ``size``); returns ``root``."""
    from PIL import Image

    root, rng = Path(root), np.random.default_rng(seed)
    for part, per_class in (("train", train_per_class), ("val", val_per_class)):
        for label in range(classes):
            folder = root / part / wnid(label)
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                w, h = (int(s * rng.uniform(0.8, 1.2)) for s in size)
                name = f"{wnid(label)}_{i}.JPEG" if part == "train" else f"ILSVRC2012_val_{label * per_class + i:08d}.JPEG"
                Image.fromarray(_image(label, rng, w, h)).save(folder / name, quality=90)
    return root


def write_downsampled(
    root: str | Path,
    side: int = 32,
    classes: int = 4,
    train_per_class: int = 20,
    val_per_class: int = 5,
    batches: int = 2,
    seed: int = 0,
) -> Path:
    """Downsampled-ImageNet ``.npz`` files (``train_data_batch_1..batches``, ``val_data``), labels 1-based; returns ``root``."""
    root, rng = Path(root), np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)

    def part(per_class: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.repeat(np.arange(classes), per_class)
        images = np.stack([_image(int(c), rng, side, side) for c in labels])  # NHWC
        return images.transpose(0, 3, 1, 2).reshape(len(labels), -1), labels + 1

    data, labels = part(train_per_class)
    order = rng.permutation(len(labels))
    for b, chunk in enumerate(np.array_split(order, batches), start=1):
        np.savez(root / f"train_data_batch_{b}.npz", data=data[chunk], labels=labels[chunk])
    data, labels = part(val_per_class)
    np.savez(root / "val_data.npz", data=data, labels=labels)
    return root
