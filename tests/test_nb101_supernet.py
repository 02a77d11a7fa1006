"""NB101 supernet: a path uses exactly the weights its cell selects; deterministic construction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.api.space import TaskSpec
from spaces.nb101.encoding import OPS, make_cell
from spaces.nb101.sampling import sample_cell
from spaces.nb101.space import SPACE
from spaces.nb101.supernet import NB101ConfigError, NB101Supernet, cell_plan

C3, C1, MP = OPS


def _cells() -> list:
    rng = np.random.default_rng(11)
    return [
        make_cell([[0, 1], [0, 0]], []),  # input -> output only: just the output projection
        make_cell([[0, 1, 1], [0, 0, 1], [0, 0, 0]], [MP]),  # pool only: no interior weights
        make_cell([[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]], [C3, C1]),
        *[sample_cell(rng) for _ in range(3)],
    ]


@pytest.mark.parametrize("cell", _cells(), ids=lambda c: c.to_str())
def test_gradients_reach_exactly_the_path_parameters(cell) -> None:
    net = NB101Supernet(C=4, N=1, seed=0)
    out = net(torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0)), cell)
    out.sum().backward()
    with_grad = {id(p) for p in net.parameters() if p.grad is not None}
    path = {id(p) for p in net.path_parameters(cell)}
    assert with_grad == path
    # The path holds one conv op per live conv vertex and one projection per input edge, per cell.
    plan = cell_plan(cell)
    n_convs = sum(n.op != MP for n in plan.nodes) + sum(n.from_input for n in plan.nodes) + plan.input_to_output
    assert sum(p.dim() == 4 for p in net.path_parameters(cell)) == 1 + 3 * n_convs


def test_dead_vertices_and_vertex_count_do_not_change_the_path() -> None:
    # A 3-vertex cell and the same cell with a dangling vertex use the same modules (output = slot 6).
    small = make_cell([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [C3])
    dangling = make_cell([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]], [C3, MP])
    assert cell_plan(small) == cell_plan(dangling)
    net = NB101Supernet(C=4, N=1, seed=1).eval()
    x = torch.randn(1, 3, 8, 8)
    assert torch.equal(net(x, small), net(x, dangling))


def test_construction_and_forward_are_deterministic_and_leave_global_rng_alone() -> None:
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = SPACE.build_supernet({"C": 4, "N": 1}, TaskSpec(10), seed=5)
    b = SPACE.build_supernet({"C": 4, "N": 1}, TaskSpec(10), seed=5)
    assert torch.rand(1).item() == before.item()
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(pa, pb)
    c = SPACE.build_supernet({"C": 4, "N": 1}, TaskSpec(10), seed=6)
    assert not torch.equal(a.stem[0].weight, c.stem[0].weight)
    cell = sample_cell(np.random.default_rng(0))
    x = torch.randn(2, 3, 16, 16)
    assert torch.equal(a.eval()(x, cell), b.eval()(x, cell))


def test_channels_double_between_stacks_and_bad_input_is_an_error() -> None:
    net = NB101Supernet(C=4, N=2, num_classes=7, seed=0)
    assert net.classifier.in_features == 16 and net.classifier.out_features == 7
    assert sum(isinstance(m, torch.nn.MaxPool2d) and m.kernel_size == 2 for m in net.layers) == 2
    with pytest.raises(NB101ConfigError):
        NB101Supernet(C=0)
    with pytest.raises(NB101ConfigError):
        net(torch.randn(2, 1, 8, 8), _cells()[2])
