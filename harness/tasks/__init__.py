"""Tasks: what a cell trains on and how an architecture is scored (registered, like spaces)."""

from harness.api.registry import Registry

TASKS: Registry = Registry("task")
TASKS.add_lazy("cifar10", "harness.tasks.classification:CIFAR10_CLASSIFICATION")
TASKS.add_lazy("ptb", "harness.tasks.language_model:PTB_LANGUAGE_MODEL")
TASKS.add_lazy("imagenet", "harness.tasks.imagenet:IMAGENET_CLASSIFICATION")
