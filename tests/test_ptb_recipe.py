"""The seed paper's DARTS-PTB supernet recipe (``ptb-gpu``): each of its options against an independent
transcription of the seed's code (matluster/anonymous-2102: configs/ptb.py, trainers/ptb.py,
space/ptb/network.py; its loader's rule from the same author's ultmaster/AceNAS datasets/ptb.py), and
each option's default against what wsbench did before it existed.

The transcriptions below are written from the seed's code, not from wsbench's: the seed's step
(``_adjust_learning_rate``, clipping, SGD / torch 1.x ASGD), its loader's window positions, its
validation average (``_average``) and its non-monotone ASGD trigger (``main``'s patience rule).
"""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from conftest import FixedPaths, needs_data

from harness.api.errors import WsbenchError
from harness.catalog import PROTOCOLS, SPACES, TASKS, protocol_entry
from harness.data.tokens import BpttStream, TokenBatch, eval_windows
from harness.engine.schedule import switched_to_asgd
from harness.engine.step import train_step, trainer_for

SPACE = SPACES.get("ptb")
TASK = TASKS.get("ptb")
RECIPE = PROTOCOLS.get("ptb-gpu")

#: The seed's values, transcribed here from matluster/anonymous-2102 configs/ptb.py (and README.md's
#: supernet command for the epochs), each under the wsbench name it becomes.
SEED = {
    "network": {"hidden": 850, "dropout": 0.75, "dropout_h": 0.25, "dropout_x": 0.75, "dropout_i": 0.2, "dropout_e": 0.1},
    "init_range": 0.04,
    "task_options": {"bptt": 35, "max_seq_len_delta": 20, "ar": 0.0, "tar": 1e-3, "window_scaling": "lr", "epoch_end": "text"},
    "batch_size": 256,
    "eval_batch_size": 10,
    "lr": 40.0,
    "lr_min": 40.0,  # no schedule: the base lr is initial_lr at every step
    "momentum": 0.0,
    "nesterov": False,
    "weight_decay": 8e-7,
    "grad_clip": 0.1,
    "optimizer": "nt-asgd",
    "asgd_patience": 5,
    "validate_every": 5,
    "validate_archs": 10,
    "restore_best": True,
    "epochs": 1000,  # README.md: trainers.ptb --epochs 1000 (configs/ptb.py's default: 3000)
}


# ---------------------------------------------------------------------------------- the recipe


def test_recipe_holds_the_seeds_values_and_cites_each():
    p = RECIPE
    for key, value in SEED.items():
        if key == "network":
            assert {k: p.network_for(SPACE)[k] for k in value} == value
        elif key == "init_range":
            assert p.network["init_range"] == value and "init_range" not in p.network_for(SPACE)  # the default
        elif key == "task_options":
            assert {k: TASK.options(p)[k] for k in value} == value
        else:
            assert getattr(p, key) == value, key
    opts = TASK.options(p)
    assert opts["eval_part"] == "valid" and opts["eval_tokens"] is None and opts["jitter"]
    sources = protocol_entry("ptb-gpu").sources
    cited = {f"network.{k}" for k in p.network} | {f"task_options.{k}" for k in p.task_options}
    cited |= {k for k in SEED if k not in ("network", "task_options", "init_range")}
    assert cited <= set(sources), sorted(cited - set(sources))
    assert all(s.startswith("matluster/anonymous-2102, ") for s in sources.values())


