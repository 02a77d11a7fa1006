"""The one training step: off-path gradients, per-step learning-rate factors, validation during training."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import FixedPaths, needs_data

from harness.api.errors import WsbenchError
from harness.catalog import PROTOCOLS, SPACES, STRATEGIES, TASKS
from harness.engine.step import train_step, trainer_for
from harness.seeding import numpy_stream

SPACE = SPACES.get("nb201")


def _trainer(zero_grad: str, paths, lr_factor: float = 1.0):
    p = PROTOCOLS.get("nb201-smoke").replace(zero_grad=zero_grad, lr=0.1, lr_min=0.1, weight_decay=0.01)
    task = TASKS.get("cifar10")
    model = SPACE.build_supernet({"C": 4, "N": 1}, task.spec(), seed=0)

    class Scaled(type(task)):
        def lr_factor(self, batch):
            return lr_factor

    return p, trainer_for(p, model, FixedPaths(paths), Scaled(), 4, 1)


def _batches(n=3):
    g = torch.Generator().manual_seed(0)
    return [TASKS.get("cifar10").synthetic_batch(8, g) for _ in range(n)]


# Step 0 trains the 1x1 conv of edge 1<-0 (every other edge a skip, so it reaches the output);
# step 1 puts skip_connect (no weights) there: that conv is off the path at step 1.
PATHS = [(2, 1, 1, 1, 1, 1), (1, 1, 1, 1, 1, 1), (1, 1, 1, 1, 1, 1)]


def _edge0_conv(model):
    return dict(model.named_parameters())["cells.0.edges.1_0.nor_conv_1x1.1.weight"].detach().clone()


@pytest.mark.parametrize("zero_grad, moves", [("none", False), ("zeros", True)])
def test_off_path_weights_move_only_when_their_gradients_are_zeroed(zero_grad, moves):
    """torch 1.x's zero_grad() zeroed gradients: weight decay and momentum then move ops off the path."""
    _, t = _trainer(zero_grad, PATHS)
    batches = _batches()
    train_step(t, 0, batches[0])  # the conv of edge 0 is trained, so it has a gradient and momentum
    before = _edge0_conv(t.model)
    train_step(t, 1, batches[1])  # off the path now
    assert (not torch.equal(before, _edge0_conv(t.model))) == moves


def test_zeroed_off_path_update_is_sgd_with_a_zero_gradient():
    """The zeros semantics equals one SGD step with grad 0 from the same momentum buffer (decay + momentum)."""
    _, t = _trainer("zeros", PATHS)
    train_step(t, 0, _batches()[0])
    conv = dict(t.model.named_parameters())["cells.0.edges.1_0.nor_conv_1x1.1.weight"]
    w, buf = conv.detach().clone(), t.opt.state[conv]["momentum_buffer"].clone()
    train_step(t, 1, _batches()[1])
    d = 0.01 * w  # zero gradient + weight decay
    new_buf = 0.9 * buf + d
    expected = w - 0.1 * (d + 0.9 * new_buf)  # Nesterov
    torch.testing.assert_close(conv.detach(), expected, rtol=1e-6, atol=1e-7)


def test_a_learning_rate_factor_scales_that_step_only():
    """A task's lr_factor (DARTS-PTB's window scaling) scales one update, and the schedule's lr is untouched."""
    _, plain = _trainer("none", PATHS)
    _, doubled = _trainer("none", PATHS, lr_factor=2.0)
    batch = _batches()[0]
    start = [q.detach().clone() for q in plain.params]
    train_step(plain, 0, batch)
    train_step(doubled, 0, batch)
    for a, b, s in zip(plain.params, doubled.params, start):
        torch.testing.assert_close(b.detach() - s, 2 * (a.detach() - s), rtol=1e-4, atol=1e-6)
    assert doubled.opt.param_groups[0]["lr"] == plain.opt.param_groups[0]["lr"]


@pytest.mark.parametrize(
    "change, needle",
    [
        ({"optimizer": "nt-asgd"}, "validate_every must be >= 1 with optimizer nt-asgd"),
        ({"restore_best": True}, "validate_every must be >= 1 with restore_best"),
        ({"zero_grad": "zero"}, "zero_grad must be one of none, zeros"),
        ({"validate_every": 1, "validate_archs": 0}, "validate_archs must be an integer >= 1"),
    ],
)
def test_bad_validation_settings_are_one_line_errors(change, needle):
    with pytest.raises(WsbenchError, match=needle) as e:
        PROTOCOLS.get("ptb-smoke").replace(**change)
    assert "\n" not in str(e.value)


