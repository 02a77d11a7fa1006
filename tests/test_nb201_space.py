"""NB201 space: isomorphism classes, official index order, FLOPs/params of the stand-alone net."""

from __future__ import annotations

import math
import os
import random

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from harness.api.errors import WsbenchError
from harness.settings import data_file
from spaces.nb201.cost import Cost, CostConfigError, arch_cost, cost_table
from spaces.nb201.encoding import NUM_ARCHS, OP_INDEX, OPS, enumerate_archs, lex_index, parse_arch_str, to_arch_str
from spaces.nb201.isomorphism import (
    all_representatives,
    canonical,
    is_isomorphic,
    is_representative,
    num_classes,
    representative,
    unique_classes,
)
from spaces.nb201.official_order import (
    OfficialIndexError,
    arch_at_official_index,
    lex_to_official,
    official_index,
    official_to_lex,
)

INDEX0 = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
N_, S, C1, C3, P = (OP_INDEX[o] for o in OPS)  # none, skip, conv1x1, conv3x3, avg_pool


@pytest.fixture(scope="module")
def bench() -> pd.DataFrame:
    if not os.environ.get("WSBENCH_DATA"):
        pytest.skip("WSBENCH_DATA is not set; the NB201 CSV checks need the real data")
    return pd.read_csv(data_file("nb201/nb201-test-acc-200ep.csv", "NB201 accuracy CSV"))


def _has_path(arch) -> bool:
    reach = {0}
    for (target, src), op in zip(((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)), arch):
        if op != N_ and src in reach:
            reach.add(target)
    return 3 in reach


# ---------------------------------------------------------------- isomorphism


def test_sum_is_commutative_and_skip_is_identity():
    # node1 = x; out = conv3(x) + conv1(node1)  vs. the two convs swapped between the edges.
    assert is_isomorphic((S, N_, N_, C3, C1, N_), (S, N_, N_, C1, C3, N_))
    # conv3 reached through a skip node equals conv3 straight from the input.
    assert canonical((S, N_, N_, N_, C3, N_)) == canonical((N_, N_, N_, C3, N_, N_))
    # A 'none' edge contributes nothing that depends on its source op choices.
    assert is_isomorphic((C3, N_, N_, S, N_, N_), (P, N_, N_, S, N_, N_))


def test_different_computations_are_different_classes():
    assert not is_isomorphic((N_, N_, N_, C3, N_, N_), (N_, N_, N_, C1, N_, N_))
    assert not is_isomorphic((C3, N_, C1, N_, N_, S), (C1, N_, C3, N_, N_, S))  # op order matters
    assert not is_isomorphic((N_, N_, N_, S, N_, N_), (N_, N_, N_, P, N_, N_))


def test_whole_space_has_the_published_class_count():
    classes = unique_classes(enumerate_archs())
    assert len(classes) == num_classes() == 6466
    assert sum(len(v) for v in classes.values()) == NUM_ARCHS


def test_no_path_cells_follow_the_benchmark_not_pure_function():
    # The benchmark keeps zero sums like '#+#' apart, so disconnected cells form several classes.
    disconnected = [a for a in enumerate_archs() if not _has_path(a)]
    assert len(disconnected) == 341
    assert {canonical(a).count("0") for a in disconnected} == {0}  # none mentions the input
    assert len({canonical(a) for a in disconnected}) == 5
    # A sum arriving through skip_connect is one sort key: conv3(x) + (0 + conv1(x)) is not the
    # same class as conv1(x) + (0 + conv3(x)), although both compute the same function.
    assert not is_isomorphic((C3, C1, N_, N_, S, S), (C1, C3, N_, N_, S, S))


def test_representatives_are_smallest_members():
    reps = all_representatives()
    assert len(reps) == num_classes()
    assert all(is_representative(r) for r in reps)
    rng = random.Random(0)
    for arch in rng.sample(list(enumerate_archs()), 300):
        rep = representative(arch)
        assert is_isomorphic(rep, arch)
        assert lex_index(rep) <= lex_index(arch)
        assert representative(to_arch_str(arch)) == rep
    members = unique_classes(enumerate_archs())[canonical((S, N_, N_, N_, C3, N_))]
    assert representative(members[-1]) == min(members, key=lex_index)


def test_unique_classes_accepts_strings_and_tuples():
    archs = [INDEX0, parse_arch_str(INDEX0), (N_, N_, N_, C3, N_, N_)]
    classes = unique_classes(archs)
    assert len(classes) == 2
    assert classes[canonical(INDEX0)] == [parse_arch_str(INDEX0)] * 2


@pytest.mark.parametrize("bad", ["|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", (0, 1), "nonsense", 7])
def test_bad_arch_is_a_one_line_error(bad):
    with pytest.raises(WsbenchError):
        canonical(bad)