def test_switch_builds_the_seeds_averaged_sgd():
    """trainers/ptb.py: optim.ASGD(params, lr=initial_lr, t0=0., lambd=0., weight_decay=...) (torch's alpha 0.75)."""
    w = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.SGD([w], lr=RECIPE.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    asgd, _ = switched_to_asgd(RECIPE, [w], sched, step=7)
    group = asgd.param_groups[0]
    assert isinstance(asgd, torch.optim.ASGD)
    assert (group["lr"], group["t0"], group["lambd"], group["alpha"], group["weight_decay"]) == (40.0, 0.0, 0.0, 0.75, 8e-7)


# ---------------------------------------------------------------------------------- the step


ARCH = SPACE.sample(np.random.default_rng(4))


def _protocol(**changes):
    options = {**RECIPE.task_options, **changes.pop("task_options", {})}
    return RECIPE.replace(name="ptb-recipe-step", task_options=options, **changes)


def _model():
    """Hidden 8, the recipe's dropouts: two calls give the same weights and the same dropout masks."""
    return SPACE.build_supernet({**RECIPE.network, "hidden": 8}, TASK.spec(), seed=3).train()


def _windows(lengths, bsz=4):
    g = torch.Generator().manual_seed(0)
    out = []
    for n in lengths:
        tokens = torch.randint(0, 10_000, (n + 1, bsz), generator=g)
        out.append((tokens[:-1], tokens[1:].reshape(-1)))
    return out


def _wsbench_steps(p, windows, switch_at=None):
    """wsbench's trainer on the windows (averaged SGD from step ``switch_at`` on, as nt-asgd switches)."""
    task = TASK.configure(p)
    t = trainer_for(p, _model(), FixedPaths.always(ARCH), task, len(windows), 1)  # the seed: one uniform path per step
    hidden = None
    for step, (tokens, y) in enumerate(windows):
        if step == switch_at:
            t.opt, t.sched = switched_to_asgd(p, t.params, t.sched, step)
        batch = TokenBatch(tokens, hidden, tokens.shape[0] / task.options(p)["bptt"])
        train_step(t, step, (batch, y))
        hidden = batch.last_hidden.detach()
    return t


def _seed_steps(p, windows, switch_at=None, clip=True):
    """The seed's train(): lr = initial_lr * seq_len / bptt, loss + beta * TAR, clip, then SGD (momentum 0)
    or, after the switch, torch 1.x's ASGD(t0=0, lambd=0): its step size eta is the lr its previous step
    ended with (the first: the lr at its first step), its average ax of every iterate since."""
    model, bptt, beta = _model(), p.task_options["bptt"], p.task_options["tar"]
    params = list(model.parameters())
    state: dict = {}
    hidden, norms = None, []
    for step, (tokens, y) in enumerate(windows):
        lr = p.lr * tokens.shape[0] / bptt
        batch = TokenBatch(tokens, hidden)
        out = model(batch, ARCH)
        hidden = batch.last_hidden.detach()
        loss = F.cross_entropy(out.logits, y) + beta * (out.raw[1:] - out.raw[:-1]).pow(2).mean()
        model.zero_grad()
        loss.backward()
        if clip:
            norms.append(float(torch.nn.utils.clip_grad_norm_(params, p.grad_clip)))
        with torch.no_grad():
            for q in params:
                g = q.grad + p.weight_decay * q
                if switch_at is None or step < switch_at:
                    q -= lr * g
                    continue
                s = state.setdefault(q, {"step": 0, "eta": lr, "mu": 1.0, "ax": torch.zeros_like(q)})
                s["step"] += 1
                q -= s["eta"] * g  # lambd = 0: no decay term
                s["ax"] = q.clone() if s["mu"] == 1 else s["ax"] + (q - s["ax"]) * s["mu"]
                s["eta"] = lr  # lr / (1 + lambd * lr * step) ** alpha with lambd = 0
                s["mu"] = 1 / max(1, s["step"] - 0)  # t0 = 0
    return model, state, norms


def _assert_same_weights(a, b):
    for (name, x), y in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(x.detach(), y.detach(), rtol=1e-5, atol=1e-7, msg=name)


def test_lr_mode_step_is_the_seeds_step_and_differs_from_loss_scaling_under_clipping():
    windows = _windows([17, 35, 52])  # window factors 0.49, 1, 1.49
    p = _protocol(task_options={"bptt": 35})
    seed, _, norms = _seed_steps(p, windows)
    assert min(norms) > p.grad_clip  # clipping is active at every step, so the modes must differ
    _assert_same_weights(_wsbench_steps(p, windows).model, seed)
    loss_mode = _wsbench_steps(_protocol(task_options={"window_scaling": "loss"}), windows).model
    gap = max(float((x - y).detach().abs().max()) for x, y in zip(loss_mode.parameters(), seed.parameters()))
    assert gap > 1e-3  # a scaled loss is clipped back to norm 0.1: the window's weight is lost


def test_without_clipping_loss_and_lr_scaling_agree_for_plain_sgd():
    """The documented equivalence that made "loss" the first choice: without clipping and weight decay, plain
    SGD moves the same for lr * w x grad(loss) and lr x grad(w * loss)."""
    windows = _windows([12, 40])
    plain = {"grad_clip": None, "weight_decay": 0.0}
    by_lr = _wsbench_steps(_protocol(**plain), windows).model
    by_loss = _wsbench_steps(_protocol(task_options={"window_scaling": "loss"}, **plain), windows).model
    _assert_same_weights(by_lr, by_loss)


def test_lr_mode_under_averaged_sgd_follows_the_seeds_lagged_step_size():
    windows = _windows([20, 35, 9, 44, 30])
    p = _protocol()
    t = _wsbench_steps(p, windows, switch_at=2)
    seed, state, _ = _seed_steps(p, windows, switch_at=2)
    _assert_same_weights(t.model, seed)
    for q, r in zip(t.params, seed.parameters()):
        torch.testing.assert_close(t.opt.state[q]["ax"], state[r]["ax"], rtol=1e-5, atol=1e-7)
        assert float(t.opt.state[q]["eta"]) == pytest.approx(40.0 * 30 / 35)  # the last window's lr, for the next step


def test_lr_mode_leaves_the_loss_unscaled_and_the_default_scales_it():
    model = _model()
    tokens, y = _windows([14])[0]
    out = model(TokenBatch(tokens, weight=0.4), ARCH)
    ce = float(F.cross_entropy(out.logits.detach(), y))
    lr_task = TASK.configure(_protocol(task_options={"tar": 0.0}))
    default = TASK.configure(PROTOCOLS.get("ptb-cpu").replace(task_options={"tar": 0.0}))
    window = (TokenBatch(tokens, weight=0.4), y)
    assert float(lr_task.loss(out, y).detach()) == pytest.approx(ce) and lr_task.lr_factor(window) == 0.4
    assert float(default.loss(out, y).detach()) == pytest.approx(0.4 * ce) and default.lr_factor(window) == 1.0
    assert lr_task.lr_factor((torch.zeros(2, 3), y)) == 1.0  # not a token window: nothing to scale


# ---------------------------------------------------------------------------------- windows


def _seed_length(rng, mean, std=5, low=5, high=55):
    """AceNAS datasets/ptb.py ``_sample_sequence_length`` (the seed's call: (bptt, 5, 5, bptt + max_seq_len_delta))."""
    if rng.random() > 0.95:
        mean /= 2.0
    return min(high, max(low, int(rng.normal(mean, std))))


@pytest.mark.parametrize("bptt, delta", [(35, 20), (35, 3), (12, 20)])
def test_window_lengths_follow_the_seeds_rule(bptt, delta):
    n = 20_000
    stream = BpttStream(np.arange(100), 2, bptt, "cpu", torch.Generator().manual_seed(1), max_delta=delta)
    ours = np.bincount([stream._length() for _ in range(n)], minlength=bptt + delta + 1)
    rng = np.random.default_rng(2)
    seed = np.bincount([_seed_length(rng, bptt, high=bptt + delta) for _ in range(n)], minlength=bptt + delta + 1)
    assert len(ours) == len(seed) == bptt + delta + 1 and ours[:5].sum() == seed[:5].sum() == 0
    # Same distribution: every length's frequency within 4 binomial standard deviations (of the larger).
    p = np.maximum(ours, seed) / n
    assert (np.abs(ours - seed) <= 4 * np.sqrt(n * p * (1 - p)) + 3).all()


def _old_counted_windows(n_rows, bptt, generator, count):
    """wsbench's windows before the options (transcribed from its last commit): the old length rule with
    the bound bptt + 20, ``count`` windows, wrapping to the start (from zeros) when the stream runs out."""
    pos, last, out = 0, n_rows - 1, []
    for _ in range(count):
        half = float(torch.rand((), generator=generator)) >= 0.95
        drawn = int((bptt / 2 if half else bptt) + 5.0 * float(torch.randn((), generator=generator)))
        seq_len = int(np.clip(drawn, 5, bptt + 20))
        if pos >= last:
            pos = 0
        seq_len = min(seq_len, last - pos)
        out.append((pos, seq_len))
        pos += seq_len
    return out


def test_default_windows_are_todays():
    ids = np.arange(4 * 300)
    stream = BpttStream(ids, 4, 10, "cpu", torch.Generator().manual_seed(5))
    got = [(int(b.tokens[0, 0]), b.seq_len) for b, _ in stream]  # batchify: stream 0 holds ids 0..299, row r is id r
    assert got == _old_counted_windows(300, 10, torch.Generator().manual_seed(5), len(stream))


def _seed_positions(n_rows, lengths):
    """The seed's loader: windows until ``pos >= rows - 2``, the last one cut to the rows left."""
    pos, out, draws = 0, [], iter(lengths)
    while not pos >= n_rows - 2:
        length = next(draws)
        seq_len = n_rows - pos - 1 if pos + 1 + length > n_rows else length
        out.append((pos, seq_len))
        pos += length
    return out


@pytest.mark.parametrize("n_rows", [301, 302, 303])
def test_text_epoch_reads_to_the_end_as_the_seeds_loader(n_rows):
    ids = np.arange(3 * n_rows)
    stream = BpttStream(ids, 3, 10, "cpu", torch.Generator().manual_seed(6), to_end=True)
    lengths = BpttStream(ids, 3, 10, "cpu", torch.Generator().manual_seed(6))  # the same draws, replayed
    expected = _seed_positions(n_rows, [lengths._length() for _ in range(200)])
    seen, prev = [], None
    for epoch in range(2):
        got = []
        for batch, y in stream:
            pos = int(batch.tokens[0, 0])
            assert (batch.hidden is None) == (pos == 0) and torch.equal(
                y, stream.data[pos + 1 : pos + 1 + batch.seq_len].reshape(-1)
            )
            if prev is not None and pos:
                assert torch.equal(batch.hidden, prev)
            batch.carry(torch.full((3, 2), float(pos)))
            prev = batch.last_hidden
            got.append((pos, batch.seq_len))
        seen.append(got)
        if epoch == 0:
            assert got == expected and sum(n for _, n in got) == n_rows - 1  # every next token is a target once
    assert seen[0] != seen[1]  # each epoch draws its own lengths


def test_scoring_windows_are_the_seeds_valid_loader():
    """trainers/ptb.py: valid_loader = data_loader("valid", eval_batch_size 10, bptt 35): fixed windows to the end."""
    ids = np.arange(73_760)  # PTB's valid part, 10 streams of 7,376 tokens
    ours = [(int(b.tokens[0, 0]), b.seq_len) for b, _ in eval_windows(ids, 10, 35, "cpu")]
    assert ours == _seed_positions(7_376, [35] * 300)


def test_bi_level_strategies_refuse_text_epochs():
    with pytest.raises(WsbenchError, match="epoch_end 'text'") as e:
        TASK.make_data(RECIPE, 0, torch.device("cpu"), arch_half=True)
    assert "\n" not in str(e.value)


# ---------------------------------------------------------------------------------- network


def test_init_range_bounds_the_initial_weights_and_is_absent_at_its_default():
    wide = SPACE.build_supernet({"hidden": 16, "init_range": 0.1}, TASK.spec(), seed=0)
    default = SPACE.build_supernet({"hidden": 16}, TASK.spec(), seed=0)
    for model, r in ((wide, 0.1), (default, 0.04)):
        weights = torch.cat([model.embedding.flatten(), model.W0.flatten(), *(w.flatten() for w in model.Ws)]).detach()
        assert float(weights.abs().max()) <= r and float(weights.abs().max()) > 0.99 * r
    assert "init_range" not in SPACE.network_config({"init_range": 0.04})
    assert SPACE.network_config({"init_range": 0.1})["init_range"] == 0.1
    for bad in (0, -0.1, "0.1", True, math.inf):
        with pytest.raises(WsbenchError, match="init_range: must be a positive number"):
            SPACE.network_config({"init_range": bad})
    with pytest.raises(WsbenchError, match="known: .*init_range"):
        SPACE.network_config({"init_rang": 0.1})


def test_new_options_leave_existing_protocols_and_hashes_alone():
    for name in ("ptb-cpu", "ptb-smoke"):
        p = PROTOCOLS.get(name)
        config = p.to_dict(SPACE, TASK)
        assert "init_range" not in config
        assert not {"window_scaling", "max_seq_len_delta", "epoch_end"} & set(config.get("task_options", {}))
        opts = TASK.options(p)
        assert (opts["window_scaling"], opts["max_seq_len_delta"], opts["epoch_end"]) == ("loss", 20, "windows")


# ---------------------------------------------------------------------------------- validation


def _seed_average(values, bound=1e6):
    """trainers/ptb.py ``_average``: the mean of the values below the bound (NaN fails the test), NaN if none."""
    kept = [x for x in values if x < bound]
    return sum(kept) / len(kept) if kept else float("nan")


class _Given(type(TASK)):
    """The ptb task, each architecture's perplexity given."""

    def __init__(self, values):
        super().__init__()
        self.values = dict(enumerate(values))

    def evaluate(self, model, arch, batches):
        return {"perplexity": self.values[arch]}


@pytest.mark.parametrize("values", [[61.0, 2e6, math.nan, math.inf, 75.0, 1e6], [3e6, math.nan], [80.0]])
def test_validation_mean_leaves_out_diverged_archs_as_the_seeds_average(values):
    from harness.engine.validation import validate

    task = _Given(values)
    w = torch.nn.Parameter(torch.zeros(1))
    t = SimpleNamespace(model=torch.nn.Linear(1, 1), opt=torch.optim.SGD([w], lr=1.0))
    data = SimpleNamespace(eval_batches=[], calib_batches=[])
    got = validate(t, task, RECIPE, list(task.values), [str(k) for k in task.values], data)
    want = _seed_average(values)
    assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want)


