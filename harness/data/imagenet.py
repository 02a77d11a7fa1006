"""ImageNet in its standard folder layout, streamed: ``train/<wnid>/*.JPEG`` and ``val/<wnid>/*.JPEG``.

Images are decoded by DataLoader worker processes with Pillow (no torchvision). Training images
get Inception-style random-resized-crop (area 8-100 %, aspect 3/4-4/3; ten tries, then a centre
crop, as torchvision does) and a horizontal flip; evaluation images are resized so the shorter
side is ``size / 0.875`` (256 for 224) and centre-cropped. Every random number comes from the
epoch plan drawn in the main process from one ``torch.Generator`` (an order and one seed per
image), so the batches are the same for any number of workers and a resumed epoch repeats
exactly. JPEGs are decoded with DCT-domain downscaling (Pillow's ``draft``) only as far as the
crop keeps at least the output resolution: the pixels differ slightly from a full decode followed
by a resize, and decoding large images gets several times cheaper.

Workers return uint8 HWC crops; normalization (ImageNet mean/std) happens on the device.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness.api.errors import CorruptDataError, DataMissingError, WsbenchError
from harness.api.task import DataIdentity

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
EXTENSIONS = (".jpeg", ".jpg", ".png")
#: Evaluation resize: shorter side = size / CROP_FRACTION, then a centre crop of ``size``.
CROP_FRACTION = 0.875
LAYOUT_HINT = "expected <root>/train/<wnid>/*.JPEG and <root>/val/<wnid>/*.JPEG (val sorted into class folders)"


@dataclass(frozen=True)
class FolderIndex:
    """The images of one part: class names (sorted folder names), files and their labels."""

    root: Path
    part: str
    classes: tuple[str, ...]
    files: tuple[str, ...]  # paths relative to root/part
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.files)

    def subset(self, idx: np.ndarray) -> "FolderIndex":
        """The images at positions ``idx`` (same classes)."""
        idx = np.asarray(idx, dtype=np.int64)
        return FolderIndex(self.root, self.part, self.classes, tuple(self.files[i] for i in idx), self.labels[idx])

    def path(self, i: int) -> Path:
        return self.root / self.part / self.files[i]


def scan_folder(root: str | Path, part: str, classes: Sequence[str] | None = None) -> FolderIndex:
    """Index ``root/part``: one sub-folder per class, image files inside (sorted, so the order is fixed).

    ``classes``: use exactly these class folders (e.g. the training part's), in this order.
    """
    folder = Path(root) / part
    if not folder.is_dir():
        raise DataMissingError(f"ImageNet-format folder {folder} not found; {LAYOUT_HINT}")
    found = sorted(d.name for d in os.scandir(folder) if d.is_dir())
    if not found:
        loose = any(n.lower().endswith(EXTENSIONS) for n in os.listdir(folder))
        why = "its images lie loose (sort them into <wnid>/ folders)" if loose else "it has no class folders"
        raise DataMissingError(f"{folder}: {why}; {LAYOUT_HINT}")
    wanted = tuple(classes) if classes is not None else tuple(found)
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise DataMissingError(
            f"{folder} lacks class folder(s) {', '.join(missing[:3])} that the training part has; {LAYOUT_HINT}"
        )
    files: list[str] = []
    labels: list[int] = []
    for label, name in enumerate(wanted):
        names = sorted(n for n in os.listdir(folder / name) if n.lower().endswith(EXTENSIONS))
        if not names:
            raise DataMissingError(
                f"{folder / name}: no images ({', '.join(EXTENSIONS)}); copy the class again or remove its folder"
            )
        files += [f"{name}/{n}" for n in names]
        labels += [label] * len(names)
    return FolderIndex(Path(root), part, wanted, tuple(files), np.asarray(labels, dtype=np.int64))


def folder_identity(root: str | Path, parts: Sequence[str], classes: int, selection: Mapping[str, Any]) -> DataIdentity:
    """Which images a cell reads from an ImageNet-format folder: per part, the listing (relative path and
    size) of the first ``classes`` class folders of ``train`` (a digest, not the images' bytes: see
    ``harness.data.identity.listing_sha256``), where it is, and ``selection``."""
    from harness.data.identity import listing_sha256

    folder = Path(root) / "train"
    if not folder.is_dir():
        raise DataMissingError(f"ImageNet-format folder {folder} not found; {LAYOUT_HINT}")
    names = sorted(d.name for d in os.scandir(folder) if d.is_dir())[:classes]
    files = {}
    for part in parts:
        present = [n for n in names if (Path(root) / part / n).is_dir()]
        if len(present) < len(names):
            missing = sorted(set(names) - set(present))
            raise DataMissingError(f"{Path(root) / part} lacks class folder(s) {', '.join(missing[:3])}; {LAYOUT_HINT}")
        files[f"{part} listing"] = listing_sha256(Path(root) / part, names)
    return DataIdentity("imagenet", f"image folder {Path(root).resolve()}", files, selection)


def class_balanced(labels: np.ndarray, size: int, rng: np.random.Generator, num_classes: int) -> np.ndarray:
    """At most ``size`` positions, spread evenly over the classes (sorted); the first ``size % classes`` get one more."""
    base, extra = divmod(int(size), num_classes)
    kept = []
    for c in range(num_classes):
        members = np.flatnonzero(labels == c)
        kept.append(members[rng.permutation(members.size)][: base + (1 if c < extra else 0)])
    return np.sort(np.concatenate(kept)).astype(np.int64) if kept else np.zeros(0, dtype=np.int64)


# -- transforms ----------------------------------------------------------------------------------
def random_resized_box(width: int, height: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """Inception crop (left, top, w, h): area 8-100 %, log-uniform aspect 3/4-4/3; ten tries, then the centre."""
    area = width * height
    for _ in range(10):
        target = area * rng.uniform(0.08, 1.0)
        aspect = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1)), w, h
    ratio = width / height  # fallback: the whole image, clamped to the aspect range
    if ratio < 3 / 4:
        w, h = width, round(width / (3 / 4))
    elif ratio > 4 / 3:
        h, w = height, round(height * (4 / 3))
    else:
        w, h = width, height
    return (width - w) // 2, (height - h) // 2, w, h


def centre_box(width: int, height: int, size: int) -> tuple[float, float, float, float]:
    """The evaluation crop in source pixels: shorter side scaled to size / 0.875, centre ``size`` x ``size``."""
    scale = (size / CROP_FRACTION) / min(width, height)
    side = size / scale
    return (width - side) / 2, (height - side) / 2, side, side


def load_crop(path: Path, size: int, seed: int | None) -> np.ndarray:
    """One ``size`` x ``size`` RGB crop as uint8 HWC: training augmentation from ``seed``, else the evaluation crop."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            width, height = img.size
            rng = np.random.default_rng(seed) if seed is not None else None
            box = random_resized_box(width, height, rng) if rng is not None else centre_box(width, height, size)
            left, top, w, h = box
            # Decode at a reduced scale where the crop keeps at least ``size`` pixels per side.
            shrink = max(1.0, min(w, h) / size)
            img.draft("RGB", (math.ceil(width / shrink), math.ceil(height / shrink)))
            fx, fy = img.size[0] / width, img.size[1] / height
            rgb = img.convert("RGB")
            out = rgb.resize((size, size), Image.Resampling.BILINEAR, box=(left * fx, top * fy, (left + w) * fx, (top + h) * fy))
            if rng is not None and rng.random() < 0.5:
                out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            return np.asarray(out, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as e:
        raise CorruptDataError(f"{path}: not a readable image ({type(e).__name__}: {e}); replace or remove the file") from None


# -- the loader ----------------------------------------------------------------------------------
class _Crops(torch.utils.data.Dataset):
    """Map-style data set over (position, seed) pairs: the crop of that image, and its label."""

    def __init__(self, index: FolderIndex, size: int) -> None:
        self.index, self.size = index, size

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, item: tuple[int, int]) -> tuple[np.ndarray, int]:
        i, seed = item
        return load_crop(self.index.path(i), self.size, seed if seed >= 0 else None), int(self.index.labels[i])


def _collate(items: list[tuple[np.ndarray, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(np.stack([x for x, _ in items])), torch.tensor([y for _, y in items], dtype=torch.int64)


class _Plan(torch.utils.data.Sampler):
    """The batches of one epoch, set by the main process before each pass (workers persist across epochs)."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[int, int]]] = []

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def _loader(index: FolderIndex, size: int, plan: _Plan, workers: int, pin: bool) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(
        _Crops(index, size),
        batch_sampler=plan,
        num_workers=workers,
        collate_fn=_collate,
        pin_memory=pin,
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
    )


def _unwrapped(loader: torch.utils.data.DataLoader) -> Iterator[Any]:
    """The loader's batches; a user error raised in a worker process comes back as its own one line.

    torch re-raises a worker's exception as the same type whose message is "Caught X in DataLoader
    worker process N." and the worker's whole traceback: the file at fault was named only on the last line.
    """
    try:
        yield from loader
    except WsbenchError as e:
        text = str(e)
        if not text.startswith("Caught "):
            raise
        last = [line for line in text.splitlines() if line.strip()][-1]
        raise type(e)(last.split(": ", 1)[1] if ": " in last else last) from None


class Normalizer:
    """uint8 NHWC batches -> normalized float32 NCHW on the device (channels_last memory, as ``TensorBatches``)."""

    def __init__(self, device: torch.device, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> None:
        self.device = device
        std_t = torch.tensor(std, dtype=torch.float32, device=device)
        self.scale = 1.0 / (255.0 * std_t)
        self.shift = -torch.tensor(mean, dtype=torch.float32, device=device) / std_t

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True).to(torch.float32)
        return x.mul_(self.scale).add_(self.shift).permute(0, 3, 1, 2)


class StreamedBatches:
    """Training batches decoded on the fly: a fresh order and fresh augmentation every epoch.

    ``generator`` (a CPU ``torch.Generator``) is the only random source: each epoch draws the order
    and one seed per image from it before any worker starts, so ``generator.get_state()`` at an
    epoch boundary is a complete resume point (the loop checkpoints it).
    """

    def __init__(
        self,
        index: FolderIndex,
        *,
        size: int,
        batch_size: int,
        generator: torch.Generator,
        device: torch.device | str,
        workers: int = 4,
    ) -> None:
        if batch_size < 1 or batch_size > len(index):
            raise WsbenchError(
                f"batch_size {batch_size} must be within 1..{len(index)} (the images of {index.root / index.part})"
            )
        self.index, self.size, self.batch_size = index, int(size), int(batch_size)
        self.generator = generator
        self.device = torch.device(device)
        self.normalize = Normalizer(self.device)
        self.plan = _Plan()
        self.workers = int(workers)
        self._loader: torch.utils.data.DataLoader | None = None

    @property
    def num_examples(self) -> int:
        return len(self.index)

    def __len__(self) -> int:
        return self.num_examples // self.batch_size  # drop_last: every step sees a full batch

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.randperm(self.num_examples, generator=self.generator).tolist()
        seeds = torch.randint(0, 2**62, (self.num_examples,), generator=self.generator).tolist()
        b = self.batch_size
        self.plan.batches = [[(order[j], seeds[j]) for j in range(i * b, (i + 1) * b)] for i in range(len(self))]
        if self._loader is None:
            self._loader = _loader(self.index, self.size, self.plan, self.workers, self.device.type == "cuda")
        try:
            for x, y in _unwrapped(self._loader):
                yield self.normalize(x), y.to(self.device, non_blocking=True)
        except WsbenchError:
            self._loader = None  # its persistent workers end with it, rather than wait for a next epoch
            raise

    def __getstate__(self) -> dict[str, Any]:  # worker processes never need the loader itself
        return {**self.__dict__, "_loader": None}


def decode_fixed(index: FolderIndex, size: int, workers: int = 4, batch_size: int = 256) -> np.ndarray:
    """Every image of ``index`` with the evaluation crop, as one uint8 NHWC array (decoded in parallel)."""
    plan = _Plan()
    plan.batches = [[(i, -1) for i in range(s, min(s + batch_size, len(index)))] for s in range(0, len(index), batch_size)]
    loader = _loader(index, size, plan, min(workers, len(plan.batches)), pin=False)
    out = np.empty((len(index), size, size, 3), dtype=np.uint8)
    for k, (x, _) in enumerate(_unwrapped(loader)):
        out[k * batch_size : k * batch_size + len(x)] = x.numpy()
    return out


def throughput(index: FolderIndex, size: int, workers: int, batches: int = 20, batch_size: int = 64, seed: int = 0) -> float:
    """Training-transform images per second of the streamed loader (worker start-up excluded: the first batch is not timed)."""
    import time

    stream = StreamedBatches(
        index, size=size, batch_size=batch_size, generator=torch.Generator().manual_seed(seed), device="cpu", workers=workers
    )
    n, start = 0, None
    for k, (x, _) in enumerate(stream):
        if k == 0:
            start = time.perf_counter()
            continue
        n += len(x)
        if k == batches:
            break
    assert start is not None
    return n / (time.perf_counter() - start)
