"""NB101 networks against the design card's reference, ``nasbench-pytorch`` 1.3.1 (its ``Network``).

For sampled cells (and the edge cases: input -> output only, a pool-only cell, uneven channel
splits that need truncation), wsbench's stand-alone network (``spaces.nb101.network``) and the
seed paper's supernet path (``cell = "seedpaper"``, on NAS-Bench-1Shot1-C cells) take the
reference's weights and buffers through a name map, and then give the same logits in training
mode (batch statistics) and in eval mode (running statistics), and the same running statistics
after a training-mode forward. Parameter counts: ours equal the reference's less its dummy
``Placeholder`` scalars, and the benchmark's count (``spaces.nb101.cost``).

Two differences of the reference are not ours to copy, and the tests say so by aligning them:

* BN momentum: the reference passes TensorFlow's decay 0.997 as PyTorch's ``momentum`` to the stem
  and the input projections (PyTorch's momentum is 1 - decay: their running statistics follow the
  last batch almost entirely), while the vertex ops get torch's default 0.1. The benchmark
  (TensorFlow, decay 0.997) is PyTorch momentum 0.003 everywhere -- ``bn_momentum = 0.003`` here,
  as the seed paper sets it. Outputs do not depend on momentum; running statistics after a step do,
  so that comparison sets the reference's momenta to ours first.
* Init: the reference draws conv weights He-normal over fan-out (``tf_like=False``) or normal with
  std 1/sqrt(fan_in) (``tf_like=True``, not truncated); weights are copied, so init plays no part.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch import nn

from harness.api.space import TaskSpec
from spaces.nb101.cost import count_params
from spaces.nb101.encoding import OPS, Cell, make_cell
from spaces.nb101.network import NB101Network
from spaces.nb101.ops import NetworkSettings
from spaces.nb101.sampling import oneshot1_space, sample_cell
from spaces.nb101.space import SPACE, SPACE_1SHOT1C
from spaces.nb101.supernet import NB101Supernet, cell_plan

nasbench = pytest.importorskip("nasbench_pytorch.model", reason="nasbench-pytorch 1.3.1 is a test extra")

C3, C1, MP = OPS
#: Largest |difference| of logits seen (float32), recorded by the tests and checked against the bound.
BOUND = 1e-5
SEEN: dict[str, float] = {}


def _cells() -> list[Cell]:
    rng = np.random.default_rng(2026)
    edge_cases = [
        make_cell([[0, 1], [0, 0]], []),  # input -> output only: the network is projections
        make_cell([[0, 1, 1], [0, 0, 1], [0, 0, 0]], [MP]),  # a pool vertex and input -> output
        # Three vertices feed the output: 43 + 43 + 42 of 128, and vertex 1 (43) feeds vertex 2 (43).
        make_cell(
            [[0, 1, 0, 1, 1, 0], [0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 1], [0] * 6],
            [C3, C1, MP, C3],
        ),
    ]
    return edge_cases + [sample_cell(rng) for _ in range(6)]


def reference(cell: Cell, C: int, N: int, classes: int) -> nn.Module:
    """nasbench-pytorch's network of ``cell`` (it prunes the cell itself)."""
    spec = nasbench.ModelSpec(np.array(cell.matrix), list(cell.ops))
    return nasbench.Network(spec, num_labels=classes, stem_out_channels=C, num_stacks=3, num_modules_per_stack=N)


_RULES = (
    (re.compile(r"^layers\.0\.conv_bn_relu\.(\d)\.(.+)$"), lambda m: f"stem.{m[1]}.{m[2]}"),
    (re.compile(r"^layers\.(\d+)\.vertex_op\.(\d+)\.conv[13]x[13]\.conv_bn_relu\.(\d)\.(.+)$"),
     lambda m: f"layers.{int(m[1]) - 1}.ops.{m[2]}.{m[3]}.{m[4]}"),
    (re.compile(r"^layers\.(\d+)\.input_op\.(\d+)\.conv_bn_relu\.(\d)\.(.+)$"), lambda m: f"layers.{int(m[1]) - 1}.proj.{m[2]}.{m[3]}.{m[4]}"),
    (re.compile(r"^classifier\.(.+)$"), lambda m: f"classifier.{m[1]}"),
)  # fmt: skip
#: The reference's entries that hold nothing of the network: dummy scalars of unused slots, a device probe.
_DUMMY = re.compile(r"\.(a|dev_param)$")
#: ... and a second name of the output's input projection (``last_inop`` is ``input_op[V - 1]``).
_ALIAS = re.compile(r"\.last_inop\.")


