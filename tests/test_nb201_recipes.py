"""NB201's recipe options and protocols: what each option changes, that its default changes nothing,
and that the recipe protocols cite a source for every value they set.

Options: the network keys ``cell_bn_affine``, ``cell_bn_track``, ``cell_dead_ops``; one cell per
position in the supernet (``PER_POSITION``); SPOS's and few-shot's ``granularity``; few-shot's
``separate``. The equivalence with the reference networks is ``tests/test_xautodl_equivalence.py``.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch import nn

from harness.api.errors import WsbenchError
from harness.api.space import PER_POSITION, TaskSpec
from harness.catalog import PROTOCOLS, SPACES, STRATEGIES, TASKS, protocol_entry
from harness.cli.protocol_show import show_protocol
from harness.engine.cell import CellSpec
from harness.engine.step import train_step, trainer_for
from harness.seeding import numpy_stream
from spaces.nb201.ops import CellSettings
from spaces.nb201.supernet import NB201Network, NB201Supernet
from strategies.partitioned import FewShot

SPACE = SPACES.get("nb201")
RECIPES = ("fewshot-oneshot", "fewshot-split", "nb201-rs-xautodl", "seedpaper-nb201", "seedpaper-nb201-readme")
CELL_KEYS = ("cell_bn_affine", "cell_bn_track", "cell_dead_ops")
DEAD = (3, 3, 3, 1, 0, 0)  # nodes 1 and 2 cannot reach the output: the convs of edges 0-2 are dead


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only add noise on a shared 2-core box
    yield
    torch.set_num_threads(threads)


def _net(**cell) -> NB201Supernet:
    return SPACE.build_supernet({"C": 4, "N": 1, **cell}, TaskSpec(10), seed=0)


def _x(n: int = 4, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 3, 16, 16, generator=torch.Generator().manual_seed(seed))


def _cell_bns(model: nn.Module) -> list[nn.BatchNorm2d]:
    return [m for name, m in model.named_modules() if isinstance(m, nn.BatchNorm2d) and ".edges." in name]


# -- network keys -----------------------------------------------------------------------------------
def test_cell_keys_are_resolved_only_when_they_differ_from_the_default():
    """Configs written before the keys existed resolve (and hash) exactly as before."""
    assert SPACE.network_config({}) == {"C": 16, "N": 5}
    assert SPACE.network_config({"C": 8, "cell_bn_affine": True, "cell_dead_ops": False}) == {"C": 8, "N": 5}
    assert SPACE.network_config({"cell_bn_track": False}) == {"C": 16, "N": 5, "cell_bn_track": False}
    for name in ("quick", "nb201-rs", "nb201-gpu", "nb201-smoke"):
        assert not set(CELL_KEYS) & set(PROTOCOLS.get(name).to_dict(SPACE)), name


@pytest.mark.parametrize(
    "config, needle",
    [
        ({"cell_bn_affine": 0}, "cell_bn_affine: must be true or false"),
        ({"cell_dead_ops": "yes"}, "cell_dead_ops: must be true or false"),
        ({"cell_bn": False}, "unknown key.*known: C, N, cell_bn_affine, cell_bn_track, cell_dead_ops"),
        ({"C": True}, "C: must be a positive integer"),
    ],
)
def test_bad_cell_keys_are_one_line_errors(config, needle):
    with pytest.raises(WsbenchError, match=needle) as e:
        SPACE.network_config(config)
    assert "\n" not in str(e.value)


def test_explicit_defaults_build_the_very_same_supernet():
    a, b = _net(), _net(cell_bn_affine=True, cell_bn_track=True, cell_dead_ops=False)
    assert a.state_dict().keys() == b.state_dict().keys()
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    assert all(m.affine and m.track_running_stats for m in _cell_bns(a))


def test_cell_bn_affine_false_drops_the_cells_bn_shift_and_gives_their_convs_a_bias():
    net = _net(cell_bn_affine=False)
    assert all(not m.affine and m.weight is None for m in _cell_bns(net))
    convs = {n: m for n, m in net.named_modules() if isinstance(m, nn.Conv2d)}
    assert all((m.bias is not None) == (".edges." in n) for n, m in convs.items())  # stem / reductions: no bias
    assert all(m.affine for n, m in net.named_modules() if isinstance(m, nn.BatchNorm2d) and ".edges." not in n)


def test_untracked_cell_bn_scores_with_each_batchs_statistics_in_eval_mode():
    """cell_bn_track = false + eval mode: an image's logits depend on the batch it is scored in (the few-shot
    code's scoring); tracked cell BN gives the same logits in any batch."""
    x = _x(6)
    for track, depends in ((True, False), (False, True)):
        net = _net(cell_bn_track=track).eval()
        assert all(m.track_running_stats == track for m in _cell_bns(net))
        with torch.no_grad():
            whole, half = net(x, (3, 2, 3, 1, 3, 2))[:3], net(x[:3], (3, 2, 3, 1, 3, 2))
        assert (not torch.allclose(whole, half, atol=1e-5)) == depends


