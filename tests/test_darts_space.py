"""The DARTS cell space: encodings, sampling, and the evaluation network against the seed paper's table."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import needs_data

from harness.api.errors import WsbenchError
from spaces.darts import encoding as E
from spaces.darts import network as N

TABLES = ("seedpaper/darts-cifar10.csv", "seedpaper/darts-cifar10-seed43.csv")


def _rows(n: int | None = None) -> pd.DataFrame:
    import os
    from pathlib import Path

    frames = [pd.read_csv(Path(os.environ["WSBENCH_DATA"]) / t) for t in TABLES]
    df = pd.concat(frames, ignore_index=True)
    return df if n is None else df.sample(n, random_state=0)


def test_space_size_counts_unordered_distinct_input_pairs():
    per_cell = (1 * 49) * (3 * 49) * (6 * 49) * (10 * 49)
    assert E.space_size() == per_cell**2 == 1_076_746_950_455_072_400
    assert E.space_size(8) == ((1 * 64) * (3 * 64) * (6 * 64) * (10 * 64)) ** 2


def test_sampling_is_seeded_valid_and_covers_the_choices():
    a = [E.sample(np.random.default_rng(5)) for _ in range(3)]
    assert a[0] == a[1] == a[2]
    archs = [E.sample(np.random.default_rng(s)) for s in range(300)]
    assert len({E.arch_id(x) for x in archs}) == 300
    for x in archs:
        assert E.canonical(x) == x  # valid and canonical already
    ops = {op for x in archs for cell in x for node in cell for _, op in node}
    inputs_of_node5 = {src for x in archs for src, _ in x[0][3]}
    assert ops == set(E.OPS) and inputs_of_node5 == {0, 1, 2, 3, 4}


def test_every_form_round_trips_and_edge_order_does_not_matter():
    for seed in range(20):
        x = E.sample(np.random.default_rng(seed))
        assert E.parse(E.arch_id(x)) == x
        assert E.parse(E.to_genotype(x)) == x
        assert E.parse(json.dumps(E.to_json(x))) == x
        swapped = [[(node[1], node[0]) for node in cell] for cell in x]
        assert E.arch_id(E.canonical(swapped)) == E.arch_id(x)


@pytest.mark.parametrize(
    "bad,match",
    [
        ("normal:0~sep_conv_3x3,0~skip_connect|0~a,1~b", "two inputs must differ|unknown op|nodes"),
        ("normal:0~sep_conv_3x3", "not a DARTS arch id|nodes"),
        ('{"normal/2/0/input": 0}', "not a DARTS architecture object"),
        ("{not json", "unreadable DARTS architecture JSON"),
        ("Genotype(normal=[('sep_conv_3x3', 0)], normal_concat=[2, 3, 4, 5])", "must list 8"),
    ],
)
def test_bad_architectures_are_one_line_errors(bad, match):
    with pytest.raises(WsbenchError, match=match):
        E.parse(bad)
    x = E.sample(np.random.default_rng(0))
    with pytest.raises(WsbenchError, match="input 4 is not among 0..1"):
        E.canonical([[((4, "skip_connect"), (0, "skip_connect")), *x[0][1:]], x[1]])
    with pytest.raises(WsbenchError, match="unknown op 'none'"):
        E.canonical([[((0, "none"), (1, "skip_connect")), *x[0][1:]], x[1]])
    assert E.canonical([[((0, "none"), (1, "skip_connect")), *x[0][1:]], x[1]], E.OPS_WITH_NONE)


def test_network_forward_shapes_and_auxiliary_head():
    x = E.sample(np.random.default_rng(1))
    net = N.DartsNetwork(x, C=4, layers=5, auxiliary=True)
    net.drop_path_prob = 0.2
    logits, aux = net(torch.randn(2, 3, 32, 32))
    assert logits.shape == aux.shape == (2, 10)
    net.eval()
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert N.count_params(net) < sum(p.numel() for p in net.parameters())  # the auxiliary head is left out


@needs_data()
def test_params_and_flops_equal_the_seed_paper_columns_on_a_sample():
    """The built network on 12 of the 478 rows (params) and 3 (FLOPs); the closed form is checked on all."""
    for r in _rows(12).itertuples():
        with torch.device("meta"):
            net = N.DartsNetwork(E.parse(r.architecture), C=36, layers=20)
        assert N.count_params(net) == r.params
    for r in _rows(3).itertuples():
        with torch.device("meta"):
            net = N.DartsNetwork(E.parse(r.architecture), C=36, layers=20)
        assert N.seed_paper_flops(net) == r.flops
        assert N.count_macs(net)["conv"] > r.flops  # the full count is larger (dilated depthwise convs included)


@needs_data()
def test_closed_form_cost_equals_the_seed_paper_columns_on_all_478_rows():
    from spaces.darts.cost import arch_cost

    rows = _rows()
    assert len(rows) == 478
    costs = [arch_cost(E.parse(a)) for a in rows["architecture"]]
    assert [c.params for c in costs] == rows["params"].tolist()
    assert [c.flops for c in costs] == rows["flops"].tolist()


@pytest.mark.parametrize("C,layers", [(8, 5), (4, 3), (16, 8)])
def test_closed_form_cost_equals_the_built_networks_counters(C, layers):
    from spaces.darts.cost import arch_cost

    for seed in range(3):
        x = E.sample(np.random.default_rng(seed))
        net = N.DartsNetwork(x, C=C, layers=layers)
        cost = arch_cost(x, C=C, layers=layers)
        assert cost.params == N.count_params(net)
        assert cost.flops == N.seed_paper_flops(net)


def test_grid_form_is_a_bijection_onto_the_space():
    from spaces.darts.space import DartsSpace

    space = DartsSpace()
    sizes = space.grid_shape()
    assert len(sizes) == 24 and np.prod([float(s) for s in sizes]) == pytest.approx(float(E.space_size()))
    rng = np.random.default_rng(0)
    for _ in range(200):
        g = space.sample(rng)
        assert E.to_grid(E.from_grid(g)) == g
        assert space.parse(space.format(g)) == g == space.parse(space.arch_id(g))
    with pytest.raises(WsbenchError, match="out of range"):
        space.parse((0, 0, 1) + (0,) * 21)  # node 2 has one input pair only


def _copy_path_weights(supernet, net, arch):
    """Load the supernet's weights of ``arch`` into the stand-alone network."""
    normal, reduce = arch
    state = {}
    for i, scell in enumerate(supernet.cells):
        for name in ("pre0", "pre1"):
            for k, v in getattr(scell, name).state_dict().items():
                state[f"cells.{i}.{name}.{k}"] = v
        for e, (node, src, op) in enumerate(E.edges_of(reduce if scell.reduction else normal)):
            for k, v in scell.edges[f"{node}<-{src}"][op].state_dict().items():
                state[f"cells.{i}.ops.{e}.{k}"] = v
    for name in ("stem", "classifier"):
        for k, v in getattr(supernet, name).state_dict().items():
            state[f"{name}.{k}"] = v
    net.load_state_dict(state, strict=True)