def test_new_fields_leave_old_hashes_alone():
    p = PROTOCOLS.get("ptb-smoke")
    assert not {"zero_grad", "validate_every", "validate_archs", "asgd_patience", "restore_best"} & set(p.to_dict())
    assert p.replace(zero_grad="zeros").to_dict()["zero_grad"] == "zeros"


# ---------------------------------------------------------------------------------- a cell


@needs_data()
def test_nt_asgd_switches_on_no_improvement_restores_the_best_and_resumes_identically(tmp_path):
    from harness.engine.cell import CellSpec
    from harness.engine.loop import run_cell
    from harness.engine.run_folder import RunFolder

    p = PROTOCOLS.get("ptb-smoke").replace(
        name="ptb-ntasgd", epochs=4, snapshot_epochs=(2, 4), optimizer="nt-asgd", momentum=0.0, validate_every=1,
        validate_archs=3, asgd_patience=1, restore_best=True, lr=20.0, lr_min=20.0,
    )  # fmt: skip
    spec = CellSpec("ptb", "spos", p, 0)
    ref = run_cell(spec, root=tmp_path / "ref", log=lambda *_: None)
    log = RunFolder(spec.run_dir(tmp_path / "ref")).path / "train_log.csv"
    import pandas as pd

    rows = pd.read_csv(log)
    assert list(rows["epoch"]) == [1, 2, 3, 4] and rows["valid_perplexity"].gt(1).all()
    assert rows["restored_best"].iloc[-1] in (True, "True")
    # Here epoch 3 validates worse than epoch 2 (measured): averaged SGD from then on, so the cut in
    # epoch 4 resumes an averaged-SGD cell.
    improved, asgd = rows["valid_improved"].astype(bool).tolist(), rows["asgd"].astype(bool).tolist()
    first = improved.index(False)
    assert all(asgd[first:]) and not any(asgd[:first]) and first < 3

    def crash_in_epoch_four(msg):
        if "epoch 3/4" in msg:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_cell(spec, root=tmp_path / "cut", log=crash_in_epoch_four)
    resumed = run_cell(spec, root=tmp_path / "cut", log=lambda *_: None)
    for name in ("scores/epoch_004.csv", "metrics.csv"):
        assert (spec.run_dir(tmp_path / "cut") / name).read_bytes() == (spec.run_dir(tmp_path / "ref") / name).read_bytes()
    assert resumed["steps"] == ref["steps"] and math.isfinite(float(rows["valid_perplexity"].iloc[-1]))


def test_validation_archs_are_fixed_per_protocol_not_per_seed():
    from harness.engine.validation import validation_archs

    p = PROTOCOLS.get("ptb-smoke").replace(validate_every=1, validate_archs=4)
    space = SPACES.get("ptb")
    a, b = validation_archs(space, p), validation_archs(space, p)
    assert [space.arch_id(x) for x in a] == [space.arch_id(x) for x in b] and len(a) == 4
    assert STRATEGIES.get("spos")(space, numpy_stream(0, "arch")).paths(0)  # the run's own streams are untouched


@needs_data()
def test_a_zeroed_gradients_cell_resumes_to_identical_numbers(tmp_path):
    """Which parameters hold a zeroed gradient is part of the resume point (weight decay moves them)."""
    from harness.engine.cell import CellSpec
    from harness.engine.loop import run_cell

    p = PROTOCOLS.get("nb201-smoke").replace(name="zeros-resume", epochs=3, snapshot_epochs=(3,), zero_grad="zeros")
    spec = CellSpec("nb201", "spos", p, 0)
    run_cell(spec, root=tmp_path / "ref", log=lambda *_: None)

    def crash(msg):
        if "epoch 2/3" in msg:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_cell(spec, root=tmp_path / "cut", log=crash)
    run_cell(spec, root=tmp_path / "cut", log=lambda *_: None)
    for name in ("scores/epoch_003.csv", "metrics.csv"):
        assert (spec.run_dir(tmp_path / "cut") / name).read_bytes() == (spec.run_dir(tmp_path / "ref") / name).read_bytes()