def test_dead_ops_give_the_same_logits_and_zero_gradients_instead_of_none():
    x = _x()
    outs, grads = {}, {}
    for dead in (False, True):
        net = _net(cell_dead_ops=dead).train()
        out = net(x, DEAD)
        out.sum().backward()
        outs[dead] = out.detach()
        grads[dead] = net.cells[0].edges["1_0"]["nor_conv_3x3"][1].weight.grad
    torch.testing.assert_close(outs[False], outs[True], rtol=0, atol=0)
    assert grads[False] is None and grads[True] is not None and not grads[True].any()


def test_dead_ops_update_tracked_bn_statistics_only_when_run():
    for dead in (False, True):
        net = _net(cell_dead_ops=dead).train()
        bn = net.cells[0].edges["1_0"]["nor_conv_3x3"][2]
        with torch.no_grad():
            net(_x(), DEAD)
        assert int(bn.num_batches_tracked) == int(dead)


def test_stand_alone_network_takes_the_cell_keys():
    net = SPACE.build_network(DEAD, C=4, N=1, cell_bn_affine=False, cell_bn_track=False, cell_dead_ops=True)
    assert isinstance(net, NB201Network) and all(not m.affine and not m.track_running_stats for m in _cell_bns(net))
    assert SPACE.cost(DEAD, C=4, N=1, cell_bn_affine=False) == SPACE.cost(DEAD, C=4, N=1)  # the benchmark's costs
    with pytest.raises(WsbenchError, match="needs keep_dead_ops=True"):
        NB201Network(DEAD, 4, 1, keep_dead_ops=False, cell=CellSettings(dead_ops=True))


# -- one cell per position ----------------------------------------------------------------------------
def test_a_supernet_takes_one_cell_per_position():
    net = _net().eval()
    assert SPACE.supports(PER_POSITION) and net.cell_positions == 3
    x, a, b = _x(), (3, 2, 3, 1, 3, 2), (1, 4, 0, 3, 3, 2)
    with torch.no_grad():
        torch.testing.assert_close(net(x, (a, a, a)), net(x, a), rtol=0, atol=0)
        assert not torch.allclose(net(x, (a, b, a)), net(x, a))
    with pytest.raises(WsbenchError, match="one cell per position \\(3 for N=1\\), got 2") as e:
        net(x, (a, b))
    assert "\n" not in str(e.value)


# -- SPOS granularity ---------------------------------------------------------------------------------
def _spos(**opts):
    return STRATEGIES.get("spos")(SPACE, np.random.default_rng(5), **opts)


def test_spos_default_draws_are_unchanged_and_position_draws_one_cell_per_position():
    ref = np.random.default_rng(5)
    assert [_spos().paths(0) for _ in range(1)] == [[SPACE.sample(ref)]]
    s = _spos(granularity="position")
    s.bind(_net(), 10, 1)
    (path,) = s.paths(0)
    assert len(path) == 3 and all(len(c) == 6 for c in path)
    drawn = np.array([c for i in range(2000) for c in s.paths(i)[0]])
    assert np.allclose(np.bincount(drawn.ravel(), minlength=5) / drawn.size, 0.2, atol=0.01)  # uniform per edge