def test_canonical_equals_benchmark_unique_string(bench):
    ours = bench.ArchitectureString.map(canonical)
    mismatched = bench[ours != bench.UniqueString]
    assert mismatched.empty, mismatched.head().to_dict("records")
    # Partition check stated on its own: a bijection between our classes and UniqueString's.
    pairs = pd.DataFrame({"ours": ours, "theirs": bench.UniqueString})
    assert pairs.groupby("ours").theirs.nunique().max() == 1
    assert pairs.groupby("theirs").ours.nunique().max() == 1
    assert bench.UniqueString.nunique() == ours.nunique() == 6466


# ---------------------------------------------------------------- official order


def test_official_order_is_a_permutation_with_known_first_cell():
    order = official_to_lex()
    assert order.shape == (NUM_ARCHS,)
    assert np.array_equal(np.sort(order), np.arange(NUM_ARCHS))
    assert not np.array_equal(order, np.arange(NUM_ARCHS))  # really not lexicographic
    assert to_arch_str(arch_at_official_index(0)) == INDEX0
    assert official_index(INDEX0) == 0
    assert np.array_equal(lex_to_official()[order], np.arange(NUM_ARCHS))
    with pytest.raises(ValueError):
        order[0] = 1  # the cached array must not be mutable by callers


def test_official_index_round_trips():
    for i in range(NUM_ARCHS):
        arch = arch_at_official_index(i)
        assert official_index(arch) == i
    assert official_index(to_arch_str(arch_at_official_index(1234))) == 1234
    assert arch_at_official_index(np.int64(5)) == arch_at_official_index(5)


@pytest.mark.parametrize("bad", [-1, NUM_ARCHS, 1.5, "3", True, None])
def test_bad_official_index_is_a_one_line_error(bad):
    with pytest.raises(OfficialIndexError):
        arch_at_official_index(bad)


def test_official_order_matches_csv_rows(bench):
    ours = [to_arch_str(arch_at_official_index(i)) for i in range(NUM_ARCHS)]
    assert ours == bench.ArchitectureString.tolist()


# ---------------------------------------------------------------- costs


def _reference_network(arch, C: int, N: int, num_classes: int) -> nn.Module:
    """An independent torch build of the NB201 stand-alone network (only for counting)."""

    def rcb(cin, cout, k, stride):
        return nn.Sequential(nn.ReLU(), nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout))

    class Cell(nn.Module):
        def __init__(self, c):
            super().__init__()
            ops = []
            for op in (OPS[i] for i in arch):
                if op == "nor_conv_1x1":
                    ops.append(rcb(c, c, 1, 1))
                elif op == "nor_conv_3x3":
                    ops.append(rcb(c, c, 3, 1))
                elif op == "avg_pool_3x3":
                    ops.append(nn.AvgPool2d(3, 1, 1, count_include_pad=False))
                elif op == "skip_connect":
                    ops.append(nn.Identity())
                else:
                    ops.append(None)
            self.ops = nn.ModuleList([o if o is not None else nn.Identity() for o in ops])
            self.zero = [o is None for o in ops]

        def forward(self, x):
            nodes = [x]
            pos = 0
            for target in (1, 2, 3):
                acc = 0
                for src in range(target):
                    out = self.ops[pos](nodes[src])
                    acc = acc + (out * 0 if self.zero[pos] else out)
                    pos += 1
                nodes.append(acc)
            return nodes[3]

    class Reduction(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.a, self.b = rcb(cin, cout, 3, 2), rcb(cout, cout, 3, 1)
            self.short = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(cin, cout, 1, bias=False))

        def forward(self, x):
            return self.b(self.a(x)) + self.short(x)

    layers: list[nn.Module] = [nn.Conv2d(3, C, 3, padding=1, bias=False), nn.BatchNorm2d(C)]
    c = C
    for stage in range(3):
        if stage:
            layers.append(Reduction(c, 2 * c))
            c *= 2
        layers += [Cell(c) for _ in range(N)]
    layers += [nn.BatchNorm2d(c), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes)]
    return nn.Sequential(*layers)


def _count(model: nn.Module) -> tuple[int, int]:
    """(MACs of Conv2d/Linear incl. bias, parameter count) for one 3x32x32 image."""
    macs = [0]

    def hook(mod, inp, out):
        if isinstance(mod, nn.Conv2d):
            per_pos = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels * mod.out_channels // mod.groups
            n = out.shape[2] * out.shape[3]
            macs[0] += per_pos * n + (mod.out_channels * n if mod.bias is not None else 0)
        else:
            macs[0] += mod.in_features * mod.out_features + (mod.out_features if mod.bias is not None else 0)

    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.register_forward_hook(hook)
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, 32, 32, device="meta"))
    return macs[0], sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    "arch, C, N, classes",
    [
        (parse_arch_str(INDEX0), 16, 5, 10),
        ((C3,) * 6, 16, 5, 10),
        ((N_,) * 6, 16, 5, 10),
        ((C1, P, C3, S, N_, C3), 8, 2, 100),
        ((C3, C1, C1, P, C3, N_), 12, 1, 120),
    ],
)
def test_arch_cost_matches_an_independent_torch_count(arch, C, N, classes):
    # On the meta device only shapes are computed, so counting is instant.
    with torch.device("meta"):
        model = _reference_network(arch, C, N, classes)
    macs, params = _count(model)
    cost = arch_cost(arch, C=C, N=N, num_classes=classes)
    assert cost.flops_m == pytest.approx(macs / 1e6, abs=1e-9)
    assert cost.params_m == pytest.approx(params / 1e6, abs=1e-9)


