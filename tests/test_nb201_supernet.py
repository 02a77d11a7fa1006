"""NB201 supernet vs stand-alone network: same parameters, same function, official costs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.api.errors import WsbenchError
from spaces.nb201.cost import arch_cost
from spaces.nb201.encoding import EDGES, OPS, to_arch_str
from spaces.nb201.ops import ResidualReduction, cell_plan, edge_key, make_op, nodes_reaching_output
from spaces.nb201.supernet import NB201ConfigError, NB201Network, NB201Supernet, count_flops, count_params

NONE, SKIP, C1, C3, POOL = range(5)
SPECIAL = {
    "all_none": (NONE,) * 6,
    "all_skip": (SKIP,) * 6,
    "all_conv3x3": (C3,) * 6,
    "all_pool": (POOL,) * 6,
    # Nodes 1 and 2 cannot reach the output: their three convs are dead.
    "dead_nodes_1_2": (C3, C3, C3, SKIP, NONE, NONE),
    # Output gets no input at all: the cell returns zeros, every conv in it is dead.
    "dead_output": (C3, C1, C3, NONE, NONE, NONE),
    # Node 1 is zero but feeds a conv: BN's shift reaches the output (official semantics).
    "conv_from_zero_node": (NONE, NONE, NONE, NONE, C3, NONE),
    # Node 2 dead (3<-2 none) while node 1 lives.
    "dead_node_2": (C1, C3, POOL, SKIP, C3, NONE),
}
_rng = np.random.default_rng(20240201)
SAMPLED = [tuple(int(v) for v in row) for row in _rng.integers(0, len(OPS), size=(13, 6))]
ARCHS = list(SPECIAL.values()) + SAMPLED
IDS = list(SPECIAL) + [to_arch_str(a) for a in SAMPLED]


def _randomise_bn(model: torch.nn.Module, seed: int) -> None:
    """Give every BN non-trivial affine weights and running stats so eval-mode checks mean something."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen))
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """These tensors are tiny: with several threads on a busy 2-core box OpenMP spinning made the
    file ~10x slower (73 s vs 6 s measured), so this file runs single-threaded and restores after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def full_supernet() -> NB201Supernet:
    net = NB201Supernet(C=16, N=5, num_classes=10, seed=3)
    _randomise_bn(net, seed=4)
    return net.eval()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(5))


def _reference_forward(net: NB201Supernet, x: torch.Tensor, arch: tuple[int, ...]) -> torch.Tensor:
    """The official computation, written naively: every edge runs, ``none`` is ``x * 0``."""
    h = net.stem(x)
    for layer in net.cells:
        if not hasattr(layer, "edges"):
            h = layer(h)
            continue
        nodes = [h]
        for target in (1, 2, 3):
            total = 0
            for pos, (t, s) in enumerate(EDGES):
                if t != target:
                    continue
                op = OPS[arch[pos]]
                total = total + (nodes[s] * 0 if op == "none" else layer.edges[edge_key(t, s)][op](nodes[s]))
            nodes.append(total)
        h = nodes[3]
    h = net.lastact(h)
    return net.classifier(h.mean(dim=(2, 3)))


def test_special_archs_mean_what_their_names_say() -> None:
    assert nodes_reaching_output(SPECIAL["dead_nodes_1_2"]) == {0, 3}
    assert nodes_reaching_output(SPECIAL["dead_output"]) == {3}
    assert nodes_reaching_output(SPECIAL["dead_node_2"]) == {0, 1, 3}
    assert cell_plan(SPECIAL["dead_output"]).steps == ()
    assert [s.op for s in cell_plan(SPECIAL["conv_from_zero_node"]).steps] == ["nor_conv_3x3"]


@pytest.mark.parametrize("arch", ARCHS, ids=IDS)
def test_path_equals_standalone_network(full_supernet: NB201Supernet, images: torch.Tensor, arch) -> None:
    path = full_supernet.path_parameters(arch)
    net = NB201Network(arch, keep_dead_ops=False, seed=9).eval()
    assert [tuple(p.shape) for p in path] == [tuple(p.shape) for p in net.parameters()]
    assert count_params(path) == count_params(net)

    state = full_supernet.path_state_dict(arch)
    assert list(state) == list(net.state_dict())
    net.load_state_dict(state, strict=True)
    with torch.no_grad():
        torch.testing.assert_close(net(images), full_supernet(images, arch), rtol=0, atol=0)


@pytest.mark.parametrize("arch", ARCHS, ids=IDS)
def test_path_computes_the_official_function(arch) -> None:
    supernet = NB201Supernet(C=4, N=2, seed=3)
    _randomise_bn(supernet, seed=4)
    supernet.eval()
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    # The official network (dead ops included) loaded from the supernet computes the same function...
    official = NB201Network(to_arch_str(arch), C=4, N=2, keep_dead_ops=True, seed=9).eval()
    official.load_state_dict(supernet.path_state_dict(arch, keep_dead_ops=True), strict=True)
    with torch.no_grad():
        out = supernet(x, arch)
        torch.testing.assert_close(official(x), out, rtol=0, atol=0)
        # ...and skipping dead and zero work does not change the naive every-edge computation.
        torch.testing.assert_close(_reference_forward(supernet, x, arch), out, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("arch", ARCHS, ids=IDS)
def test_costs_match_arch_cost(full_supernet: NB201Supernet, arch) -> None:
    expected = arch_cost(arch, C=16, N=5, num_classes=10)
    official = NB201Network(arch, keep_dead_ops=True)
    assert count_params(official) == pytest.approx(expected.params_m, abs=1e-12)
    assert count_flops(official) == pytest.approx(expected.flops_m, abs=1e-9)
    # A supernet path costs what the stand-alone net of its used ops costs: the official cost
    # minus the convs on dead edges (whose cost arch_cost gives by zeroing those edges).
    live = nodes_reaching_output(arch)
    used_only = tuple(op if t in live else NONE for op, (t, _) in zip(arch, EDGES))
    path_cost = arch_cost(used_only)
    assert count_flops(full_supernet, arch) == pytest.approx(path_cost.flops_m, abs=1e-9)
    assert count_params(full_supernet.path_parameters(arch)) == pytest.approx(path_cost.params_m, abs=1e-12)


def test_ops_follow_the_nb201_definitions() -> None:
    ones = torch.ones(1, 2, 5, 5)
    # count_include_pad=False: border outputs average only real pixels, so a constant stays constant.
    torch.testing.assert_close(make_op("avg_pool_3x3", 2)(ones), ones)
    x = torch.randn(1, 2, 5, 5, generator=torch.Generator().manual_seed(0))
    assert make_op("skip_connect", 2)(x) is x
    for name, k in (("nor_conv_1x1", 1), ("nor_conv_3x3", 3)):
        relu, conv, bn = make_op(name, 6)
        assert isinstance(relu, torch.nn.ReLU) and not relu.inplace
        assert conv.kernel_size == (k, k) and conv.padding == (k // 2, k // 2) and conv.stride == (1, 1)
        assert conv.bias is None and bn.affine and bn.track_running_stats
        assert (bn.momentum, bn.eps) == (0.1, 1e-5)
    block = ResidualReduction(4, 8).eval()
    assert block(torch.randn(2, 4, 8, 8)).shape == (2, 8, 4, 4)
    assert block.conv_a[1].stride == (2, 2) and block.conv_b[1].stride == (1, 1)
    with torch.no_grad():
        y = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(1))
        shortcut = block.downsample[1](torch.nn.functional.avg_pool2d(y, 2))
        torch.testing.assert_close(block(y), block.conv_b(block.conv_a(y)) + shortcut)


def test_published_nb201_cost_range() -> None:
    # NB201 paper, CIFAR-10: params 0.073M..1.531M, FLOPs 7.78M..220.11M (printed truncated).
    smallest, largest = NB201Network(SPECIAL["all_none"]), NB201Network(SPECIAL["all_conv3x3"])
    assert int(count_params(smallest) * 1000) == 73 and int(count_params(largest) * 1000) == 1531
    assert int(count_flops(smallest) * 100) == 778 and int(count_flops(largest) * 100) == 22011


def test_dead_ops_are_held_only_by_the_official_network() -> None:
    arch = SPECIAL["dead_nodes_1_2"]
    official, used = NB201Network(arch, C=4, N=1), NB201Network(arch, C=4, N=1, keep_dead_ops=False)
    assert count_params(official) > count_params(used)
    assert count_flops(official) > count_flops(used)
    # Only the conv-free skip 3<-0 is used: the used net has the parameters of the all-none cell.
    assert count_params(used) == count_params(NB201Network(SPECIAL["all_none"], C=4, N=1))


@pytest.mark.parametrize("name", ["all_none", "dead_output", "conv_from_zero_node"])
def test_cells_without_input_path_give_input_independent_logits(name: str) -> None:
    net = NB201Supernet(C=4, N=2, seed=0)
    _randomise_bn(net, seed=1)
    net.eval()
    gen = torch.Generator().manual_seed(2)
    a, b = torch.randn(3, 3, 32, 32, generator=gen), torch.randn(3, 3, 32, 32, generator=gen) * 5
    with torch.no_grad():
        la, lb = net(a, SPECIAL[name]), net(b, SPECIAL[name])
    torch.testing.assert_close(la, lb, rtol=0, atol=1e-6)
    torch.testing.assert_close(la, la[:1].expand_as(la), rtol=0, atol=1e-6)
    # ...whereas a cell with a path from input to output depends on its input.
    with torch.no_grad():
        assert not torch.allclose(net(a, SPECIAL["all_conv3x3"]), net(b, SPECIAL["all_conv3x3"]))


@pytest.mark.parametrize("arch", ARCHS[:8] + ARCHS[-3:], ids=IDS[:8] + IDS[-3:])
def test_gradients_reach_exactly_the_path_parameters(arch) -> None:
    net = NB201Supernet(C=4, N=2, num_classes=5, seed=0)
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    net(x, arch).square().sum().backward()
    with_grad = {id(p) for p in net.parameters() if p.grad is not None}
    assert with_grad == {id(p) for p in net.path_parameters(arch)}


def test_construction_and_forward_are_deterministic_and_leave_global_rng_alone() -> None:
    before = torch.get_rng_state()
    a, b, c = NB201Supernet(C=4, N=1, seed=7), NB201Supernet(C=4, N=1, seed=7), NB201Supernet(C=4, N=1, seed=8)
    assert torch.equal(before, torch.get_rng_state())
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
    assert any(not torch.equal(v, c.state_dict()[k]) for k, v in a.state_dict().items())
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    arch = (C3, SKIP, C1, POOL, C3, SKIP)
    outs = []
    for net in (a, b):
        out = net(x, arch)  # training mode: batch statistics
        out.logsumexp(dim=1).sum().backward()
        outs.append((out.detach(), [p.grad.clone() for p in net.path_parameters(arch)]))
    assert torch.equal(outs[0][0], outs[1][0])
    assert all(torch.equal(g, h) for g, h in zip(outs[0][1], outs[1][1]))
    assert not torch.equal(outs[0][0], c(x, arch).detach())


def test_string_and_tuple_archs_give_the_same_path() -> None:
    net = NB201Supernet(C=4, N=1).eval()
    arch = (C1, SKIP, C3, NONE, POOL, C3)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(net(x, arch), net(x, to_arch_str(arch)))
    assert [id(p) for p in net.path_parameters(arch)] == [id(p) for p in net.path_parameters(to_arch_str(arch))]


def test_extract_copies_the_path_weights() -> None:
    net = NB201Supernet(C=4, N=1, seed=1)
    _randomise_bn(net, seed=2)
    net.eval()
    arch = SPECIAL["dead_node_2"]
    standalone = net.extract(arch).eval()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(standalone(x), net(x, arch), rtol=0, atol=0)
        next(standalone.parameters()).add_(1.0)  # a copy: editing it leaves the supernet alone
        assert not torch.equal(standalone(x), net(x, arch))


def test_count_flops_restores_training_flags() -> None:
    net = NB201Supernet(C=4, N=1)
    net.train()
    net.cells[0].eval()
    count_flops(net, (C3,) * 6)
    assert net.training and not net.cells[0].training and net.cells[1].training


def test_bad_input_gives_one_line_errors() -> None:
    net = NB201Supernet(C=4, N=1)
    x = torch.zeros(1, 3, 32, 32)
    with pytest.raises(WsbenchError, match="malformed NB201 arch string"):
        net(x, "|nor_conv_3x3~0|")
    with pytest.raises(WsbenchError, match="6 integers"):
        net(x, (0, 1, 2))
    with pytest.raises(NB201ConfigError, match="C to be a positive integer"):
        NB201Supernet(C=0)
    with pytest.raises(NB201ConfigError, match="N to be a positive integer"):
        NB201Network((0,) * 6, N=2.5)  # type: ignore[arg-type]
    with pytest.raises(NB201ConfigError, match=r"\(batch, 3, H, W\)"):
        net(torch.zeros(3, 32, 32), (0,) * 6)
    with pytest.raises(NB201ConfigError, match="input_size"):
        count_flops(net, (0,) * 6, input_size=(3, 32, 32))


# ------------------------------------------------------------------ mixed (op-weight) forward


def _reference_mixed(net: NB201Supernet, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The official search cell, written naively: every op of every edge runs, ``none`` is ``x * 0``."""
    h = net.stem(x)
    for layer in net.cells:
        if not hasattr(layer, "edges"):
            h = layer(h)
            continue
        nodes = [h]
        for target in (1, 2, 3):
            total = 0
            for pos, (t, s) in enumerate(EDGES):
                if t != target:
                    continue
                for k, op in enumerate(OPS):
                    out = nodes[s] * 0 if op == "none" else layer.edges[edge_key(t, s)][op](nodes[s])
                    total = total + w[pos, k] * out
            nodes.append(total)
        h = nodes[3]
    return net.classifier(net.lastact(h).mean(dim=(2, 3)))


