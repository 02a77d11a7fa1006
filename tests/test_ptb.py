"""DARTS-PTB: Penn Treebank data, token streams, the recurrent-cell space and supernet, ground truth, a cell end to end."""

import json
import math
import tarfile

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import needs_data

from harness.api.errors import CorruptDataError, DataMissingError, WsbenchError
from harness.catalog import PROTOCOLS, SPACES, TASKS, load_ground_truth
from harness.data.tokens import BpttStream, TokenBatch, eval_windows, windows_per_epoch
from harness.engine.cell import CellSpec
from harness.engine.loop import run_cell
from spaces.ptb import encoding
from spaces.ptb.supernet import MIXED_SHAPE, edge_offset

SPACE = SPACES.get("ptb")
TASK = TASKS.get("ptb")
DARTS_V2 = "Genotype(recurrent=[('sigmoid', 0), ('relu', 1), ('relu', 1), ('identity', 1), ('tanh', 2), ('sigmoid', 5), ('tanh', 3), ('relu', 5)], concat=range(1, 9))"


# ------------------------------------------------------------------------------------ encoding


def test_space_size_is_four_activations_per_step_times_eight_factorial():
    assert SPACE.num_archs == 4**8 * math.factorial(8) == 2_642_411_520
    assert SPACE.grid_shape() == tuple(v for i in range(8) for v in (4, i + 1))


def test_every_form_parses_to_the_same_cell():
    g = SPACE.parse(DARTS_V2)
    arch = encoding.from_grid(g)
    forms = [
        encoding.to_json(arch),
        json.dumps(encoding.to_json(arch)),
        SPACE.arch_id(g),
        SPACE.format(g),
        list(arch),
        str([list(p) for p in arch]),
        g,
    ]
    assert all(SPACE.parse(f) == g for f in forms)
    assert SPACE.arch_id(g) == "sigmoid~0|relu~1|relu~1|identity~1|tanh~2|sigmoid~5|tanh~3|relu~5"


@pytest.mark.parametrize(
    "bad",
    [
        "sigmoid~0|relu~2|relu~1|identity~1|tanh~2|sigmoid~5|tanh~3|relu~5",  # step 1 cannot read s2
        "softmax~0|relu~1|relu~1|identity~1|tanh~2|sigmoid~5|tanh~3|relu~5",
        "sigmoid~0|relu~1",
        {"act/0": 0},
        "Genotype(recurrent=[('tanh', 0)] * 8, concat=range(0, 9))",
        (0, 0, 9, 0) + (0,) * 12,
        3.5,
    ],
)
def test_bad_cells_are_one_line_errors(bad):
    with pytest.raises(WsbenchError) as e:
        SPACE.parse(bad)
    assert "\n" not in str(e.value)


def test_sample_is_uniform_over_inputs_and_valid():
    rng = np.random.default_rng(0)
    archs = [SPACE.sample(rng) for _ in range(2000)]
    assert all(SPACE.parse(a) == a for a in archs[:50])
    step7_inputs = np.bincount([a[15] for a in archs], minlength=8)
    assert step7_inputs.min() > 180  # 8 options, ~250 each


def test_derive_keeps_each_steps_strongest_non_none_edge():
    w = np.full(MIXED_SHAPE, 0.1)
    w[:, 0] = 5.0  # ``none`` is strongest everywhere and must be ignored
    target = SPACE.parse(DARTS_V2)
    for i in range(8):
        w[edge_offset(i) + target[2 * i + 1], 1 + target[2 * i]] = 1.0
    assert SPACE.derive(w) == target


# ------------------------------------------------------------------------------------ supernet


