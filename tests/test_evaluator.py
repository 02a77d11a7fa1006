"""The shared-weight evaluator: BN modes, chance-level cells, and no side effects on the supernet."""

import numpy as np
import pytest
import torch

from harness.engine.evaluator import preserved_state, recalibrate_bn, score_architectures
from spaces.nb201.supernet import NB201Supernet

ALL_NONE = (0, 0, 0, 0, 0, 0)
CONV = (3, 3, 3, 3, 3, 3)


def _balanced_batches(n_per_class=20, batch=50, seed=0):
    # Each class is a fixed random template plus noise: learnable by any conv path in a few steps.
    templates = torch.randn(10, 3, 8, 8, generator=torch.Generator().manual_seed(1234))
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(10).repeat_interleave(n_per_class)
    x = templates[y] + 0.5 * torch.randn(len(y), 3, 8, 8, generator=g)
    perm = torch.randperm(len(y), generator=g)
    x, y = x[perm], y[perm]
    return [(x[i : i + batch], y[i : i + batch]) for i in range(0, len(y), batch)]


def _trained_supernet(arch=CONV, steps=60, seed=0):
    """A tiny supernet trained on one path of a learnable synthetic task."""
    torch.manual_seed(seed)
    model = NB201Supernet(C=4, N=1, num_classes=10, seed=seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    batches = _balanced_batches(seed=seed + 1)
    model.train()
    for i in range(steps):
        x, y = batches[i % len(batches)]
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x, arch), y).backward()
        opt.step()
    return model


def test_all_none_cell_scores_exactly_chance_on_a_balanced_set():
    model = _trained_supernet()
    batches = _balanced_batches(seed=5)
    for mode in ("recalibrate", "batch", "running"):
        df = score_architectures(model, [ALL_NONE], ["none"], batches, mode, calib_batches=batches[:2])
        # Its logits do not depend on the input, so it predicts one class: 1/10 of a balanced set.
        assert df["accuracy"].iloc[0] == pytest.approx(10.0)


def test_bn_modes_differ_and_recalibration_restores_accuracy():
    model = _trained_supernet()
    calib = _balanced_batches(seed=7)
    evalb = _balanced_batches(seed=9)
    recal = score_architectures(model, [CONV], ["c"], evalb, "recalibrate", calib_batches=calib)["accuracy"].iloc[0]
    # Wreck the running statistics, as mixing many paths' statistics does in a real supernet.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.add_(5.0)
            m.running_var.mul_(50.0)
    running = score_architectures(model, [CONV], ["c"], evalb, "running")["accuracy"].iloc[0]
    recal2 = score_architectures(model, [CONV], ["c"], evalb, "recalibrate", calib_batches=calib)["accuracy"].iloc[0]
    batch = score_architectures(model, [CONV], ["c"], evalb, "batch")["accuracy"].iloc[0]
    assert recal > 40.0, recal  # the task is learnable; chance is 10
    assert running < recal - 15.0, (running, recal)
    assert recal2 == pytest.approx(recal)  # recalibration ignores whatever was in the buffers
    assert batch != running


def test_scoring_leaves_the_supernet_untouched():
    model = _trained_supernet()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    score_architectures(
        model, [CONV, (1, 2, 0, 4, 1, 3)], ["a", "b"], _balanced_batches(), "recalibrate", calib_batches=_balanced_batches(seed=3)
    )
    score_architectures(model, [CONV], ["a"], _balanced_batches(), "batch")
    after = model.state_dict()
    for k, v in before.items():
        assert torch.equal(v, after[k]), k
    assert model.training
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            assert m.momentum == 0.1


def test_recalibration_is_exact_average_over_batches():
    model = _trained_supernet()
    calib = _balanced_batches(seed=11)
    with preserved_state(model):
        recalibrate_bn(model, CONV, calib)
        stem_bn = model.stem[1]
        x = torch.cat([b[0] for b in calib])
        with torch.no_grad():
            h = model.stem[0](x)
        # Equal-size batches: the cumulative average of batch means is the mean over all images.
        np.testing.assert_allclose(stem_bn.running_mean.numpy(), h.mean(dim=(0, 2, 3)).numpy(), rtol=1e-4, atol=1e-5)


def test_unknown_bn_mode_is_a_one_line_error():
    from harness.api.errors import WsbenchError

    model = _trained_supernet(steps=1)
    with pytest.raises(WsbenchError, match="unknown BN mode 'recal'.*did you mean 'recalibrate'"):
        score_architectures(model, [CONV], ["a"], _balanced_batches(), "recal")


def test_bf16_autocast_scoring_is_close_to_float32_but_not_identical():
    model = _trained_supernet()
    calib, evalb = _balanced_batches(seed=7), _balanced_batches(seed=8)
    archs = [CONV, (3, 2, 3, 1, 3, 3), (2, 2, 2, 2, 2, 2), (1, 3, 0, 3, 1, 3)]
    ids = [str(a) for a in archs]
    fp32 = score_architectures(model, archs, ids, evalb, "recalibrate", calib)
    bf16 = score_architectures(model, archs, ids, evalb, "recalibrate", calib, autocast="bf16")
    assert not np.array_equal(fp32["loss"].to_numpy(), bf16["loss"].to_numpy())  # autocast really ran
    np.testing.assert_allclose(bf16["loss"], fp32["loss"], rtol=0.05, atol=0.02)
    assert (np.abs(bf16["accuracy"] - fp32["accuracy"]) <= 5.0).all()


def test_unknown_autocast_mode_is_a_one_line_error():
    from harness.api.errors import WsbenchError
    from harness.catalog import PROTOCOLS

    with pytest.raises(WsbenchError, match="autocast must be one of unset, bf16, got 'fp16'"):
        PROTOCOLS.get("quick").replace(autocast="fp16")
    with pytest.raises(WsbenchError, match="unknown autocast mode 'fp8'"):
        score_architectures(_trained_supernet(steps=1), [CONV], ["c"], _balanced_batches(), "batch", autocast="fp8")


def test_autocast_is_hashed_only_when_set():
    """Protocol fields added later must not change the hashes (and so the results) of existing cells."""
    from harness.catalog import PROTOCOLS
    from harness.engine.cell import CellSpec

    quick = PROTOCOLS.get("quick")
    assert "autocast" not in quick.to_dict() and quick.to_dict().get("autocast") is None
    plain = CellSpec("nb201", "spos", quick, 0).cell_hash()
    assert CellSpec("nb201", "spos", quick.replace(autocast="bf16"), 0).cell_hash() != plain
    assert CellSpec("nb201", "spos", quick.replace(autocast=None), 0).cell_hash() == plain