@pytest.fixture(scope="module")
def small_supernet() -> NB201Supernet:
    net = NB201Supernet(C=4, N=2, seed=3)
    _randomise_bn(net, seed=4)
    return net


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("arch", ARCHS, ids=IDS)
def test_one_hot_weights_give_the_discrete_path(small_supernet, arch, train) -> None:
    small_supernet.train(train)
    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(6))
    one_hot = torch.nn.functional.one_hot(torch.tensor(arch), len(OPS)).float()
    with torch.no_grad():
        discrete = small_supernet(x, arch)
        torch.testing.assert_close(small_supernet(x, one_hot), discrete, rtol=0, atol=1e-6)
    # With gradient (GDAS' straight-through weights) the values are the same too.
    torch.testing.assert_close(small_supernet(x, one_hot.clone().requires_grad_()).detach(), discrete, rtol=0, atol=1e-6)


def test_one_hot_runs_only_the_discrete_paths_ops(small_supernet) -> None:
    """A detached one-hot costs exactly the discrete path: the same modules run, nothing more."""
    called: list[torch.nn.Module] = []
    hooks = [
        m.register_forward_hook(lambda m, i, o: called.append(m))
        for m in small_supernet.modules()
        if isinstance(m, (torch.nn.Conv2d, torch.nn.AvgPool2d))
    ]
    x = torch.randn(2, 3, 16, 16)
    try:
        for arch in ARCHS:
            one_hot = torch.nn.functional.one_hot(torch.tensor(arch), len(OPS)).float()
            called.clear()
            small_supernet(x, arch)
            discrete = list(called)
            called.clear()
            small_supernet(x, one_hot)
            assert called == discrete, to_arch_str(arch)
            called.clear()
            small_supernet(x, one_hot.requires_grad_())  # GDAS' arch step: still one op per edge
            assert called == discrete, to_arch_str(arch)
    finally:
        for h in hooks:
            h.remove()


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_soft_weights_compute_the_official_mixture(small_supernet, train) -> None:
    small_supernet.train(train)
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(2, 3, 16, 16, generator=gen)
    w = torch.randn(len(EDGES), len(OPS), generator=gen).softmax(1)
    w[1, 3] = 0.0  # exact zeros are skipped: must not change the value
    w[4] = torch.tensor([0.0, 0.0, 0.0, 0.0, 1.0])
    with torch.no_grad():
        torch.testing.assert_close(small_supernet(x, w), _reference_mixed(small_supernet, x, w), rtol=1e-5, atol=1e-6)


