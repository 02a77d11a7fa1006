"""Named, seeded data-split protocols over CIFAR-10 (and CIFAR-100): each maps part names to index arrays.

Protocols (``SPLITS``):

- ``"nb201-cifar10-valid"``: the 50k training images halved into ``train`` / ``valid``
  (2,500 / 2,500 per class). NAS-Bench-201 used one fixed split file that we do not ship,
  so this is an NB201-*style* split drawn from ``seed``, not the benchmark's own indices.
- ``"train80-val20"``: the training images split 80 / 20 per class into ``train`` / ``valid``.
- ``"train-test"``: ``train`` = all training images, ``test`` = the official test images.

Splits balance classes; their count is a parameter (``num_classes``): unset, it is CIFAR-10's 10,
or more where the labels hold more (CIFAR-100's 100), so CIFAR-10 splits are what they always were.

Indices point into a CIFAR-10 part *as returned by ``load_cifar10`` for one source*: the
batches folder and the JPEG pack order images differently, so a split is computed from (and
only valid with) the labels of the source it is used with.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from harness.api.errors import WsbenchError, unknown
from harness.api.registry import Registry

_NUM_CLASSES = 10

# A protocol gets labels per CIFAR part, a generator and the class count, and returns part -> (cifar part, indices).
Protocol = Callable[[Mapping[str, np.ndarray], np.random.Generator, int], dict[str, tuple[str, np.ndarray]]]


def class_count(labels: np.ndarray | Mapping[str, np.ndarray], num_classes: int | None = None) -> int:
    """``num_classes`` if given, else CIFAR-10's 10 or the labels' count where they hold more classes.

    The floor of 10 keeps every CIFAR-10 split (and its random draws) exactly as before, even for
    label arrays that happen to miss the last classes.
    """
    if num_classes is not None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
            raise WsbenchError(f"num_classes must be a positive integer, got {num_classes!r}")
        return int(num_classes)
    arrays = list(labels.values()) if isinstance(labels, Mapping) else [labels]
    top = max((int(np.max(a)) for a in arrays if np.size(a)), default=-1)
    return max(_NUM_CLASSES, top + 1)


@dataclass(frozen=True, eq=False)
class Split:
    """A resolved split: part name -> (CIFAR-10 part ``"train"``/``"test"``, sorted int64 indices)."""

    name: str
    seed: int
    subset: int | None
    parts: dict[str, tuple[str, np.ndarray]] = field(default_factory=dict)

    def indices(self, part: str) -> np.ndarray:
        """The index array of one part; a one-line error names the known parts."""
        if part not in self.parts:
            raise unknown(f"part of split {self.name!r}", part, self.parts)
        return self.parts[part][1]

    def sizes(self) -> dict[str, int]:
        """Number of images in each part."""
        return {name: int(idx.size) for name, (_, idx) in self.parts.items()}

    def fingerprint(self) -> str:
        """sha256 over part names, CIFAR-10 parts and indices: identifies the exact images used."""
        h = hashlib.sha256(f"{self.name}|{self.seed}|{self.subset}".encode())
        for name in sorted(self.parts):
            cifar_part, idx = self.parts[name]
            h.update(f"|{name}:{cifar_part}:".encode())
            h.update(np.ascontiguousarray(idx, dtype="<i8").tobytes())
        return h.hexdigest()


SPLITS: Registry[Protocol] = Registry("data split")


def _balanced_halves(
    labels: np.ndarray, fraction: float, rng: np.random.Generator, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per class, a random ``fraction`` of the indices and the rest (both sorted)."""
    first, second = [], []
    for c in range(num_classes):
        members = np.flatnonzero(labels == c)
        members = members[rng.permutation(members.size)]
        k = int(round(fraction * members.size))
        first.append(members[:k])
        second.append(members[k:])
    return np.sort(np.concatenate(first)), np.sort(np.concatenate(second))