def _naive_forward(model, tokens, grid, hidden):
    """An independent per-token transcription of the DARTS recurrent cell (eval mode: no dropout)."""
    acts = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid, "identity": lambda t: t}
    arch, H = encoding.from_grid(grid), model.hidden
    outs, h = [], hidden
    for t in range(tokens.shape[0]):
        x = model.embedding[tokens[t]]
        c0, h0 = torch.split(torch.cat([x, h], -1) @ model.W0, H, dim=-1)
        states = [h + torch.sigmoid(c0) * (torch.tanh(h0) - h)]
        for i, (act, src) in enumerate(arch):
            c, g = torch.split(states[src] @ model.Ws[i], H, dim=-1)
            states.append(states[src] + torch.sigmoid(c) * (acts[act](g) - states[src]))
        h = torch.stack(states[1:]).mean(0)
        outs.append(h)
    logits = torch.stack(outs).reshape(-1, H) @ model.embedding.t() + model.decoder_bias
    return logits, h


def test_path_forward_is_the_darts_recurrent_cell_and_carries_its_state():
    model = SPACE.build_supernet({"hidden": 6}, TASK.spec(), seed=3).eval()
    g = SPACE.parse(DARTS_V2)
    tokens = torch.randint(0, 10_000, (5, 3), generator=torch.Generator().manual_seed(0))
    h0 = torch.randn(3, 6, generator=torch.Generator().manual_seed(1)) * 0.1
    batch = TokenBatch(tokens, h0)
    with torch.no_grad():
        out = model(batch, g)
        logits, h = _naive_forward(model, tokens, g, h0)
    torch.testing.assert_close(out.logits, logits, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(batch.last_hidden, h, rtol=1e-5, atol=1e-6)


def test_one_hot_mixed_weights_give_the_paths_forward():
    model = SPACE.build_supernet({"hidden": 6}, TASK.spec(), seed=3).eval()
    g = SPACE.sample(np.random.default_rng(5))
    w = torch.zeros(MIXED_SHAPE)
    for i in range(8):
        w[edge_offset(i) + g[2 * i + 1], 1 + g[2 * i]] = 1.0
    tokens = torch.randint(0, 10_000, (4, 2), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model(TokenBatch(tokens), w).logits, model(TokenBatch(tokens), g).logits)


def test_every_cell_uses_the_same_weights_and_cost_counts_them():
    model = SPACE.build_supernet({"hidden": 16}, TASK.spec(), seed=0)
    n = sum(p.numel() for p in model.parameters())
    rng = np.random.default_rng(0)
    assert {SPACE.cost(SPACE.sample(rng), hidden=16).params for _ in range(20)} == {n}
    # The paper's network: 850 hidden, tied 10k embedding.
    assert SPACE.cost(DARTS_V2).params == 10_000 * 850 + 10_000 + (1700 * 1700) + 8 * 850 * 1700


def test_dropout_masks_come_from_the_supernets_own_checkpointed_stream():
    net = {"hidden": 8}
    a = SPACE.build_supernet(net, TASK.spec(), seed=1).train()
    b = SPACE.build_supernet(net, TASK.spec(), seed=1).train()
    tokens = torch.randint(0, 10_000, (3, 2), generator=torch.Generator().manual_seed(0))
    g = SPACE.sample(np.random.default_rng(0))
    a(TokenBatch(tokens), g)  # advance a's mask stream by one window
    b.load_state_dict(a.state_dict())
    torch.manual_seed(0)
    x = a(TokenBatch(tokens), g).logits
    torch.manual_seed(1)  # the global RNG must not matter
    torch.testing.assert_close(b(TokenBatch(tokens), g).logits, x)


# ------------------------------------------------------------------------------------ token streams


def test_bptt_stream_carries_detached_state_and_restarts_each_epoch():
    ids = np.arange(2000) % 10_000
    stream = BpttStream(ids, batch_size=4, bptt=10, device="cpu", generator=torch.Generator().manual_seed(0))
    assert len(stream) == windows_per_epoch(2000, 4, 10) == 49
    for _epoch in range(2):
        seen, pos, wraps = [], 0, 0
        for batch, y in stream:
            assert 5 <= batch.seq_len <= 30 and y.numel() == batch.seq_len * 4
            if pos >= stream.data.shape[0] - 1:  # ran out before len(stream) windows: wraps, from zeros
                pos, wraps = 0, wraps + 1
            assert (batch.hidden is None) == (pos == 0)
            if pos:
                assert batch.hidden.requires_grad is False and torch.equal(batch.hidden, seen[-1])
            # consecutive windows; targets are the next tokens of each of the 4 streams
            assert torch.equal(batch.tokens, stream.data[pos : pos + batch.seq_len])
            assert torch.equal(y, stream.data[pos + 1 : pos + 1 + batch.seq_len].reshape(-1))
            pos += batch.seq_len
            h = torch.randn(4, 3, requires_grad=True) * 2
            batch.carry(h)
            seen.append(h.detach())
        assert len(seen) == len(stream) and wraps <= 1


def test_bptt_lengths_are_reproducible_from_the_generator_state():
    ids = np.arange(5000)
    g = torch.Generator().manual_seed(3)
    stream = BpttStream(ids, 5, 35, "cpu", g)
    state = g.get_state()
    first = [b.seq_len for b, _ in stream]
    g.set_state(state)
    assert [b.seq_len for b, _ in stream] == first and len(set(first)) > 3
    fixed = BpttStream(ids, 5, 35, "cpu", torch.Generator(), jitter=False)
    assert {b.seq_len for b, _ in fixed} == {35}


def test_eval_windows_respect_the_token_budget():
    ids = np.arange(10_000)
    windows = eval_windows(ids, 10, 35, "cpu", max_tokens=1000)
    assert sum(y.numel() for _, y in windows) == 1000
    whole = eval_windows(ids, 10, 35, "cpu")
    assert sum(y.numel() for _, y in whole) == 10 * (1000 - 1)


# ------------------------------------------------------------------------------------ task


def test_uniform_predictor_has_the_vocabularys_perplexity():
    class Uniform(torch.nn.Module):
        def forward(self, batch, arch):
            return torch.zeros(batch.tokens.numel(), 10_000)

    windows = eval_windows(np.arange(500), 5, 7, "cpu")
    assert TASK.evaluate(Uniform(), None, windows)["perplexity"] == pytest.approx(10_000, rel=1e-6)


def test_regularizers_and_window_weight_enter_the_loss():
    model = SPACE.build_supernet({"hidden": 8}, TASK.spec(), seed=0).train()
    tokens = torch.randint(0, 10_000, (6, 3), generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 10_000, (18,), generator=torch.Generator().manual_seed(1))
    out = model(TokenBatch(tokens, weight=0.5), SPACE.sample(np.random.default_rng(0)))
    plain = TASK.loss(out, y)
    assert float(plain.detach()) == pytest.approx(0.5 * float(torch.nn.functional.cross_entropy(out.logits.detach(), y)))
    p = PROTOCOLS.get("ptb-cpu").replace(task_options={"ar": 2.0, "tar": 1.0})
    assert float(TASK.configure(p).loss(out, y).detach()) > float(plain.detach())


@pytest.mark.parametrize(
    "change, needle",
    [
        ({"task_options": {"bptt_len": 3}}, "unknown task option"),
        ({"task_options": {"bptt": 1}}, "bptt must be an integer >= 2"),
        ({"task_options": {"tar": -1}}, "tar must be a finite number >= 0.0, got -1"),
        ({"task_options": {"eval_part": "train"}}, "eval_part must be one of valid, test, got 'train'"),
        ({"task_options": {"train_tokens": 500}}, "less than one window"),
    ],
)
def test_bad_task_settings_are_one_line_errors(change, needle):
    p = PROTOCOLS.get("ptb-cpu").replace(**change)
    with pytest.raises(WsbenchError) as e:
        TASK.check_protocol(p)
    assert needle in str(e.value) and "\n" not in str(e.value)


# ------------------------------------------------------------------------------------ data files


@pytest.fixture(scope="module")
def ptb_texts(tmp_path_factory):
    from harness.settings import data_root

    folder = tmp_path_factory.mktemp("ptbtexts")
    with tarfile.open(data_root() / "ptb/ptb.tar.xz") as tar:
        for part in ("train", "valid", "test"):
            (folder / f"ptb.{part}.txt").write_bytes(tar.extractfile(f"{part}.txt").read())
    return folder


@needs_data()
def test_shared_pack_and_standard_text_files_give_the_same_corpus(ptb_texts, tmp_path, monkeypatch):
    from harness.data.ptb import PTB_TOKENS, load_ptb

    pack = load_ptb()
    assert {p: len(v) for p, v in pack.parts.items()} == PTB_TOKENS and len(pack.vocab) == 10_000
    assert pack.sha256["train"].startswith("fcea919f") and "<eos>" in pack.vocab
    (tmp_path / "simple-examples" / "data").mkdir(parents=True)
    for f in ptb_texts.iterdir():
        (tmp_path / "simple-examples" / "data" / f.name).write_bytes(f.read_bytes())
    monkeypatch.setenv("WSBENCH_DATA", str(tmp_path))
    texts = load_ptb()
    assert texts.vocab == pack.vocab and all(np.array_equal(texts.parts[p], pack.parts[p]) for p in PTB_TOKENS)
    assert "text files" in texts.source


@needs_data()
def test_missing_truncated_or_garbage_ptb_is_a_one_line_error(ptb_texts, tmp_path, monkeypatch):
    from harness.data.ptb import load_ptb

    monkeypatch.setenv("WSBENCH_DATA", str(tmp_path))
    with pytest.raises(DataMissingError, match="Penn Treebank not found"):
        load_ptb()
    (tmp_path / "penn").mkdir()
    for part in ("train", "valid", "test"):
        text = (ptb_texts / f"ptb.{part}.txt").read_bytes()
        (tmp_path / "penn" / f"{part}.txt").write_bytes(text[: len(text) // 2] if part == "valid" else text)
    with pytest.raises(CorruptDataError, match="valid text .* tokens, not 73,760") as e:
        load_ptb()
    assert "\n" not in str(e.value)
    for f in (tmp_path / "penn").iterdir():
        f.unlink()
    (tmp_path / "penn").rmdir()
    (tmp_path / "ptb").mkdir()
    (tmp_path / "ptb" / "ptb.tar.xz").write_bytes(b"not an archive")
    with pytest.raises(CorruptDataError, match="unreadable"):
        load_ptb()


# ------------------------------------------------------------------------------------ ground truth


@needs_data()
def test_ground_truth_tables_and_their_seed_agreement():
    from harness.analysis.gt_report import agreement, gt_report

    v42 = load_ground_truth("ptb", "seedpaper", "ptb", "valid", "perplexity", "seed:42")
    v43 = load_ground_truth("ptb", "seedpaper", "ptb", "valid", "perplexity", "seed:43")
    mean = load_ground_truth("ptb", "seedpaper", "ptb", "test", "perplexity", "mean-of-seeds")
    assert (len(v42), len(v43), len(mean)) == (137, 93, 93) and not v42.higher_is_better
    assert 57.8 < v42.values.min() and v42.values.max() < 70.1
    # README of the shared data: seed 42 vs 43 agree at tau 0.715 (valid); an oriented metric must say so.
    assert agreement(v42, v43, bootstrap=0)["kendall_tau"] == pytest.approx(0.715, abs=0.002)
    text = gt_report("ptb", bootstrap=0)
    assert "ptb/valid/perplexity@seed:42" in text and "| 93 |" in text
    with pytest.raises(WsbenchError, match="metric"):
        load_ground_truth("ptb", "seedpaper", "ptb", "valid", "accuracy", "seed:42")


# ------------------------------------------------------------------------------------ a cell


TINY = PROTOCOLS.get("ptb-cpu").replace(
    name="ptb-tiny-test",
    network={"hidden": 8, "dropout": 0.3, "dropout_e": 0.1},
    task_options={"bptt": 10, "train_tokens": 3000, "eval_tokens": 300, "tar": 1e-3},
    epochs=2,
    snapshot_epochs=(1, 2),
    batch_size=10,
    eval_batch_size=10,
    archset="ground-truth-sample",
    archset_n=12,
    equal_compute=False,  # DARTS runs the same 2 epochs (so the crash lands in epoch 2)
)


def _quiet(*_):
    pass


@needs_data()
@pytest.mark.parametrize("strategy, optimizer", [("spos", "sgd"), ("darts", "asgd")])
def test_ptb_cell_resumes_to_identical_numbers_and_scores_perplexity(strategy, optimizer, tmp_path):
    spec = CellSpec("ptb", strategy, TINY.replace(optimizer=optimizer), 0)
    ref = run_cell(spec, root=tmp_path / "a", log=_quiet)

    def crash_in_epoch_two(msg):
        if "epoch 2/" in msg:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_cell(spec, root=tmp_path / "b", log=crash_in_epoch_two)
    run_cell(spec, root=tmp_path / "b", log=_quiet)
    final = ref["epochs"]
    a = pd.read_csv(spec.run_dir(tmp_path / "a") / f"scores/epoch_{final:03d}.csv")
    b = pd.read_csv(spec.run_dir(tmp_path / "b") / f"scores/epoch_{final:03d}.csv")
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == ["epoch", "arch", "perplexity"] and len(a) == 12
    assert (a["perplexity"] > 1).all() and (a["perplexity"] < 10_000 * 1.5).all()
    metrics = pd.DataFrame(ref["metrics"])
    assert set(metrics["score"]) == {"neg_perplexity"}
    assert {"ptb/seedpaper:ptb/valid/perplexity@seed:42", "ptb/seedpaper:ptb/test/perplexity@seed:42"} <= set(
        metrics["ground_truth"]
    )


def test_averaged_sgd_scores_with_the_average_and_restores_the_weights():
    from harness.engine.schedule import averaged_weights, build_optimizer

    p = PROTOCOLS.get("ptb-cpu").replace(optimizer="asgd", asgd_start_epoch=0)
    w = torch.nn.Parameter(torch.zeros(3))
    opt = build_optimizer(p, [w], steps_per_epoch=10)
    for target in (1.0, 3.0, 5.0, 10.0):  # steps of lr 20 on (w - target)^2 / 40: w jumps to each target
        opt.zero_grad()
        ((w - target) ** 2 / 40).sum().backward()
        opt.step()
    assert torch.allclose(w.detach(), torch.full((3,), 10.0), atol=1e-3)
    with averaged_weights(opt):  # torch's ASGD averages the iterates from step t0 + 2 on: (3 + 5 + 10) / 3
        assert torch.allclose(w.detach(), torch.full((3,), 6.0), atol=1e-3)
    assert torch.allclose(w.detach(), torch.full((3,), 10.0), atol=1e-3)


@pytest.mark.parametrize(
    "change, needle",
    [({"optimizer": "asgd", "momentum": 0.9}, "momentum = 0"), ({"optimizer": "asgd", "asgd_start_epoch": 4}, "0..3")],
)
def test_bad_asgd_settings_are_one_line_errors(change, needle):
    with pytest.raises(WsbenchError, match=needle):
        PROTOCOLS.get("ptb-cpu").replace(**change)


def test_asgd_field_leaves_existing_cell_hashes_alone():
    p = PROTOCOLS.get("quick")
    assert "asgd_start_epoch" not in p.to_dict() and "asgd_start_epoch" in p.replace(asgd_start_epoch=1).to_dict()
