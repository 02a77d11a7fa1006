"""The CIFAR classification task's own options: the order the scored images are scored in."""

import torch

from harness.catalog import PROTOCOLS, TASKS


def _eval_labels(order: str) -> torch.Tensor:
    p = PROTOCOLS.get("nb201-smoke").replace(task_options={"subset": 600, "eval_order": order}, eval_batch_size=50)
    data = TASKS.get("cifar10").synthetic_data(p, 0, torch.device("cpu"))
    return torch.cat([y for _, y in data.eval_batches])


def test_shuffled_scoring_order_is_a_fixed_permutation_of_the_same_images():
    stored, shuffled = _eval_labels("stored"), _eval_labels("shuffled")
    assert sorted(stored.tolist()) == sorted(shuffled.tolist()) and not torch.equal(stored, shuffled)
    assert torch.equal(shuffled, _eval_labels("shuffled"))  # fixed per protocol
    assert "eval_order" not in PROTOCOLS.get("nb201-smoke").to_dict()  # the default changes no hash
