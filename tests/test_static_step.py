"""The static step (``Protocol.step = "static"``) trains what the ordinary step trains; deterministic mode.

Every space that declares ``masked_forward`` is checked: its masked forward gives the ordinary logits
bit for bit, and N steps of each step kind along the same paths from the same weights end at the
same weights, for both off-path semantics (weight decay, momentum and clipping all active). Those
runs are in float64: these tiny supernets amplify a float32 rounding difference step after step
(perturbing the ordinary step's own initial weights by 1e-7 moves NB201's weights by 1e-2 after 20
steps), so float32 could not tell a wrong semantics from rounding; in float64 the difference is
1e-15 to 1e-13, while the two semantics differ by 1e-4 and more.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import FixedPaths, needs_data

from harness.api.errors import WsbenchError
from harness.api.space import MASKED_FORWARD, MASKED_METHODS
from harness.catalog import PROTOCOLS, SPACES, STRATEGIES, TASKS
from harness.engine.step import train_step, trainer_for
from harness.run import bench as B
from harness.run.bench.equivalence import forward_diff, max_diff, weights_after
from harness.run.bench.static import GraphedStep
from harness.seeding import numpy_stream

MASKED = [name for name in SPACES.names() if SPACES.get(name).supports(MASKED_FORWARD)]
#: Per space: (protocol, network, batch, steps, lr) of the equivalence runs, sized for < 10 s a test.
RUNS = {
    "nb201": ("nb201-smoke", {"C": 4, "N": 1}, 16, 20, 0.1),
    "proxyless": ("proxyless-smoke", None, 8, 10, 0.01),
}
F64 = torch.float64


def _protocol(space: str, zero_grad: str, **changes):
    proto, network, batch, _, lr = RUNS[space]
    p = B.bench_protocol(space, proto, network, batch)
    # Clipping at 0.5 is active from the first step (test_clipping_is_active); weight decay and momentum move
    # ops off the path under "zeros". channels_last off: float64 convolutions are faster in NCHW.
    return p.replace(zero_grad=zero_grad, lr=lr, lr_min=lr, weight_decay=0.01, momentum=0.9, grad_clip=0.5,
                     channels_last=False, **changes)  # fmt: skip


@functools.cache
def _trained(space: str, zero_grad: str, step: str) -> dict[str, torch.Tensor]:
    return weights_after(space, _protocol(space, zero_grad, step=step), RUNS[space][3], dtype=F64)


# ------------------------------------------------------------------------------ the capability


@pytest.mark.parametrize("name", SPACES.names())
def test_declared_capability_matches_the_supernet(name):
    space = SPACES.get(name)
    net = space.build_supernet(space.smoke_network, TASKS.get(space.default_task).spec(), seed=0)
    assert all(callable(getattr(net, m, None)) for m in MASKED_METHODS) == space.supports(MASKED_FORWARD)


def _special_archs(name):
    if name == "nb201":  # every op none; dead nodes 1 and 2; a conv out of a zero node; skip out of a zero node
        return [(0,) * 6, (3, 3, 3, 1, 0, 0), (0, 2, 3, 0, 1, 2), (0, 0, 1, 2, 0, 4)]
    if name == "proxyless":  # every optional layer zero; the largest block everywhere
        return [tuple(0 if i in (0, 4, 8, 12, 16, 20) else 6 for i in range(21)), (5,) * 21]
    return []


@pytest.mark.parametrize("name", MASKED)
def test_masked_forward_gives_the_ordinary_logits_bit_for_bit(name):
    space = SPACES.get(name)
    net = space.build_supernet(space.smoke_network, TASKS.get(space.default_task).spec(), seed=1).train()
    x = torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    rng = np.random.default_rng(0)
    worst = 0.0
    with torch.no_grad():
        for arch in [space.sample(rng) for _ in range(6)] + _special_archs(name):
            ordinary, masked = net(x, arch), net.forward_masked(x, net.path_mask(arch))
            worst = max(worst, float((ordinary - masked).abs().max()))
    print(f"{name}: max |logit diff| {worst}")
    assert worst == 0.0


@pytest.mark.parametrize("cell", [{}, {"cell_bn_affine": False, "cell_bn_track": False, "cell_dead_ops": True}])
def test_nb201_masked_forward_per_position_and_with_the_search_cell(cell):
    space = SPACES.get("nb201")
    net = space.build_supernet({"C": 4, "N": 2, **cell}, TASKS.get("cifar10").spec(), seed=2).train()
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    rng = np.random.default_rng(1)
    with torch.no_grad():
        for _ in range(3):
            arch = [space.sample(rng) for _ in range(net.cell_positions)]
            assert torch.equal(net(x, arch), net.forward_masked(x, net.path_mask(arch)))


# ------------------------------------------------------------------------------ N steps


@pytest.mark.parametrize("zero_grad", ["none", "zeros"])
@pytest.mark.parametrize("name", MASKED)
def test_static_step_trains_the_ordinary_steps_weights(name, zero_grad):
    if name not in RUNS:
        pytest.fail(f"space {name!r} declares masked_forward: give it an equivalence run in RUNS")
    d = max_diff(_trained(name, zero_grad, "ordinary"), _trained(name, zero_grad, "static"))
    print(f"{name} zero_grad={zero_grad}: after {RUNS[name][3]} steps max |diff| params {d['params']:.3g}, BN {d['buffers']:.3g}")
    assert d["params"] < 1e-11 and d["buffers"] < 1e-9


@pytest.mark.parametrize("name", MASKED)
def test_the_two_semantics_differ_so_the_comparison_can_fail(name):
    for step in ("ordinary", "static"):
        gap = max_diff(_trained(name, "none", step), _trained(name, "zeros", step))["params"]
        assert gap > 1e-5, (name, step, gap)


def test_first_path_logits_agree_before_training():
    s = B.build_setup(B.Plan("nb201", _protocol("nb201", "none"), "cpu", 0), torch.device("cpu"), 1)
    assert forward_diff(s, next(iter(s.data.train))[0]) == 0.0


def test_clipping_is_active():
    s = B.build_setup(B.Plan("nb201", _protocol("nb201", "none"), "cpu", 0), torch.device("cpu"), 1)
    x, y = next(iter(s.data.train))
    t = s.trainer
    t.task.loss(t.model(x, t.strategy.paths(0)[0]), y).backward()
    assert float(torch.nn.utils.clip_grad_norm_(t.params, 1e9)) > 0.5


def _trainer(space_name, p, strategy, options, steps, dtype=F64):
    space, task = SPACES.get(space_name), TASKS.get("cifar10")
    model = space.build_supernet(p.network_for(space), task.spec(), seed=5).to(dtype)
    s = STRATEGIES.get(strategy)(space, numpy_stream(5, "arch"), **options)
    return trainer_for(p, s.bind(model, steps, 1), s, task, steps, 1)


def _run(t, batches):
    t.model.train()
    for i, b in enumerate(batches):
        train_step(t, i, b)
    return {k: v.detach().clone() for k, v in t.model.state_dict().items()}


def _batches(n, size=8, dtype=F64):
    g = torch.Generator().manual_seed(3)
    return [(x.to(dtype), y) for x, y in (TASKS.get("cifar10").synthetic_batch(size, g) for _ in range(n))]


@pytest.mark.parametrize(
    "network, strategy, options",
    [
        (
            {"C": 4, "N": 1, "cell_bn_affine": False, "cell_bn_track": False, "cell_dead_ops": True},
            "spos",
            {"granularity": "position"},
        ),
        ({"C": 4, "N": 1}, "multipath", {"k": 3}),
    ],
    ids=["search-cell-per-position", "multipath"],
)
@pytest.mark.parametrize("zero_grad", ["none", "zeros"])
def test_static_step_with_dead_ops_untracked_bn_and_several_paths(network, strategy, options, zero_grad):
    p = PROTOCOLS.get("nb201-smoke").replace(network=network, zero_grad=zero_grad, lr=0.1, lr_min=0.1, weight_decay=0.01,
                                             grad_clip=0.5, channels_last=False)  # fmt: skip
    batches = _batches(6)
    ordinary = _run(_trainer("nb201", p, strategy, options, 6), batches)
    static = _run(_trainer("nb201", p.replace(step="static"), strategy, options, 6), batches)
    d = max_diff(ordinary, static)
    assert d["params"] < 1e-12 and d["buffers"] < 1e-12, d


# ------------------------------------------------------------------------------ what moves off the path


# Step 0 trains the 1x1 conv of edge 1<-0; step 1 puts a skip there, so that conv is off the path.
PATHS = [(2, 1, 1, 1, 1, 1), (1, 1, 1, 1, 1, 1)]
CONV = "cells.0.edges.1_0.nor_conv_1x1"


@pytest.mark.parametrize("zero_grad, moves", [("none", False), ("zeros", True)])
def test_an_op_off_the_path_moves_only_under_zeros_and_its_bn_statistics_stay(zero_grad, moves):
    p = PROTOCOLS.get("nb201-smoke").replace(zero_grad=zero_grad, step="static", lr=0.1, lr_min=0.1, weight_decay=0.01)
    model = SPACES.get("nb201").build_supernet({"C": 4, "N": 1}, TASKS.get("cifar10").spec(), seed=0)
    t = trainer_for(p, model, FixedPaths(PATHS), TASKS.get("cifar10"), 2, 1)
    never = "cells.0.edges.1_0.nor_conv_3x3"  # on no path at all: never moves
    batches = _batches(2, dtype=torch.float32)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    train_step(t, 0, batches[0])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    momentum = t.opt.state[model.get_parameter(f"{CONV}.1.weight")]["momentum_buffer"].clone()
    train_step(t, 1, batches[1])
    after = model.state_dict()
    assert (not torch.equal(before[f"{CONV}.1.weight"], after[f"{CONV}.1.weight"])) == moves
    assert (not torch.equal(momentum, t.opt.state[model.get_parameter(f"{CONV}.1.weight")]["momentum_buffer"])) == moves
    assert not torch.equal(start[f"{CONV}.2.running_mean"], before[f"{CONV}.2.running_mean"])  # on the path at step 0
    for stat in ("running_mean", "running_var", "num_batches_tracked"):
        assert torch.equal(before[f"{CONV}.2.{stat}"], after[f"{CONV}.2.{stat}"])  # off the path at step 1
        assert torch.equal(start[f"{never}.2.{stat}"], after[f"{never}.2.{stat}"])
    assert all(torch.equal(start[k], after[k]) for k in start if k.startswith(never))
    assert t.grads_held()[[n for n, _ in model.named_parameters()].index(f"{never}.1.weight")] is False


def test_a_resumed_static_zeros_trainer_continues_exactly():
    """``grads_held`` / ``hold_grads`` carry which ops were ever on a path (they decide what ``zeros`` moves)."""
    p = _protocol("nb201", "zeros", step="static")
    batches = _batches(4, size=16, dtype=torch.float32)
    whole = _trainer("nb201", p, "spos", {}, 4, torch.float32)
    _run(whole, batches)
    first = _trainer("nb201", p, "spos", {}, 4, torch.float32)
    _run(first, batches[:2])
    held = first.grads_held()
    assert not all(held)  # some ops were on no path yet
    second = _trainer("nb201", p, "spos", {}, 4, torch.float32)
    second.model.load_state_dict(first.model.state_dict())
    second.opt.load_state_dict(first.opt.state_dict())
    second.sched.load_state_dict(first.sched.state_dict())
    second.strategy.load_state_dict(first.strategy.state_dict())
    second.hold_grads(held)
    second.model.train()
    for i, b in enumerate(batches[2:], start=2):
        train_step(second, i, b)
    for a, b in zip(whole.model.state_dict().values(), second.model.state_dict().values()):
        assert torch.equal(a, b)


def test_the_graphed_split_trains_what_the_static_step_trains():
    """The four parts a CUDA-graph replay runs (here eagerly, on a CPU) make the static step."""
    p = _protocol("nb201", "zeros")
    plan = B.Plan("nb201", p.replace(step="static"), "cpu", 0)
    one, two = (B.build_setup(plan, torch.device("cpu"), 5, dtype=F64) for _ in range(2))
    batches = [(x.to(F64), y) for x, y in list(one.data.train)[:4]]
    graphed = GraphedStep(two, batches[0], capture=False)
    one.trainer.model.train()
    for i, b in enumerate(batches):
        train_step(one.trainer, i, b)
        graphed(i, b)
    assert max_diff(one.trainer.model.state_dict(), two.trainer.model.state_dict())["params"] < 1e-13


# ------------------------------------------------------------------------------ refusals and hashes


@pytest.mark.parametrize(
    "space, strategy, needle",
    [
        ("nb201", "darts", "strategy 'darts' trains op-weight mixtures"),
        ("nb201", "gdas", "strategy 'gdas' trains op-weight mixtures"),
        ("cbm-resnet", "spos", "WidthSupernet lacks path_mask"),
        ("nb201", "fewshot", "PartitionedSupernet lacks path_mask"),
    ],
)
def test_what_the_static_step_cannot_train_is_refused_in_one_line(space, strategy, needle):
    sp = SPACES.get(space)
    p = PROTOCOLS.get(sp.smoke_protocol).replace(step="static")
    task = TASKS.get(sp.default_task)
    model = sp.build_supernet(sp.smoke_network, task.spec(), seed=0)
    s = STRATEGIES.get(strategy)(sp, numpy_stream(0, "arch"))
    with pytest.raises(WsbenchError, match=needle) as e:
        trainer_for(p, s.bind(model, 4, 1), s, task, 4, 1)
    assert "\n" not in str(e.value)


def test_static_needs_sgd_in_one_line():
    with pytest.raises(WsbenchError, match="static needs optimizer sgd") as e:
        PROTOCOLS.get("nb201-smoke").replace(step="static", optimizer="asgd", momentum=0.0, nesterov=False)
    assert "\n" not in str(e.value)


def test_new_fields_leave_every_hash_alone_until_set():
    for name in PROTOCOLS.names():
        assert not {"step", "deterministic"} & set(PROTOCOLS.get(name).to_dict())
    d = PROTOCOLS.get("nb201-smoke").replace(step="static", deterministic=True).to_dict()
    assert d["step"] == "static" and d["deterministic"] is True


# ------------------------------------------------------------------------------ the bench


def test_bench_reports_the_static_step_and_says_why_a_graph_was_skipped():
    r = B.run_bench(space="nb201", protocol="nb201-smoke", device="cpu", network={"C": 4, "N": 1}, batch_size=16, steps=1,
                    warmup=1, score_archs=1, threads=1)  # fmt: skip
    assert r["train"]["static"]["ms_per_step"] > 0 and "static_graph" not in r["train"]
    assert "this run is on cpu" in r["skipped"]["static_graph"]
    text = B.format_bench(r)
    assert "static step" in text and "skipped  (CUDA graphs" in text


@pytest.mark.slow
def test_device_script_smoke_mode_writes_one_table(tmp_path):
    """The script's parts at smoke size, in this process (its deterministic rows run the same ``bench_rows``
    in a child process that only adds the cuBLAS setting; ``--smoke`` end to end is one command, ~11 s)."""
    import importlib.util

    script = Path(__file__).resolve().parents[1] / "scripts" / "device_bench.py"
    spec = importlib.util.spec_from_file_location("device_bench", script)
    assert spec is not None and spec.loader is not None
    db = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(db)
    rows = db.bench_rows(db.SMOKE, "cpu", deterministic=False) + db.equivalence_rows(db.SMOKE, "cpu", deterministic=False)
    table = db.write_table(rows, tmp_path, "# smoke").read_text()
    assert "static step" in table and "2 replicas stacked" in table and "scoring, bf16 autocast" in table
    assert "static vs ordinary, zero_grad=zeros, float64" in table
    assert "skipped: CUDA graphs capture GPU kernels" in table


# ------------------------------------------------------------------------------ deterministic mode


@needs_data()
def test_deterministic_mode_changes_no_cpu_number_and_is_recorded(tmp_path):
    import json

    from harness.engine.cell import CellSpec
    from harness.engine.loop import run_cell

    base = PROTOCOLS.get("nb201-smoke").replace(name="det", epochs=1, snapshot_epochs=(1,), archset_n=4)
    outputs = []
    for i, deterministic in enumerate((True, True, False)):
        spec = CellSpec("nb201", "spos", base.replace(deterministic=deterministic), 0)
        run_cell(spec, root=tmp_path / str(i), log=lambda *_: None)
        folder = spec.run_dir(tmp_path / str(i))
        config = json.loads((folder / "config.json").read_text())
        assert config["provenance"]["determinism"]["deterministic_algorithms"] is deterministic
        weights = torch.load(folder / "supernet.pt", map_location="cpu")
        outputs.append(((folder / "scores" / "epoch_001.csv").read_bytes(), weights, spec.cell_hash()))
    assert not torch.are_deterministic_algorithms_enabled()  # restored after the cell
    (s1, w1, h1), (s2, w2, h2), (s3, w3, h3) = outputs
    assert s1 == s2 == s3 and h1 == h2 != h3
    assert all(torch.equal(w1[k], w2[k]) and torch.equal(w1[k], w3[k]) for k in w1)


def test_deterministic_mode_is_restored_after_a_bench_phase():
    from harness.engine.determinism import deterministic_mode, settings

    before = settings()
    with deterministic_mode(True, "cpu"):
        assert settings()["deterministic_algorithms"] and settings()["cudnn_deterministic"]
        assert settings()["cublas_workspace_config"] == before["cublas_workspace_config"]  # CPU: no cuBLAS setting
    assert settings() == before