def test_supernet_path_equals_the_stand_alone_network_with_its_weights():
    from spaces.darts.supernet import DartsSupernet

    torch.manual_seed(0)
    supernet = DartsSupernet(C=4, layers=5, seed=3).eval()
    x = torch.randn(3, 3, 32, 32)
    for seed in range(3):
        arch = E.sample(np.random.default_rng(seed))
        net = N.DartsNetwork(arch, C=4, layers=5).eval()
        _copy_path_weights(supernet, net, arch)
        torch.testing.assert_close(supernet(x, E.to_grid(arch)), net(x))


def test_one_hot_mixed_forward_equals_the_discrete_path_and_carries_every_gradient():
    from spaces.darts.supernet import EDGES_PER_CELL, MIXED_SHAPE, DartsSupernet

    supernet = DartsSupernet(C=4, layers=3, seed=0).eval()
    arch = E.sample(np.random.default_rng(7))
    w = torch.zeros(MIXED_SHAPE)
    w[:, 0] = 1.0  # none everywhere ...
    for half, cell in enumerate(arch):
        for node, src, op in E.edges_of(cell):  # ... except the path's edges
            row = half * EDGES_PER_CELL + E.CANDIDATE_EDGES.index((node, src))
            w[row, 0], w[row, E.OPS_WITH_NONE.index(op)] = 0.0, 1.0
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(supernet(x, w), supernet(x, E.to_grid(arch)))
    w.requires_grad_()
    supernet(x, w).sum().backward()
    assert bool((w.grad[:, 1:] != 0).all())  # zero weights still get a gradient (the GDAS trick)


def test_derive_keeps_the_two_strongest_edges_of_each_node_ignoring_none():
    from spaces.darts.supernet import EDGES_PER_CELL, MIXED_SHAPE, derive

    w = np.full(MIXED_SHAPE, 0.1)
    w[:, 0] = 0.9  # none is strongest everywhere: ignored
    row = E.CANDIDATE_EDGES.index((5, 4))
    w[row, E.OPS_WITH_NONE.index("dil_conv_5x5")] = 0.5
    w[E.CANDIDATE_EDGES.index((5, 2)), E.OPS_WITH_NONE.index("skip_connect")] = 0.4
    w[EDGES_PER_CELL + E.CANDIDATE_EDGES.index((3, 1)), E.OPS_WITH_NONE.index("sep_conv_3x3")] = 0.3
    normal, reduce = derive(w)
    assert normal[3] == ((2, "skip_connect"), (4, "dil_conv_5x5"))
    assert reduce[1][1] == (1, "sep_conv_3x3") or reduce[1][0] == (1, "sep_conv_3x3")
    assert all(op != "none" for cell in (normal, reduce) for node in cell for _, op in node)