def _truncate(x: float, decimals: int) -> float:
    return math.floor(x * 10**decimals) / 10**decimals


def test_cost_range_matches_published_cifar10_range():
    table = cost_table()
    # The paper prints the range truncated: params 0.073..1.531 (M), FLOPs 7.78..220.11 (M).
    assert _truncate(table.params_m.min(), 3) == pytest.approx(0.073)
    assert _truncate(table.params_m.max(), 3) == pytest.approx(1.531)
    assert _truncate(table.flops_m.min(), 2) == pytest.approx(7.78)
    assert _truncate(table.flops_m.max(), 2) == pytest.approx(220.11)
    assert table.flops_m.min() == arch_cost((N_,) * 6).flops_m
    assert table.params_m.max() == arch_cost((C3,) * 6).params_m


def test_cost_of_official_index0_equals_benchmark_stored_value():
    # The benchmark stores cost_info {flops: 15.64737, params: 0.129306} for index 0 (CIFAR-10);
    # this cell has an avg_pool edge, so it also pins that cell pooling counts no FLOPs.
    cost = arch_cost(INDEX0)
    assert isinstance(cost, Cost)
    assert cost.flops_m == pytest.approx(15.64737, abs=5e-6)
    assert cost.params_m == pytest.approx(0.129306, abs=5e-7)


def test_cost_table_agrees_with_arch_cost_and_official_order():
    table = cost_table(C=8, N=3, num_classes=100)
    assert list(table.columns) == ["flops_m", "params_m"]
    assert table.index.is_unique and len(table) == NUM_ARCHS
    rng = random.Random(1)
    for i in rng.sample(range(NUM_ARCHS), 200):
        arch = arch_at_official_index(i)
        assert table.index[i] == to_arch_str(arch)
        c = arch_cost(arch, C=8, N=3, num_classes=100)
        assert (table.iloc[i].flops_m, table.iloc[i].params_m) == pytest.approx((c.flops_m, c.params_m))
    table.loc[table.index[0], "flops_m"] = -1.0  # callers get a copy, the cache stays intact
    assert cost_table(C=8, N=3, num_classes=100).iloc[0].flops_m > 0


def test_cost_grows_with_convs_and_ignores_parameter_free_ops():
    base = arch_cost((N_,) * 6)
    assert arch_cost((S, P, S, P, S, P)) == base
    one_1x1, one_3x3 = arch_cost((C1,) + (N_,) * 5), arch_cost((C3,) + (N_,) * 5)
    assert base.params_m < one_1x1.params_m < one_3x3.params_m
    assert base.flops_m < one_1x1.flops_m < one_3x3.flops_m
    # Edge position does not matter for cost: every edge holds a same-size op.
    assert arch_cost((N_,) * 5 + (C3,)) == one_3x3


@pytest.mark.parametrize("kw", [{"C": 0}, {"N": -1}, {"num_classes": 2.5}, {"C": "16"}, {"N": True}])
def test_bad_cost_config_is_a_one_line_error(kw):
    with pytest.raises(CostConfigError):
        arch_cost((C3,) * 6, **kw)
    with pytest.raises(CostConfigError):
        cost_table(**kw)


def test_params_rank_correlates_with_cifar10_accuracy(bench):
    from scipy.stats import kendalltau

    table = cost_table()
    assert table.index.tolist() == bench.ArchitectureString.tolist()
    tau = kendalltau(table.params_m.to_numpy(), bench.CIFAR10TestAccuracy200Epochs.to_numpy()).statistic
    # Measured 0.578; bigger nets are better on NB201, but far from perfectly.
    assert 0.5 < tau < 0.65


@pytest.mark.parametrize("payload", [b"not gzip", None, np.arange(100, dtype="<u2").tobytes()])
def test_damaged_order_resource_is_a_one_line_error(payload, tmp_path, monkeypatch):
    import gzip

    from harness.api.errors import CorruptDataError
    from spaces.nb201 import official_order

    if payload is not None:  # None: the file is missing altogether
        data = payload if payload == b"not gzip" else gzip.compress(payload)
        (tmp_path / official_order.RESOURCE_NAME).write_bytes(data)
    monkeypatch.setattr(official_order.resources, "files", lambda package: tmp_path)
    official_order.official_to_lex.cache_clear()
    try:
        with pytest.raises(CorruptDataError, match="reinstall"):
            official_order.official_to_lex()
    finally:
        monkeypatch.undo()
        official_order.official_to_lex.cache_clear()
    assert official_order.official_to_lex().shape == (NUM_ARCHS,)
