"""Data sets and batches: CIFAR-10 readers, fixed splits, device-resident training batches."""

from harness.data.batches import TensorBatches, crop_flip
from harness.data.cifar10 import CIFAR10_MEAN, CIFAR10_STD, CLASSES, ImageSet, load_cifar10
from harness.data.splits import SPLITS, Split, get_split

__all__ = [
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "CLASSES",
    "ImageSet",
    "load_cifar10",
    "SPLITS",
    "Split",
    "get_split",
    "TensorBatches",
    "crop_flip",
]