def name_map(theirs: nn.Module) -> dict[str, str]:
    """Reference state-dict key -> ours (stem, then our layers one index lower: their stem is layers[0])."""
    out = {}
    for key in theirs.state_dict():
        if _ALIAS.search(key):
            continue
        for pattern, rename in _RULES:
            m = pattern.match(key)
            if m:
                out[key] = rename(m)
                break
        else:
            assert _DUMMY.search(key), f"unmapped reference entry {key}"
    return out


def randomise(net: nn.Module, seed: int) -> None:
    """Every weight and BN buffer drawn at random, so eval mode tests real running statistics."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in [*net.named_parameters(), *net.named_buffers()]:
            if t.dtype.is_floating_point and t.numel():
                t.copy_(
                    torch.rand(t.shape, generator=g) + 0.5
                    if name.endswith("running_var")
                    else torch.randn(t.shape, generator=g) * 0.3
                )


def copy_across(theirs: nn.Module, ours: nn.Module, names: dict[str, str]) -> None:
    ours_state = ours.state_dict()
    assert set(names.values()) == set(ours_state), "the name map must cover every entry of ours, once"
    ours.load_state_dict({names[k]: v.clone() for k, v in theirs.state_dict().items() if k in names})


def compare(theirs: nn.Module, ours: nn.Module, label: str, forward=None) -> None:
    """Logits in eval mode (the copied running statistics), then in train mode (batch statistics; the
    forward moves the running statistics by each network's own momentum)."""
    forward = forward or (lambda m, x: m(x))
    x = torch.randn(6, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    for mode in ("eval", "train"):
        theirs.train(mode == "train")
        ours.train(mode == "train")
        with torch.no_grad():
            diff = float((forward(ours, x) - theirs(x)).abs().max())
        SEEN[f"{label} {mode}"] = diff
        assert diff <= BOUND, (label, mode, diff)


def momenta_aligned(theirs: nn.Module, ours: nn.Module, names: dict[str, str]) -> None:
    ours_modules = dict(ours.named_modules())
    for name, m in theirs.named_modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = ours_modules[names[f"{name}.weight"].rpartition(".")[0]].momentum


def _running_stats_equal(theirs: nn.Module, ours: nn.Module, names: dict[str, str], forward=None) -> None:
    forward = forward or (lambda m, x: m(x))
    x = torch.randn(5, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    theirs.train()
    ours.train()
    with torch.no_grad():
        theirs(x)
        forward(ours, x)
    mine = ours.state_dict()
    for k, v in theirs.state_dict().items():
        if k in names and "running" in k:
            torch.testing.assert_close(mine[names[k]], v, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("cell", _cells(), ids=lambda c: c.to_str())
@pytest.mark.parametrize("C, N", [(16, 1), (13, 2)])
def test_standalone_network_equals_nasbench_pytorch(cell, C, N):
    theirs = reference(cell, C, N, 10)
    ours = NB101Network(cell, C, N, 10, settings=NetworkSettings(bn_momentum=0.003))
    placeholders = sum(p.numel() for k, p in theirs.named_parameters() if _DUMMY.search(k))  # named once each
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters()) - placeholders
    assert sum(p.numel() for p in ours.parameters()) == count_params(cell, C=C, N=N)
    names = name_map(theirs)
    randomise(theirs, seed=C * 7 + N)
    copy_across(theirs, ours, names)
    compare(theirs, ours, f"standalone C={C} N={N} {cell.to_str()}")
    copy_across(theirs, ours, names)  # the reference's statistics moved by its momenta: start alike again
    momenta_aligned(theirs, ours, names)
    _running_stats_equal(theirs, ours, names)


def _seed_path_names(theirs: nn.Module, cell: Cell) -> dict[str, str]:
    """Reference keys -> the seed-paper supernet's path: a vertex's op sits under its op name in its slot."""
    names = name_map(theirs)
    return {k: re.sub(r"^(layers\.\d+\.ops\.(\d+))\.", lambda m: f"{m[1]}.{cell.ops[int(m[2])]}.", v) for k, v in names.items()}


@pytest.mark.parametrize("seed", range(4))
def test_seed_paper_supernet_path_equals_nasbench_pytorch_on_1shot1c_cells(seed):
    cell = oneshot1_space("nb1shot1c").sample(np.random.default_rng(seed))
    C, N = 16, 1
    theirs = reference(cell, C, N, 10)
    ours = NB101Supernet(C, N, 10, seed=seed, cell="seedpaper", settings=NetworkSettings(bn_momentum=0.003, init="seedpaper"))
    names = _seed_path_names(theirs, cell)
    path = {n for n, _ in ours.named_parameters()}
    used = {n for n, p in ours.named_parameters() if any(p is q for q in ours.path_parameters(cell))}
    assert set(names.values()) & path == used, "the reference's weights are exactly the path's"
    randomise(theirs, seed=seed)

    def load() -> None:
        state = ours.state_dict()
        state.update({names[k]: v.clone() for k, v in theirs.state_dict().items() if k in names})
        ours.load_state_dict(state)

    load()
    assert sum(p.numel() for p in ours.path_parameters(cell)) == count_params(cell, C=C, N=N)
    forward = lambda m, x: m(x, cell)  # noqa: E731
    compare(theirs, ours, f"seed path {cell.to_str()}", forward)
    load()
    _running_stats_path(theirs, ours, names, cell)
    assert len(cell_plan(cell).out_preds) == 2


def _running_stats_path(theirs: nn.Module, ours: nn.Module, names: dict[str, str], cell: Cell) -> None:
    modules = dict(ours.named_modules())
    for name, m in theirs.named_modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = modules[names[f"{name}.weight"].rpartition(".")[0]].momentum
    _running_stats_equal(theirs, ours, names, lambda m, x: m(x, cell))


def test_the_comparison_sees_a_changed_weight():
    # Guards against a vacuous comparison (e.g. both sides one module): one changed weight shows.
    cell = _cells()[2]
    theirs, ours = reference(cell, 16, 1, 10), NB101Network(cell, 16, 1, 10)
    names = name_map(theirs)
    randomise(theirs, seed=0)
    copy_across(theirs, ours, names)
    with torch.no_grad():
        ours.layers[0].ops["2"][0].weight[0, 0, 0, 0] += 0.1
    with pytest.raises(AssertionError):
        compare(theirs, ours, "perturbed")
    SEEN.pop("perturbed eval", None)
    SEEN.pop("perturbed train", None)


def test_the_supernet_cells_of_the_space_build_from_network_keys():
    network = {"C": 8, "N": 1, "cell": "seedpaper", "bn_momentum": 0.003, "init": "seedpaper"}
    net = SPACE_1SHOT1C.build_supernet(network, TaskSpec(10), seed=0)
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(m.momentum == 0.003 and m.eps == 1e-5 for m in bns)
    standalone = SPACE.build_network(sample_cell(np.random.default_rng(0)), C=8, N=1, bn_momentum=0.003)
    assert all(m.momentum == 0.003 for m in standalone.modules() if isinstance(m, nn.BatchNorm2d))


def test_max_difference_seen_is_recorded():
    # Runs last in this file (pytest keeps definition order): the largest |diff| of the comparisons above.
    if not SEEN:
        pytest.skip("no comparison ran in this process")
    worst = max(SEEN.values())
    print(f"max |logit difference| over {len(SEEN)} comparisons: {worst:.3g}")
    assert worst <= BOUND