def test_validation_epochs_are_the_seeds():
    """trainers/ptb.py: validate when ``(eval_every and epoch % eval_every == 0) or epoch == epochs``."""
    from harness.engine.validation import due

    for every in (1, 3, 5):
        p = RECIPE.replace(validate_every=every, epochs=17, snapshot_epochs=(17,))
        assert [e for e in range(1, 18) if due(p, e, 17)] == [e for e in range(1, 18) if e % every == 0 or e == 17]


def _seed_decisions(values, patience):
    """trainers/ptb.py ``main``: best from 1e9, improvement when strictly lower, patience counted otherwise,
    ASGD once patience reaches ``asgd_patience``; the weights kept are those of the last improvement."""
    best, count, asgd, rows = 1e9, 0, False, []
    for v in values:
        improved = v < best
        if improved:
            best, count = v, 0
        else:
            count += 1
            asgd = asgd or count >= patience
        rows.append((improved, asgd))
    return rows, best


TINY_RECIPE = RECIPE.replace(
    name="ptb-recipe-tiny",
    network={**RECIPE.network, "hidden": 8},
    task_options={**RECIPE.task_options, "bptt": 10, "train_tokens": 3000, "eval_tokens": 300},
    epochs=8,
    snapshot_epochs=(4, 8),
    batch_size=10,
    validate_every=1,
    validate_archs=3,
    asgd_patience=1,
    archset="ground-truth-sample",
    archset_n=6,
)


