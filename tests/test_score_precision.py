"""Scoring precision (``Protocol.score_autocast``): what it resolves to, and that bf16 keeps a ranking."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import needs_data
from scipy.stats import kendalltau

from harness.api.errors import WsbenchError
from harness.catalog import PROTOCOLS, SPACES, STRATEGIES, TASKS
from harness.engine.evaluator import score_architectures, scoring_autocast
from harness.engine.step import train_step, trainer_for
from harness.seeding import numpy_stream


@pytest.mark.parametrize(
    "autocast, score_autocast, expected",
    [(None, None, None), ("bf16", None, "bf16"), (None, "bf16", "bf16"), ("bf16", "fp32", None), (None, "fp32", None)],
)
def test_scoring_precision_is_the_training_one_unless_set(autocast, score_autocast, expected):
    p = PROTOCOLS.get("nb201-smoke").replace(autocast=autocast, score_autocast=score_autocast)
    assert scoring_autocast(p) == expected


def test_score_autocast_leaves_existing_hashes_alone_and_takes_known_values_only():
    p = PROTOCOLS.get("nb201-smoke")
    assert "score_autocast" not in p.to_dict()
    assert p.replace(score_autocast="bf16").to_dict()["score_autocast"] == "bf16"
    with pytest.raises(WsbenchError, match="score_autocast") as e:
        p.replace(score_autocast="fp16")
    assert "\n" not in str(e.value)


@pytest.fixture(scope="module")
def trained():
    """A C=4 supernet after 2 SPOS epochs of the smoke protocol's 600 CIFAR-10 images, with its scoring data."""
    space = SPACES.get("nb201")
    p = PROTOCOLS.get("nb201-smoke").replace(eval_images=100, eval_batch_size=100, calib_batch_size=50)
    task = TASKS.get(p.task_name(space))
    data = task.make_data(p, 0, torch.device("cpu"))
    model = space.build_supernet(p.network_for(space), task.spec(), seed=0)
    t = trainer_for(p, model, STRATEGIES.get("spos")(space, numpy_stream(0, "arch")), task, len(data.train), 2)
    for step, batch in enumerate(b for _ in range(2) for b in data.train):
        train_step(t, step, batch)
    return space, p, task, model, data


@needs_data()
def test_bf16_scoring_keeps_the_float32_ranking(trained):
    space, p, task, model, data = trained
    rng = np.random.default_rng(1)
    archs = [space.sample(rng) for _ in range(30)]
    ids = [space.arch_id(a) for a in archs]
    scores = {
        mode: score_architectures(model, archs, ids, data.eval_batches, p.bn_mode, data.calib_batches, autocast=mode, task=task)
        for mode in (None, "bf16")
    }
    fp32, bf16 = scores[None]["loss"].to_numpy(), scores["bf16"]["loss"].to_numpy()
    tau = kendalltau(fp32, bf16).statistic
    print(
        f"\nKendall tau float32 vs bf16 scoring, loss of {len(archs)} archs: {tau:.4f}; max |diff| {np.abs(fp32 - bf16).max():.2e}"
    )
    assert not np.array_equal(fp32, bf16)  # bf16 really ran: its losses differ in the low digits
    assert tau > 0.9