def test_gradients_reach_the_op_weights(small_supernet) -> None:
    small_supernet.train()
    gen = torch.Generator().manual_seed(8)
    x = torch.randn(2, 3, 16, 16, generator=gen)
    w = torch.randn(len(EDGES), len(OPS), generator=gen).softmax(1).requires_grad_()
    small_supernet(x, w).square().sum().backward()
    assert torch.isfinite(w.grad).all()
    assert (w.grad[:, 1:] != 0).all()  # every real op of every edge gets a gradient
    assert (w.grad[:, 0] == 0).all()  # ``none`` outputs zero: d/dw of w * 0 is exactly zero
    # ...and it is the mixture's true gradient, as the naive all-ops computation gives it.
    w2 = w.detach().clone().requires_grad_()
    _reference_mixed(small_supernet, x, w2).square().sum().backward()
    torch.testing.assert_close(w.grad, w2.grad, rtol=1e-4, atol=1e-6)
    # A hard one-hot with gradient: zero entries still get one (official GDAS), through one op per edge.
    hard = torch.nn.functional.one_hot(torch.tensor([3, 2, 1, 4, 3, 2]), len(OPS)).float().requires_grad_()
    small_supernet(x, hard).square().sum().backward()
    assert torch.isfinite(hard.grad).all() and (hard.grad != 0).all()


@pytest.mark.parametrize("bad", [torch.zeros(6, 4), torch.zeros(30), torch.zeros(6, 5, dtype=torch.long)])
def test_bad_op_weights_are_a_one_line_error(small_supernet, bad) -> None:
    with pytest.raises(NB201ConfigError, match="op weights") as e:
        small_supernet(torch.zeros(1, 3, 8, 8), bad)
    assert "\n" not in str(e.value)
