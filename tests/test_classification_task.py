"""The CIFAR classification task's own options: the order the scored images are scored in."""

import numpy as np
import torch

from harness.catalog import PROTOCOLS, TASKS


def _eval_labels(order: str, labels: np.ndarray) -> torch.Tensor:
    p = PROTOCOLS.get("nb201-smoke").replace(task_options={"subset": 600, "eval_order": order}, eval_batch_size=50)
    task = TASKS.get("cifar10")
    images = np.zeros((len(labels), 32, 32, 3), dtype=np.uint8)
    held = (images, labels.astype(np.int64))
    data = task._cell_data(p, task.options(p), held, held, 0, torch.device("cpu"), False, {})
    return torch.cat([y for _, y in data.eval_batches])


def test_shuffled_scoring_order_mixes_class_grouped_images_in_a_fixed_order():
    grouped = np.repeat(np.arange(10), 20)  # the JPEG pack's order: class by class
    stored, shuffled = _eval_labels("stored", grouped), _eval_labels("shuffled", grouped)
    assert stored.tolist() == grouped.tolist()
    assert sorted(shuffled.tolist()) == sorted(stored.tolist()) and not torch.equal(stored, shuffled)
    assert torch.equal(shuffled, _eval_labels("shuffled", grouped))  # fixed per protocol
    assert "eval_order" not in PROTOCOLS.get("nb201-smoke").to_dict()  # the default changes no hash


def test_shuffled_scoring_order_keeps_an_order_that_is_already_mixed():
    mixed = np.random.default_rng(3).permutation(np.repeat(np.arange(10), 20))  # e.g. the python batches' official order
    assert _eval_labels("shuffled", mixed).tolist() == mixed.tolist()