@needs_data()
def test_ground_truth_tables_are_explicit_percent_and_mean_only_where_both_seeds_exist():
    from harness.catalog import load_ground_truth

    q = ("darts", "seedpaper", "cifar10", "test", "accuracy")
    s42, s43, mean = (load_ground_truth(*q, r) for r in ("seed:42", "seed:43", "mean-of-seeds"))
    assert (len(s42), len(s43), len(mean)) == (377, 101, 101)
    assert 90 < s42.values.min() and s42.values.max() < 100  # percent, not fractions
    both = mean.arch_ids
    np.testing.assert_allclose(mean.lookup(both), (s42.lookup(both) + s43.lookup(both)) / 2)
    raw = _rows()
    first = raw.iloc[0]
    assert s42.lookup([E.arch_id(E.parse(first.architecture))])[0] == pytest.approx(100 * first.accuracy)
    for bad in ("mean", "seed:44"):
        with pytest.raises(WsbenchError, match="seed reduction"):
            load_ground_truth(*q, bad)


def test_network_config_takes_a_drop_path_probability_and_the_gpu_protocol_resolves():
    from harness.catalog import PROTOCOLS
    from spaces.darts.space import DartsSpace

    space = DartsSpace()
    assert space.network_config({"drop_path": 0.2}) == {"C": 36, "layers": 20, "drop_path": 0.2}
    assert space.network_config({"drop_path": 0.0}) == {"C": 36, "layers": 20}  # off: the same cell hash as unset
    for bad in (1.0, -0.1, "0.2", True):
        with pytest.raises(WsbenchError, match="drop_path: must be a probability"):
            space.network_config({"drop_path": bad})
    gpu = PROTOCOLS.get("darts-gpu")  # the seed paper's recipe (seedpaper-darts) cut to 50 epochs
    net = gpu.network_for(space)
    assert (net["C"], net["layers"], net["drop_path"], net["drop_path_epochs"]) == (36, 20, 0.2, 50)
    assert gpu.task_options["cutout"] == 16
    assert PROTOCOLS.get("darts-cpu").network_for(space) == {"C": 8, "layers": 5}


def test_drop_path_acts_only_while_training_with_gradients():
    from spaces.darts.supernet import DartsSupernet

    net = DartsSupernet(C=4, layers=3, drop_path=0.5, seed=0).train()
    arch = E.to_grid(E.sample(np.random.default_rng(0)))
    x = torch.randn(4, 3, 32, 32)
    torch.manual_seed(0)
    a = net(x, arch)
    torch.manual_seed(1)
    b = net(x, arch)
    assert not torch.equal(a, b)  # different examples dropped
    with torch.no_grad():  # BN recalibration and scoring: never dropped
        torch.manual_seed(0)
        c = net(x, arch)
        torch.manual_seed(1)
        assert torch.equal(c, net(x, arch))


@pytest.mark.parametrize("name", ["darts", "gdas"])
def test_bilevel_strategies_select_a_valid_architecture_of_the_space(name):
    from harness.api.space import TaskSpec
    from harness.catalog import STRATEGIES
    from harness.seeding import numpy_stream
    from spaces.darts.space import DartsSpace

    space = DartsSpace()
    strategy = STRATEGIES.get(name)(space, numpy_stream(0, "arch"))
    assert (strategy.num_edges, strategy.num_ops) == (28, 8)
    strategy.bind(space.build_supernet(space.smoke_network, TaskSpec(10), seed=0), 1, 1)
    pick = strategy.selected()
    assert space.parse(pick) == pick and len(pick) == 24
    assert all(op != "none" for cell in E.from_grid(pick) for node in cell for _, op in node)


def test_fairnas_on_darts_runs_every_op_of_every_op_slot_once_per_step():
    from harness.catalog import STRATEGIES
    from harness.seeding import numpy_stream
    from spaces.darts.space import DartsSpace

    space = DartsSpace()
    fair = STRATEGIES.get("fairnas")(space, numpy_stream(0, "arch"))
    assert fair.m == 7 and fair.paths_per_step == 7
    for step in range(3):
        paths = fair.paths(step)
        assert len(paths) == 7
        for c, choice in enumerate(space.choices()):
            counts = np.bincount([p[c] for p in paths], minlength=choice.size)
            if choice.kind == "op":
                assert counts.tolist() == [1] * 7
            else:  # input pairs: as balanced as 7 paths allow
                assert counts.max() - counts.min() <= 1 and counts.sum() == 7