def test_position_granularity_needs_the_capability_and_a_bound_supernet():
    with pytest.raises(WsbenchError, match="per_position") as e:
        STRATEGIES.get("spos")(SPACES.get("nb101"), np.random.default_rng(0), granularity="position")
    assert "\n" not in str(e.value)
    with pytest.raises(WsbenchError, match="bind the strategy"):
        _spos(granularity="position").paths(0)
    with pytest.raises(WsbenchError, match="unknown SPOS granularity 'cell'"):
        _spos(granularity="cell")


@pytest.mark.parametrize("name", ["spos", "multipath", "fewshot"])
def test_later_options_are_hashed_only_when_a_matrix_sets_them(name):
    cls = STRATEGIES.get(name)
    assert "granularity" in cls.option_specs and "granularity" not in cls.defaults
    p = PROTOCOLS.get("nb201-smoke")
    plain = CellSpec("nb201", name, p, 0).cell_hash()
    assert plain == CellSpec("nb201", name, p, 0, {}).cell_hash()
    assert plain != CellSpec("nb201", name, p, 0, {"granularity": "position"}).cell_hash()


# -- few-shot: per position after the split, and separate copies --------------------------------------
def _fewshot(**opts) -> FewShot:
    return FewShot(SPACE, numpy_stream(0, "arch"), **opts)


def test_fewshot_positions_share_the_split_op_after_the_split_only():
    s = _fewshot(edge=1, warmup=0.5, granularity="position")
    model = s.bind(_net(), steps_per_epoch=200, epochs=1)
    before = [s.paths(i)[0] for i in range(100)]
    after = [s.paths(i)[0] for i in range(100, 200)]
    assert any(len({c[1] for c in p}) > 1 for p in before)  # the one-shot phase: positions independent
    assert all(len({c[1] for c in p}) == 1 for p in after)
    assert {model.route(p) for p in after} == set(range(5)) and model.route(after[0]) == after[0][0][1]


def _idle_copy_moves(separate: bool, zero_grad: str) -> bool:
    """Whether copy 0 moves at a step routed to another copy, after the split (copy 0 trained before)."""
    s = _fewshot(edge=0, warmup=0.25, separate=separate)
    p = PROTOCOLS.get("nb201-smoke").replace(zero_grad=zero_grad, weight_decay=0.01, lr=0.1, lr_min=0.1)
    model = s.bind(_net(), steps_per_epoch=40, epochs=1)
    t = trainer_for(p, model, s, TASKS.get("cifar10"), 40, 1)
    trained: list = []
    draw = s.paths
    s.paths = lambda step: trained.append(draw(step)) or trained[-1]  # record what each step trains
    g = torch.Generator().manual_seed(1)
    for step in range(40):
        before = torch.cat([q.detach().flatten() for q in model.parts[0].parameters()])
        train_step(t, step, TASKS.get("cifar10").synthetic_batch(8, g))
        after = torch.cat([q.detach().flatten() for q in model.parts[0].parameters()])
        if step > 12 and model.part_of(trained[-1][0]) != 0:
            return not torch.equal(before, after)
    raise AssertionError("no step after the split was routed away from copy 0")


@pytest.mark.parametrize(
    "separate, zero_grad, moves", [(False, "none", False), (True, "none", False), (False, "zeros", True), (True, "zeros", False)]
)
def test_separate_copies_take_no_step_when_another_copy_trains(separate, zero_grad, moves):
    """separate = false (today's): with zeroed gradients an idle copy still takes weight decay and momentum."""
    assert _idle_copy_moves(separate, zero_grad) == moves


def test_fewshot_separate_keeps_its_own_copys_off_path_decay():
    """Within the routed copy, parameters off the path keep zeroed gradients and so still decay (zeros
    semantics), while the idle copies hold no gradient at all."""
    s = _fewshot(edge=0, warmup=0.0, separate=True)
    model = s.bind(_net(), steps_per_epoch=60, epochs=1)
    p = PROTOCOLS.get("nb201-smoke").replace(zero_grad="zeros", weight_decay=0.01, lr=0.1, lr_min=0.1)
    t = trainer_for(p, model, s, TASKS.get("cifar10"), 60, 1)
    g, decayed = torch.Generator().manual_seed(2), 0
    for step in range(60):
        before = [q.detach().clone() for q in model.parameters()]
        train_step(t, step, TASKS.get("cifar10").synthetic_batch(8, g))
        for q, b in zip(model.parameters(), before):
            if q.grad is not None and not q.grad.any() and not torch.equal(q.detach(), b):
                decayed += 1  # off the path, zero gradient, moved: weight decay / momentum of its own copy
        holding = {i for i, part in enumerate(model.parts) if any(q.grad is not None for q in part.parameters())}
        assert len(holding) <= 1  # only the routed copy holds gradients during its step
    assert decayed > 0


