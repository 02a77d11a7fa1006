"""Stacked replicas (``harness.engine.replicas``): k supernets in one step train as each would alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from harness.api.errors import WsbenchError
from harness.catalog import PROTOCOLS, SPACES, STRATEGIES, TASKS
from harness.engine.replicas import replica_state_dict, replica_step, replicas_for
from harness.engine.step import Tally, train_step, trainer_for
from harness.seeding import numpy_stream

SPACE = SPACES.get("nb201")
TASK = TASKS.get("cifar10")
STEPS, K, BATCH = 6, 3, 8
SEARCH_CELL = {"cell_bn_affine": False, "cell_bn_track": False, "cell_dead_ops": True}


def _protocol(zero_grad: str):
    # A large learning rate, weight decay and a clip that binds (initial norms are about 1.2), so
    # every part of the update shows in the weights.
    return PROTOCOLS.get("nb201-smoke").replace(zero_grad=zero_grad, lr=0.1, lr_min=0.01, weight_decay=0.01, grad_clip=1.0)


def _supernet(replica: int, network: dict) -> nn.Module:
    # float64: a few steps of this tiny network amplify float32 rounding by ~1e4 (BN over
    # near-constant channels), which would hide a real difference behind noise.
    return SPACE.build_supernet({"C": 4, "N": 1, **network}, TASK.spec(), seed=replica).double()


def _strategy(replica: int, granularity: str):
    return STRATEGIES.get("spos")(SPACE, numpy_stream(replica, "arch"), granularity=granularity)


def _batches(replica: int) -> list:
    g = torch.Generator().manual_seed(1000 + replica)
    return [(x.double(), y) for x, y in (TASK.synthetic_batch(BATCH, g) for _ in range(STEPS))]


def _alone(p, replica: int, network: dict, granularity: str) -> tuple[dict, list[float]]:
    """The ordinary step, one replica by itself: its final state and per-step losses."""
    model, strategy = _supernet(replica, network), _strategy(replica, granularity)
    strategy.bind(model, STEPS, 1)
    t = trainer_for(p, model, strategy, TASK, STEPS, 1)
    losses = []
    for step, batch in enumerate(_batches(replica)):
        tally = Tally.zeros(torch.device("cpu"))
        tally.loss_sum = tally.loss_sum.double()
        train_step(t, step, batch, tally=tally)
        losses.append(float(tally.loss_sum) / tally.seen)
    return t.model.state_dict(), losses


@pytest.mark.parametrize(
    "zero_grad, network, granularity",
    [("zeros", {}, "network"), ("none", {}, "network"), ("zeros", SEARCH_CELL, "position")],
    ids=["zeros", "none", "search-cell-per-position"],
)
def test_stacked_replicas_train_exactly_as_each_alone(zero_grad, network, granularity):
    p = _protocol(zero_grad)
    r = replicas_for(p, [_supernet(i, network) for i in range(K)], [_strategy(i, granularity) for i in range(K)], TASK, STEPS, 1)
    data = [_batches(i) for i in range(K)]
    stacked = []
    for step in range(STEPS):
        xs, ys = torch.stack([d[step][0] for d in data]), torch.stack([d[step][1] for d in data])
        stacked.append(replica_step(r, step, xs, ys).tolist())
    worst_w = worst_l = 0.0
    for i in range(K):
        ref, losses = _alone(p, i, network, granularity)
        mine = replica_state_dict(r, i)
        assert mine.keys() == ref.keys()
        worst_w = max(worst_w, max(float((mine[n].double() - v.double()).abs().max()) for n, v in ref.items()))
        worst_l = max(worst_l, max(abs(a - b[i]) for a, b in zip(losses, stacked)))
        start = _supernet(i, network).state_dict()
        assert any(not torch.equal(start[n], v) for n, v in ref.items())  # it trained
    print(
        f"\nmax |diff| over {K} replicas x {STEPS} steps ({zero_grad}, {granularity}): weights {worst_w:.2e}, losses {worst_l:.2e}"
    )
    assert worst_w < 1e-12 and worst_l < 1e-12
    # Own seeds: the replicas are different networks that saw different batches.
    assert not torch.equal(replica_state_dict(r, 0)["classifier.weight"], replica_state_dict(r, 1)["classifier.weight"])


def test_the_masked_forward_is_the_path_forward():
    """Every candidate op computed and masked gives the path's logits exactly, per-position paths included."""
    rng = np.random.default_rng(0)
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    for network in ({}, SEARCH_CELL):
        model = SPACE.build_supernet({"C": 4, "N": 1, **network}, TASK.spec(), seed=0)
        for _ in range(20):
            arch = SPACE.sample(rng)
            assert torch.equal(model(x, arch), model.forward_masked(x, model.path_mask(arch)))
        per_position = [SPACE.sample(rng) for _ in range(model.cell_positions)]
        assert torch.equal(model(x, per_position), model.forward_masked(x, model.path_mask(per_position)))


class _Plain(nn.Module):
    def forward(self, x, arch):
        return x


class _Wrapping(STRATEGIES.get("spos")):
    """A strategy that trains a wrapper of the supernet (as few-shot's copies do)."""

    def bind(self, model, steps_per_epoch, epochs):
        return nn.Sequential(model)


@pytest.mark.parametrize(
    "change, models, strategy, needle",
    [
        ({"optimizer": "asgd", "momentum": 0.0, "nesterov": False}, None, "spos", "optimizer 'asgd' is not supported"),
        ({}, [_Plain()], "spos", "the supernet has no masked forward"),
        ({}, None, "darts", r"strategy 'darts' acts on one module \(arch_step\)"),
        ({}, None, "fewshot", r"strategy 'fewshot' acts on one module \(before_step\)"),
        ({}, None, _Wrapping, "trains its own copies of the supernet"),
    ],
)
def test_what_the_stacked_step_cannot_do_is_a_one_line_error(change, models, strategy, needle):
    p = PROTOCOLS.get("nb201-smoke").replace(zero_grad="zeros", **change)
    models = models or [SPACE.build_supernet({"C": 4, "N": 1}, TASK.spec(), seed=0)]
    make = STRATEGIES.get(strategy) if isinstance(strategy, str) else strategy
    with pytest.raises(WsbenchError, match=needle) as e:
        replicas_for(p, models, [make(SPACE, numpy_stream(0, "arch"))], TASK, 2, 1)
    assert "\n" not in str(e.value)
