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
    """48 of the 478 rows (params) and 6 (FLOPs); the full check takes about a minute (see spaces/darts)."""
    for r in _rows(48).itertuples():
        with torch.device("meta"):
            net = N.DartsNetwork(E.parse(r.architecture), C=36, layers=20)
        assert N.count_params(net) == r.params
    for r in _rows(6).itertuples():
        with torch.device("meta"):
            net = N.DartsNetwork(E.parse(r.architecture), C=36, layers=20)
        assert N.seed_paper_flops(net) == r.flops
        assert N.count_macs(net)["conv"] > r.flops  # the full count is larger (dilated depthwise convs included)