def test_fewshot_separate_resume_point_counts_the_copies_held_aside():
    """A resume point taken while idle copies' gradients are held aside lists those parameters as holding
    one, so a resumed zeroed-gradient cell decays them again as the uninterrupted run does."""
    s = _fewshot(edge=0, warmup=0.0, separate=True)
    model = s.bind(_net(), steps_per_epoch=30, epochs=1)
    p = PROTOCOLS.get("nb201-smoke").replace(zero_grad="zeros", weight_decay=0.01, lr=0.1, lr_min=0.1)
    t = trainer_for(p, model, s, TASKS.get("cifar10"), 30, 1)
    g = torch.Generator().manual_seed(3)
    for step in range(30):
        train_step(t, step, TASKS.get("cifar10").synthetic_batch(8, g))
        aside = {id(q) for q in s.held_aside()}
        if aside:
            break
    else:
        raise AssertionError("no step held an idle copy aside")
    held = dict(zip(map(id, t.params), t.grads_held()))
    assert all(held[i] for i in aside) and all(q.grad is None for q in s.held_aside())


# -- the recipe protocols ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", RECIPES)
def test_every_value_a_recipe_sets_has_a_source(name):
    entry = protocol_entry(name)
    table = _table(name)
    needed = {k for k in table if k not in ("base", "description", "notes", "references", "sources", "network", "task_options")}
    needed |= {f"{m}.{k}" for m in ("network", "task_options") for k in table.get(m, {})}
    assert needed <= set(entry.sources), sorted(needed - set(entry.sources))
    # A value read from a reference names it; a deliberate deviation says it is ours, and why.
    assert all(re.match(r"[\w.-]+/[\w.-]+, |xautodl 1\.0\.0, |wsbench \(ours\), ", v) for v in entry.sources.values())
    shown = show_protocol(entry)
    assert all(v in shown for v in entry.sources.values())


def _table(name: str) -> dict:
    from pathlib import Path

    import tomllib

    import spaces.nb201

    return tomllib.loads((Path(spaces.nb201.__file__).parent / "protocols.toml").read_text())[name]


def test_the_split_recipe_notes_name_options_that_split_where_the_reference_does():
    p = PROTOCOLS.get("fewshot-split")
    m = re.search(r"options \{ (edge = \d+, warmup = [\d.]+, granularity = \"position\", separate = true) \}", p.notes)
    assert m, "the notes must name the strategy options"
    opts = dict(kv.split(" = ") for kv in m.group(1).split(", "))
    s = _fewshot(edge=int(opts["edge"]), warmup=float(opts["warmup"]), granularity="position", separate=True)
    s.bind(_net(), steps_per_epoch=1041, epochs=p.epochs)
    assert s._split_at == 600 * 1041 and p.epochs == 600 + 5 * 300


def test_recipe_networks_resolve_to_their_reference_cells():
    fs = PROTOCOLS.get("fewshot-oneshot").network_for(SPACE)
    assert fs == {"C": 16, "N": 5, "cell_bn_affine": False, "cell_bn_track": False, "cell_dead_ops": True}
    assert PROTOCOLS.get("nb201-rs-xautodl").network_for(SPACE) == fs
    assert PROTOCOLS.get("seedpaper-nb201").network_for(SPACE) == {"C": 16, "N": 5, "cell_dead_ops": True}
    assert PROTOCOLS.get("seedpaper-nb201").task == "cifar100"
    one_shot = PROTOCOLS.get("fewshot-oneshot")
    assert (one_shot.bn_mode, one_shot.eval_batch_size, one_shot.eval_images, one_shot.grad_clip) == ("running", 48, None, None)