@SPLITS.register("nb201-cifar10-valid")
def _nb201_cifar10_valid(
    labels: Mapping[str, np.ndarray], rng: np.random.Generator, num_classes: int
) -> dict[str, tuple[str, np.ndarray]]:
    """NB201-style: the training set halved per class into train / valid."""
    train, valid = _balanced_halves(labels["train"], 0.5, rng, num_classes)
    return {"train": ("train", train), "valid": ("train", valid)}


@SPLITS.register("train80-val20")
def _train80_val20(
    labels: Mapping[str, np.ndarray], rng: np.random.Generator, num_classes: int
) -> dict[str, tuple[str, np.ndarray]]:
    """The training set split 80 / 20 per class into train / valid."""
    train, valid = _balanced_halves(labels["train"], 0.8, rng, num_classes)
    return {"train": ("train", train), "valid": ("train", valid)}


@SPLITS.register("train-test")
def _train_test(
    labels: Mapping[str, np.ndarray], rng: np.random.Generator, num_classes: int
) -> dict[str, tuple[str, np.ndarray]]:
    """All training images for training, the official test images for testing."""
    del rng, num_classes  # no randomness and no balancing in this protocol
    return {
        "train": ("train", np.arange(labels["train"].size, dtype=np.int64)),
        "test": ("test", np.arange(labels["test"].size, dtype=np.int64)),
    }


def balanced_subset(
    indices: np.ndarray, labels: np.ndarray, size: int, rng: np.random.Generator, num_classes: int | None = None
) -> np.ndarray:
    """At most ``size`` of ``indices``, spread evenly over classes (sorted).

    With K classes (``class_count``), class c keeps ``size // K`` images, plus one for the first
    ``size % K`` classes; for a fixed generator state the subsets are nested as ``size`` grows.
    """
    if size < 0:
        raise WsbenchError(f"subset size must be >= 0, got {size}; pass a positive number of images or None")
    k = class_count(labels, num_classes)
    base, extra = divmod(size, k)
    kept = []
    for c in range(k):
        members = indices[labels[indices] == c]
        members = members[rng.permutation(members.size)]
        kept.append(members[: base + (1 if c < extra else 0)])
    return np.sort(np.concatenate(kept)).astype(np.int64)


def get_split(
    name: str,
    seed: int,
    subset: int | None = None,
    *,
    labels: Mapping[str, np.ndarray] | None = None,
    source: str = "auto",
    num_classes: int | None = None,
) -> Split:
    """Resolve split ``name`` for ``seed``; ``subset`` keeps a class-balanced subset of each part.

    ``labels`` (``{"train": ..., "test": ...}``) defaults to the labels of ``load_cifar10(part, source)``;
    ``num_classes`` (unset: ``class_count`` of the labels) is the number of classes balanced over.
    """
    protocol = SPLITS.get(name)  # unknown name -> one-line error with "did you mean"
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise WsbenchError(f"split seed must be a non-negative integer, got {seed!r}; pass e.g. seed=0")
    if labels is None:
        from harness.data.cifar10 import load_cifar10

        labels = {part: load_cifar10(part, source).labels for part in ("train", "test")}
    labels = {part: np.asarray(y, dtype=np.int64) for part, y in labels.items()}
    k = class_count(labels, num_classes)
    # Two independent streams from one seed: the split itself never depends on `subset`,
    # so a quick run's images are a subset of the full run's images for the same seed.
    split_seq, subset_seq = np.random.SeedSequence(seed).spawn(2)
    parts = protocol(labels, np.random.default_rng(split_seq), k)
    if subset is not None:
        names = sorted(parts)  # one stream per part, assigned in a fixed (sorted) order
        streams = dict(zip(names, subset_seq.spawn(len(names))))
        parts = {
            part: (cifar_part, balanced_subset(idx, labels[cifar_part], subset, np.random.default_rng(streams[part]), k))
            for part, (cifar_part, idx) in parts.items()
        }
    for _, idx in parts.values():
        idx.setflags(write=False)
    return Split(name=name, seed=seed, subset=subset, parts=parts)