def _same_log(a: Path, b: Path) -> None:
    pd.testing.assert_frame_equal(
        pd.read_csv(a).drop(columns=["seconds", "score_seconds"]), pd.read_csv(b).drop(columns=["seconds", "score_seconds"])
    )


@needs_data()
def test_recipe_cell_decides_as_the_seed_restores_its_best_and_resumes_identically(tmp_path):
    from harness.engine.cell import CellSpec
    from harness.engine.loop import run_cell
    from harness.engine.validation import validate, validation_archs

    spec = CellSpec("ptb", "spos", TINY_RECIPE, 0)
    ref = run_cell(spec, root=tmp_path / "ref", log=lambda *_: None)
    folder = spec.run_dir(tmp_path / "ref")
    log = pd.read_csv(folder / "train_log.csv")
    rows, best = _seed_decisions(log["valid_perplexity"].tolist(), TINY_RECIPE.asgd_patience)
    assert list(zip(log["valid_improved"].astype(bool), log["asgd"].astype(bool))) == rows
    # The run exercises the rule: a stall that switches to averaged SGD, and a best before the last epoch.
    assert any(a for _, a in rows) and not rows[-1][0] and log["step"].diff().nunique() > 1  # text epochs vary
    # The kept weights are those validated at the best epoch (averaged ones, under ASGD): validated again, the same value.
    model = SPACE.build_supernet(TINY_RECIPE.network_for(SPACE), TASK.spec(), seed=0)
    model.load_state_dict(torch.load(folder / "supernet.pt"))
    archs = validation_archs(SPACE, TINY_RECIPE)
    data = TASK.make_data(TINY_RECIPE, 0, torch.device("cpu"))
    t = SimpleNamespace(model=model, opt=torch.optim.SGD(model.parameters(), lr=1.0))
    again = validate(t, TASK.configure(TINY_RECIPE), TINY_RECIPE, archs, [SPACE.arch_id(a) for a in archs], data)
    assert again == pytest.approx(best, rel=1e-9) and bool(log["restored_best"].iloc[-1])

    def crash_before_epoch_five_is_saved(msg):  # after the switch: the resumed cell is an averaged-SGD one
        if "epoch 5/8" in msg:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_cell(spec, root=tmp_path / "cut", log=crash_before_epoch_five_is_saved)
    resumed = run_cell(spec, root=tmp_path / "cut", log=lambda *_: None)
    cut = spec.run_dir(tmp_path / "cut")
    for name in ("scores/epoch_004.csv", "scores/epoch_008.csv", "metrics.csv"):
        assert (cut / name).read_bytes() == (folder / name).read_bytes(), name
    _same_log(cut / "train_log.csv", folder / "train_log.csv")
    assert resumed["steps"] == ref["steps"]
