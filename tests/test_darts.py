"""DARTS (first order) and GDAS: alpha, the architecture step, sampling, the pick, resume in a cell."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from conftest import needs_data

from harness.api.errors import WsbenchError
from harness.catalog import PROTOCOLS, SPACES, STRATEGIES
from harness.seeding import numpy_stream
from spaces.nb201.supernet import NB201Supernet

SPACE = SPACES.get("nb201")
TINY = PROTOCOLS.get("nb201-smoke").replace(
    name="tiny-darts",
    task_options={"subset": 400},
    eval_images=100,
    eval_batch_size=100,
    archset_n=12,
)


def _bound(name: str, seed: int = 0, steps_per_epoch: int = 10, epochs: int = 5, **opts):
    s = STRATEGIES.get(name)(SPACE, numpy_stream(seed, "arch"), **opts)
    model = NB201Supernet(C=2, N=1, seed=0)
    s.bind(model, steps_per_epoch, epochs)
    return s, model


def _batch(seed: int):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(8, 3, 8, 8, generator=gen), torch.randint(0, 10, (8,), generator=gen)


@pytest.mark.parametrize("name", ["darts", "gdas"])
def test_alpha_is_small_seeded_on_the_model_device_and_picks_its_argmax(name):
    s, model = _bound(name)
    assert s.alpha.shape == (6, 5) and s.alpha.device == next(model.parameters()).device and s.alpha.requires_grad
    assert 0 < s.alpha.abs().max() < 1e-2  # 1e-3 * N(0, 1)
    assert not torch.equal(s.alpha, _bound(name, seed=1)[0].alpha)
    with torch.no_grad():
        s.alpha.zero_()
        s.alpha[torch.arange(6), torch.tensor([4, 0, 3, 2, 1, 3])] = 1.0
    assert s.selected() == (4, 0, 3, 2, 1, 3)


def test_darts_arch_step_is_one_first_order_adam_step_and_leaves_weights_alone():
    s, model = _bound("darts")
    x, y = _batch(1)
    alpha = s.alpha.detach().clone().requires_grad_()
    # The reference: gradient of the arch loss under the *current* weights, then Adam(3e-4, (0.5, 0.999), 1e-3).
    ref = torch.optim.Adam([alpha], lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    F.cross_entropy(model(x, alpha.softmax(-1)), y).backward()
    ref.step()
    model.zero_grad(set_to_none=True)  # the reference's backward filled them
    weights = [p.detach().clone() for p in model.parameters()]
    init = s.alpha.detach().clone()
    s.arch_step(0, model, x, y)
    assert (s.alpha.detach() != init).all()
    torch.testing.assert_close(s.alpha.detach(), alpha.detach(), rtol=0, atol=1e-9)
    assert all(p.grad is None for p in model.parameters())  # only alpha's gradient was built
    assert all(torch.equal(a, b) for a, b in zip(weights, model.parameters()))
    (w,) = s.paths(0)
    assert not w.requires_grad and torch.allclose(w, s.alpha.detach().softmax(-1))


def test_darts_arch_steps_lower_the_architecture_loss():
    s, model = _bound("darts", arch_lr=0.05)
    x, y = _batch(2)
    with torch.no_grad():
        before = F.cross_entropy(model(x, s.alpha.softmax(-1)), y).item()
    for step in range(60):
        s.arch_step(step, model, x, y)
    with torch.no_grad():
        after = F.cross_entropy(model(x, s.alpha.softmax(-1)), y).item()
    assert after < before - 1e-3


def test_gdas_temperature_falls_linearly_per_epoch_from_tau_max_to_tau_min():
    s, _ = _bound("gdas", steps_per_epoch=10, epochs=5)
    assert [s.tau(step) for step in (0, 9, 10, 25, 39, 40, 49, 500)] == pytest.approx(
        [10.0, 10.0, 7.525, 5.05, 2.575, 0.1, 0.1, 0.1]
    )
    assert _bound("gdas", epochs=1)[0].tau(3) == 10.0


def test_gdas_samples_one_op_per_edge_following_alpha_and_every_logit_gets_a_gradient():
    s, model = _bound("gdas", steps_per_epoch=1, epochs=2)
    # The arch step's loss reaches every logit (straight-through + zero hard weights kept in the
    # graph), though only one op per edge runs. (Not "alpha moved": Adam's weight decay moves it anyway.)
    w = s.arch_weights(0)
    x, y = _batch(3)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(x, w), y), [s.alpha])
    assert ((w.detach() == 0) | (w.detach() - 1).abs().lt(1e-6)).all() and (grad != 0).all()
    counts = torch.zeros(6, 5)
    for step in range(200):
        (w,) = s.paths(step)
        assert not w.requires_grad and ((w == 0) | (w == 1)).all() and (w.sum(1) == 1).all()
        counts += w
    assert (counts > 0).all()  # tau = 10 at first, near-uniform alpha: every op gets sampled
    # At tau_min with a dominant op per edge, the sample is that op.
    with torch.no_grad():
        s.alpha.zero_()
        s.alpha[torch.arange(6), torch.tensor([1, 2, 3, 4, 0, 2])] = 20.0
    assert all(s.paths(1)[0].argmax(1).tolist() == [1, 2, 3, 4, 0, 2] for _ in range(20))


@pytest.mark.parametrize("name", ["darts", "gdas"])
def test_resume_before_or_after_bind_continues_exactly(name):
    s, model = _bound(name)
    for step in range(5):
        s.arch_step(step, model, *_batch(step))
    state = copy.deepcopy(s.state_dict())
    late, late_model = _bound(name, seed=7)
    late.load_state_dict(state)
    early = STRATEGIES.get(name)(SPACE, numpy_stream(7, "arch"))
    early.load_state_dict(state)  # before bind: applied when alpha is created
    early_model = NB201Supernet(C=2, N=1, seed=0)
    early.bind(early_model, 10, 5)
    for step in range(5, 9):
        for strat, net in ((s, model), (late, late_model), (early, early_model)):
            strat.arch_step(step, net, *_batch(step))
    assert torch.equal(s.alpha, late.alpha) and torch.equal(s.alpha, early.alpha)
    assert all(torch.equal(a, b) and torch.equal(a, c) for a, b, c in zip(s.paths(9), late.paths(9), early.paths(9)))


@pytest.mark.parametrize("name", ["darts", "gdas"])
def test_spaces_without_a_mixed_forward_are_a_one_line_error(name):
    # Asked by capability, not by name: NB101 declares no grid and no mixed forward.
    with pytest.raises(WsbenchError, match=f"strategy '{name}' needs mixed_forward, which space 'nb101' does not provide") as e:
        STRATEGIES.get(name)(SPACES.get("nb101"), numpy_stream(0, "arch"))
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("opts", [{"arch_lr": 0}, {"arch_weight_decay": -1}, {"tau_min": 0}, {"tau_min": 20.0}])
def test_bad_options_are_one_line_errors(opts):
    with pytest.raises(WsbenchError, match="gdas option"):
        STRATEGIES.get("gdas")(SPACE, numpy_stream(0, "arch"), **opts)


@needs_data()
@pytest.mark.parametrize("name", ["darts", "gdas"])
def test_interrupted_cell_resumes_to_identical_numbers_and_records_the_pick(name, tmp_path):
    from harness.engine.cell import CellSpec
    from harness.engine.loop import run_cell

    spec = CellSpec("nb201", name, TINY, seed=0)
    straight = run_cell(spec, root=tmp_path / "a", log=lambda *_: None)

    def crash_in_epoch_two(msg):
        if "epoch 2/2" in msg:  # epoch 2 trained, its checkpoint not yet written: resume from epoch 1
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_cell(spec, root=tmp_path / "b", log=crash_in_epoch_two)
    msgs: list[str] = []
    resumed = run_cell(spec, root=tmp_path / "b", log=msgs.append)
    assert any("resuming" in m for m in msgs)
    for f in ("scores/epoch_001.csv", "scores/epoch_002.csv", "train_log.csv"):
        a = pd.read_csv(spec.run_dir(tmp_path / "a") / f).drop(columns=["seconds", "score_seconds"], errors="ignore")
        b = pd.read_csv(spec.run_dir(tmp_path / "b") / f).drop(columns=["seconds", "score_seconds"], errors="ignore")
        pd.testing.assert_frame_equal(a, b)
    log = pd.read_csv(spec.run_dir(tmp_path / "a") / "train_log.csv")
    assert log["selected_arch"].map(SPACE.parse).notna().all()
    assert straight["selected"] == resumed["selected"]
    assert straight["selected"]["arch"] == log["selected_arch"].iloc[-1]
    for gt in straight["selected"]["ground_truth"].values():
        assert 0 <= gt["fraction_better"] <= 1
