"""The seed paper's DARTS supernet recipe: each option against an independent transcription, defaults unchanged.

No reference package for the seed's DARTS supernet (matluster/anonymous-2102) installs from the
index, so each option is checked against a transcription written here from its source, in plain
``torch.nn.functional`` calls on the supernet's weights: per-node-slot sharing with run-time strides
(``space/darts/network.py``, ``ops.py``, ``mutator.py``), the auxiliary head and its loss
(``network.py``, ``trainers/utils.py``), ``AvgPool2d(7)``, DARTS's drop-path ramp
(``trainers/darts_cifar.py``), and the four GPUs' paths with averaged gradients. Numbers are compared
in float64, where an exact transcription agrees to rounding.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import needs_data

from harness.api.errors import WsbenchError
from harness.catalog import PROTOCOLS, STRATEGIES, protocol_entry
from harness.engine.step import Trainer, build_training, train_step
from harness.seeding import numpy_stream
from harness.tasks.classification import CIFAR10_CLASSIFICATION as TASK
from spaces.darts import encoding as E
from spaces.darts.randomness import Dropper
from spaces.darts.space import DartsSpace
from spaces.darts.supernet import DartsSupernet

SPACE = DartsSpace()
#: The seed's op table (``space/darts/ops.py``, ``OPS``): kernel, padding, dilation.
SEED_CONVS = {"sep_conv_3x3": (3, 1, 1), "sep_conv_5x5": (5, 2, 1), "dil_conv_3x3": (3, 2, 2), "dil_conv_5x5": (5, 4, 2)}


def _archs(n: int, seed: int = 0) -> list[tuple[int, ...]]:
    rng = np.random.default_rng(seed)
    return [E.to_grid(E.sample(rng)) for _ in range(n)]


def _batch(n: int = 8, seed: int = 0, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 32, 32, generator=g, dtype=dtype), torch.randint(0, 10, (n,), generator=g)


# ------------------------------------------------------------------ the transcription (seed's structure)
class Seed:
    """The seed's DARTS supernet forward, written from its source, reading the weights of ``net`` by name."""

    def __init__(self, net: DartsSupernet, train: bool) -> None:
        self.w = {k: v.detach().clone() for k, v in net.state_dict().items() if isinstance(v, torch.Tensor)}
        self.train, self.layers = train, net.layers

    def bn(self, x: torch.Tensor, pre: str) -> torch.Tensor:
        w = self.w
        mean, var = w[pre + "running_mean"].clone(), w[pre + "running_var"].clone()
        return F.batch_norm(x, mean, var, w[pre + "weight"], w[pre + "bias"], training=self.train, eps=1e-5)

    def relu_conv_bn(self, x: torch.Tensor, pre: str) -> torch.Tensor:
        return self.bn(F.conv2d(F.relu(x), self.w[pre + "1.weight"]), pre + "2.")

    def factorized_reduce(self, x: torch.Tensor, pre: str) -> torch.Tensor:
        x = F.relu(x)
        halves = [
            F.conv2d(x, self.w[pre + "conv_1.weight"], stride=2),
            F.conv2d(x[:, :, 1:, 1:], self.w[pre + "conv_2.weight"], stride=2),
        ]
        return self.bn(torch.cat(halves, 1), pre + "bn.")

    def block(self, x: torch.Tensor, pre: str, k: int, stride: int, pad: int, dil: int) -> torch.Tensor:
        """ReLU, depthwise conv (the stride given at run time, as ``DynamicConv2d``), pointwise conv, BN."""
        x = F.conv2d(F.relu(x), self.w[pre + "1.weight"], None, stride, pad, dil, groups=x.shape[1])
        return self.bn(F.conv2d(x, self.w[pre + "2.weight"]), pre + "3.")

    def op(self, x: torch.Tensor, name: str, pre: str, stride: int) -> torch.Tensor:
        if name == "max_pool_3x3":
            return F.max_pool2d(x, 3, stride, 1)
        if name == "avg_pool_3x3":
            return F.avg_pool2d(x, 3, stride, 1, count_include_pad=False)
        if name == "skip_connect":  # SkipConnection: identity at stride 1, else FactorizedReduce
            return x if stride == 1 else self.factorized_reduce(x, pre)
        k, pad, dil = SEED_CONVS[name]
        if name.startswith("sep"):  # two blocks; only the first depthwise conv takes the stride
            return self.block(self.block(x, pre + "0.", k, stride, pad, 1), pre + "1.", k, 1, pad, 1)
        return self.block(x, pre, k, stride, pad, dil)

    def cell(self, i: int, s0: torch.Tensor, s1: torch.Tensor, arch: dict, kind: str, red: bool, red_prev: bool) -> torch.Tensor:
        pre = f"cells.{i}."
        states = [self.factorized_reduce(s0, pre + "pre0.") if red_prev else self.relu_conv_bn(s0, pre + "pre0."),
                  self.relu_conv_bn(s1, pre + "pre1.")]  # fmt: skip
        for k in E.NODES:  # Node: op0(inputs) + op1(inputs), each slot one set of the 7 ops
            outs = []
            for j in (0, 1):
                src, name = arch[f"{kind}/{k}/{j}/input"], arch[f"{kind}/{k}/{j}/op"]
                stride = 2 if red and src < 2 else 1
                outs.append(self.op(states[src], name, f"{pre}slots.node{k}_slot{j}.{name}.", stride))
            states.append(outs[0] + outs[1])
        return torch.cat(states[2:], 1)

    def forward(self, x: torch.Tensor, arch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, the last cell's output) with ``AvgPool2d(7)`` as the seed pools."""
        s0 = s1 = self.bn(F.conv2d(x, self.w["stem.0.weight"], padding=1), "stem.1.")
        red_prev = False
        for i in range(self.layers):
            red = i in (self.layers // 3, 2 * self.layers // 3)
            s0, s1 = s1, self.cell(i, s0, s1, arch, "reduce" if red else "normal", red, red_prev)
            red_prev = red
        pooled = F.avg_pool2d(s1, 7)  # kernel 7, stride 7: the top-left 7 x 7 of the 8 x 8 map
        return F.linear(pooled.flatten(1), self.w["classifier.weight"], self.w["classifier.bias"]), s1


def seed_json(grid: tuple[int, ...], swaps: list[bool] | None = None) -> dict[str, Any]:
    """The seed's architecture object of a grid path: slot 0 reads the lower input unless swapped."""
    out = {}
    for c, (kind, cell) in enumerate(zip(E.CELLS, E.from_grid(grid))):
        for n, (k, node) in enumerate(zip(E.NODES, cell)):
            pair = node[::-1] if swaps and swaps[4 * c + n] else node
            for j, (src, op) in enumerate(pair):
                out[f"{kind}/{k}/{j}/input"], out[f"{kind}/{k}/{j}/op"] = src, op
    return out


def _slot_net(**options: Any) -> DartsSupernet:
    opts = {"sharing": "slot", "pooling": "avgpool7", **options}
    return DartsSupernet(C=4, layers=5, seed=0, **opts).double()


def _randomize_bn(net: torch.nn.Module, seed: int = 1) -> None:
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g, dtype=m.running_mean.dtype) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g, dtype=m.running_var.dtype) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g, dtype=m.weight.dtype) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g, dtype=m.bias.dtype) * 0.1)


# ------------------------------------------------------------------------------ defaults change nothing
def test_defaults_change_nothing():
    """The default supernet computes what it computed before the options existed (values recorded then),
    explicit defaults resolve to the same config (so the same cell hash), and the loss of plain logits is
    the plain cross-entropy."""
    net = DartsSupernet(C=4, layers=3, seed=0).train()
    arch = E.to_grid(E.sample(np.random.default_rng(0)))
    x, y = _batch(6, dtype=torch.float32)
    out = net(x, arch)
    loss = F.cross_entropy(out, y)
    assert TASK.loss(out, y).item() == loss.item() and not hasattr(out, "aux")
    loss.backward()
    grad = sum(float(p.grad.double().pow(2).sum()) for p in net.parameters() if p.grad is not None)
    net.eval()
    with torch.no_grad():
        evaluated = net(x, arch)
    # Recorded with the code before the options (2026-12, CPU, one thread).
    assert out.double().sum().item() == pytest.approx(42.07014113664627, rel=1e-6)
    assert loss.item() == pytest.approx(3.319018602371216, rel=1e-6)
    assert grad == pytest.approx(156.3059277643771, rel=1e-5)
    assert evaluated.double().sum().item() == pytest.approx(3.3767875283956528, rel=1e-5)
    assert sum(p.numel() for p in net.parameters()) == 78054 and len(net.state_dict()) == 1921
    assert net.training_views(arch, x, y, TASK.loss) == [arch] and not hasattr(net, "randomness")
    explicit = {"sharing": "edge", "slot_order": "sorted", "aux_weight": 0, "pooling": "global", "calib_drop_path": False}
    assert SPACE.network_config({**explicit, "path_chunks": 1, "drop_path": 0.0}) == {"C": 36, "layers": 20}
    assert SPACE.network_config({"drop_path": 0.2}) == {"C": 36, "layers": 20, "drop_path": 0.2}


def test_default_mixed_forward_is_unchanged():
    net = DartsSupernet(C=4, layers=3, seed=0).train()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 3, 32, 32, generator=g)
    torch.randint(0, 10, (6,), generator=g)
    w = torch.rand(28, 8, generator=g)
    net(x, E.to_grid(E.sample(np.random.default_rng(0))))  # the running statistics the recorded value saw
    net.eval()
    with torch.no_grad():
        assert net(x, w).double().sum().item() == pytest.approx(118.78669357299805, rel=1e-5)


# ------------------------------------------------------------------------------------ slot sharing
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_slot_shared_forward_equals_the_transcription(mode):
    """Same weights, same input: the supernet's slot-shared path equals the transcription of the seed's
    ``Node`` / ``LayerWithInputChoice`` forward, with the lower input in slot 0 (train: batch statistics;
    eval: running statistics)."""
    net = _slot_net()
    _randomize_bn(net)
    net.train(mode == "train")
    x, _ = _batch(4)
    worst = 0.0
    for arch in _archs(6):
        with torch.no_grad():
            got = net(x, arch)
        want, _ = Seed(net, mode == "train").forward(x, seed_json(arch))
        worst = max(worst, float((got - want).abs().max()))
    assert worst < 1e-10, worst


def test_a_slot_serves_every_input_with_one_set_of_weights_and_the_stride_of_the_input():
    """In a reduction cell, one slot's separable conv reads input 2 at stride 1 and input 1 at stride 2
    with the same weights; a slot-shared cell holds 8 slots x 7 ops where an edge-shared one holds 14."""
    net = _slot_net()
    key = f"cells.{net.layers // 3}.slots.node3_slot1.sep_conv_3x3.0.1.weight"
    param = dict(net.named_parameters())[key]
    grid = list(_archs(1)[0])
    x, y = _batch(4)
    for pair in (1, 0):  # reduction node 3 on inputs (0, 2), then (0, 1): slot 1 reads input 2, then input 1
        grid[12 + 3 : 12 + 6] = [3, 3, pair]  # sep_conv_3x3 on both inputs
        net.zero_grad(set_to_none=True)
        F.cross_entropy(net(x, tuple(grid)), y).backward()
        assert param.grad is not None and float(param.grad.abs().sum()) > 0
    edge = DartsSupernet(C=4, layers=5, seed=0)
    assert sum(len(ops) for cell in net.cells for ops in cell.slots.values()) == 5 * 8 * 7
    assert sum(len(ops) for cell in edge.cells for ops in cell.edges.values()) == 5 * 14 * 7


def test_random_slot_order_trains_the_seeds_ordered_input_pairs():
    """While training, each node's two edges take the slots in a fair random order; the forward then is
    the transcription with that order, and the ordered pairs a slot sees are the seed mutator's, uniform
    over ``product(inputs, inputs)`` with ``inp1 != inp2``."""
    net = _slot_net(slot_order="random").train()
    x, _ = _batch(4)
    worst = 0.0
    for arch in _archs(4, seed=3):
        got = net(x, arch)
        swaps = list(net.randomness.last_swaps)
        want, _ = Seed(net, True).forward(x, seed_json(arch, swaps))
        worst = max(worst, float((got.detach() - want).abs().max()))
    assert worst < 1e-10, worst
    # The seed's combinations of node 3: (op, input, op, input) with distinct inputs, drawn uniformly.
    seed_pairs = [(a, b) for _, a, _, b in itertools.product(E.OPS, range(3), E.OPS, range(3)) if a != b]
    expected = {p: seed_pairs.count(p) / len(seed_pairs) for p in set(seed_pairs)}
    state, rng, seen = net.randomness, np.random.default_rng(0), []
    for _ in range(6000):
        ((i, _), (j, _)), swap = E.sample(rng)[0][1], state.swaps(8)[1]
        seen.append((j, i) if swap else (i, j))
    for pair, share in expected.items():
        assert abs(seen.count(pair) / len(seen) - share) < 0.02, pair


def test_slot_sharing_refuses_op_weights_in_one_line():
    net = _slot_net()
    with pytest.raises(WsbenchError, match='sharing = "slot" runs sampled paths only'):
        net(_batch(2)[0], torch.rand(28, 8, dtype=torch.float64))


# ------------------------------------------------------------------------ auxiliary head and pooling
def _seed_aux_head(w: dict[str, torch.Tensor], s: torch.Tensor, train: bool) -> torch.Tensor:
    """``AuxiliaryHead`` for 8 x 8 inputs (``space/darts/network.py``), on weights ``w``."""

    def bn(h: torch.Tensor, pre: str) -> torch.Tensor:
        mean, var = w[pre + "running_mean"].clone(), w[pre + "running_var"].clone()
        return F.batch_norm(h, mean, var, w[pre + "weight"], w[pre + "bias"], training=train, eps=1e-5)

    h = F.avg_pool2d(F.relu(s), 5, stride=3, padding=0, count_include_pad=False)  # 8 x 8 -> 2 x 2
    h = F.relu(bn(F.conv2d(h, w["auxiliary.features.2.weight"]), "auxiliary.features.3."))
    h = F.relu(bn(F.conv2d(h, w["auxiliary.features.5.weight"]), "auxiliary.features.6."))
    return F.linear(h.flatten(1), w["auxiliary.classifier.weight"], w["auxiliary.classifier.bias"])


def test_auxiliary_head_logits_and_loss_are_the_seeds():
    """While training, the output carries the auxiliary logits of the head after cell ``2 * layers // 3``
    (the transcription's, on the same weights), and the task loss is ``CE + 0.4 CE_aux``
    (``AuxiliaryCrossEntropyLoss``); scoring forwards carry none."""
    net = _slot_net(aux_weight=0.4).train()
    assert net.aux_at == 2 * 5 // 3 == 3  # the second reduction cell
    x, y = _batch(4)
    seen: list[torch.Tensor] = []
    hook = net.cells[net.aux_at].register_forward_hook(lambda _m, _i, out: seen.append(out.detach()))
    out = net(x, _archs(1)[0])
    hook.remove()
    w = {k: v.detach() for k, v in net.state_dict().items() if isinstance(v, torch.Tensor)}
    head = _seed_aux_head(w, seen[0], train=True)
    assert float((out.aux.detach() - head).abs().max()) < 1e-12
    loss = TASK.loss(out, y)
    want = F.cross_entropy(out.float(), y) + 0.4 * F.cross_entropy(out.aux.float(), y)  # the task's float32 loss
    assert loss.item() == want.item()
    loss.backward()
    assert all(p.grad is not None for p in net.auxiliary.parameters())
    with torch.no_grad():
        assert not hasattr(net(x, _archs(1)[0]), "aux")
    big = DartsSupernet(C=36, layers=20, sharing="slot", aux_weight=0.4, seed=0)
    assert big.aux_at == 13 and big.auxiliary.features[2].in_channels == 4 * 4 * 36  # cell 13's 576 channels


def test_avgpool7_averages_the_top_left_7x7_of_the_8x8_map():
    """``nn.AvgPool2d(7)`` (stride 7) on CIFAR's 8 x 8 final map: one window, rows and columns 0-6."""
    net = _slot_net().eval()
    x, _ = _batch(4)
    last: list[torch.Tensor] = []
    net.cells[-1].register_forward_hook(lambda _m, _i, out: last.append(out))
    with torch.no_grad():
        out = net(x, _archs(1)[0])
        s = last[0]
        want = F.linear(s[:, :, :7, :7].mean(dim=(2, 3)), net.classifier.weight, net.classifier.bias)
        everything = F.linear(s.mean(dim=(2, 3)), net.classifier.weight, net.classifier.bias)
    assert s.shape[-2:] == (8, 8)
    assert float((out - want).abs().max()) < 1e-12 and float((out - everything).abs().max()) > 1e-6


# ------------------------------------------------------------------------------------- drop-path
def _trainer(net: torch.nn.Module, strategy: str = "spos", **options: Any) -> Trainer:
    p = PROTOCOLS.get("darts-smoke").replace(lr=0.01)
    params, opt, sched = build_training(p, net, 1, 1000)
    return Trainer(net, params, STRATEGIES.get(strategy)(SPACE, numpy_stream(0, "arch"), **options), TASK, opt, sched, 5.0)


def test_drop_path_ramp_is_darts_schedule_per_epoch_counted_in_optimizer_steps():
    """``drop_prob = drop_path_prob * epoch / epochs`` at each epoch's start (``trainers/darts_cifar.py``),
    epochs of ``drop_path_epoch_steps`` steps, whatever the paths per step; held at the top after the ramp."""
    net = DartsSupernet(C=2, layers=3, drop_path=0.2, drop_path_epochs=4, drop_path_epoch_steps=3, seed=0)
    t = _trainer(net, "multipath", k=3)
    used: list[float] = []
    make = net.randomness.dropper
    net.randomness.dropper = lambda device: used.append(net.randomness.probability()) or make(device)  # type: ignore[method-assign]
    x, y = _batch(4, dtype=torch.float32)
    for step in range(15):
        train_step(t, step, (x, y))
    args_drop_path_prob, args_epochs = 0.2, 4  # the reference's expression, evaluated as it writes it
    want = [args_drop_path_prob * min(s // 3 + 1, args_epochs) / args_epochs for s in range(15)]
    assert used == [p for p in want for _ in range(3)]  # three paths per step, one probability per step
    assert net.randomness.steps == 15 and net.randomness.epoch() == 5


def test_dropper_zeroes_whole_examples_and_scales_the_rest():
    g = torch.Generator().manual_seed(0)
    h = torch.ones(4000, 2, 3, 3)
    out = Dropper(0.2, g)(h)
    per_example = out.flatten(1)
    kept = per_example[:, 0] > 0
    assert torch.all(per_example[kept] == 1 / 0.8) and torch.all(per_example[~kept] == 0)
    assert abs(float((~kept).float().mean()) - 0.2) < 0.02


def test_drop_path_in_recalibration_only_where_asked():
    """``calib_drop_path``: train-mode forwards without gradients (the seed's ``set_running_statistics``)
    drop too; eval mode never does. Without it, only training with gradients drops (as before)."""
    x, _ = _batch(4)
    arch = _archs(1)[0]
    for calib, differs in ((True, True), (False, False)):
        net = _slot_net(drop_path=0.3, calib_drop_path=calib) if calib else _slot_net(drop_path=0.3)
        with torch.no_grad():
            a, b = net.train()(x, arch), net(x, arch)
            assert (not torch.equal(a, b)) == differs
            assert torch.equal(net.eval()(x, arch), net(x, arch))


# ----------------------------------------------------------------------- four paths, one per GPU
def test_path_chunks_equal_four_gpus_each_on_its_slice_with_averaged_gradients():
    """``path_chunks = 4``: the supernet's one view of four paths gives the gradient the seed's DDP gives,
    the mean over four replicas each training its own path on its own quarter of the batch (with its own
    batch statistics, auxiliary loss and slot orders)."""
    opts = {"slot_order": "random", "aux_weight": 0.4}
    one = _slot_net(path_chunks=4, **opts).train()
    gpus = _slot_net(**opts).train()
    paths = _archs(4, seed=5)
    x, y = _batch(8)
    views = [v for arch in paths for v in one.training_views(arch, x, y, TASK.loss)]
    assert len(views) == 1
    TASK.loss(one(x, views[0]), y).backward()
    for rank, (xr, yr) in enumerate(zip(x.chunk(4), y.chunk(4))):
        (TASK.loss(gpus(xr, paths[rank]), yr) / 4).backward()
    worst = max(float((p.grad - q.grad).abs().max()) for p, q in zip(one.parameters(), gpus.parameters()) if p.grad is not None)
    assert worst < 1e-12, worst
    assert all((p.grad is None) == (q.grad is None) for p, q in zip(one.parameters(), gpus.parameters()))
    with pytest.raises(WsbenchError, match="divisible"):
        for arch in paths:
            views = one.training_views(arch, x, y, TASK.loss)
        one(x[:6], views[0])


def test_path_chunks_need_whole_groups_of_paths_per_step():
    """Fewer paths than a group (SPOS) fail at the next step instead of pooling paths of several steps;
    more than whole groups (k = 5) fail at the step's first forward."""
    x, y = _batch(8, dtype=torch.float32)
    t = _trainer(DartsSupernet(C=2, layers=3, sharing="slot", path_chunks=4, seed=0))
    train_step(t, 0, (x, y))
    with pytest.raises(WsbenchError, match="a step trained 1 path.*multiple of it"):
        train_step(t, 1, (x.clone(), y))
    t = _trainer(DartsSupernet(C=2, layers=3, sharing="slot", path_chunks=4, seed=0), "multipath", k=5)
    with pytest.raises(WsbenchError, match="a step trained 1 path.*multiple of it"):
        train_step(t, 0, (x, y))
    with pytest.raises(WsbenchError, match="op-weight strategies"):
        DartsSupernet(C=2, layers=3, path_chunks=2, seed=0).training_views(torch.rand(28, 8), x, y, TASK.loss)
    with pytest.raises(WsbenchError, match="op-weight strategies"):
        _slot_net(path_chunks=2).training_views(torch.rand(28, 8), x, y, TASK.loss)


# --------------------------------------------------------------------------- gradients off the path
@pytest.mark.parametrize("all_params", [True, False])
def test_zero_grad_all_decays_every_parameter_from_the_first_step(all_params):
    """The seed gives every parameter a zero gradient before training (``p.grad = torch.zeros_like(p)``)
    and zeroes instead of unsetting them: SGD's first step moves a parameter no path reached by
    ``-lr * weight_decay * p``. Without the option, ``zeros`` leaves it until a path reaches it."""
    net = _slot_net(zero_grad_all=all_params) if all_params else _slot_net()
    t = _trainer(net)
    t.set_to_none = False
    lr, wd = t.opt.param_groups[0]["lr"], t.opt.param_groups[0]["weight_decay"]
    arch = STRATEGIES.get("spos")(SPACE, numpy_stream(0, "arch")).paths(0)[0]  # the path the step will draw
    used = E.from_grid(arch)[0][0][0][1]  # normal node 2, slot 0 (the lower input)
    unused = f"cells.0.slots.node2_slot0.{'sep_conv_5x5' if used == 'sep_conv_3x3' else 'sep_conv_3x3'}."
    before = {n: q.detach().clone() for n, q in net.named_parameters() if n.startswith(unused)}
    train_step(t, 0, _batch(4))
    after = dict(net.named_parameters())
    assert len(before) == 8  # two blocks: depthwise, pointwise, BN weight and bias each
    for name, p0 in before.items():
        want = p0 + (-lr) * (0 + wd * p0) if all_params else p0
        assert float((after[name].detach() - want).abs().max()) < 1e-15, name


# ------------------------------------------------------------------------------------------ resume
RECIPE_SMALL = {
    "C": 4, "layers": 3, "sharing": "slot", "slot_order": "random", "aux_weight": 0.4, "pooling": "avgpool7",
    "drop_path": 0.2, "drop_path_epochs": 2, "drop_path_epoch_steps": 3, "calib_drop_path": True, "path_chunks": 4,
    "zero_grad_all": True,
}  # fmt: skip


def _recipe_trainer(seed: int = 0) -> Trainer:
    net = SPACE.build_supernet(RECIPE_SMALL, TASK.spec(), seed=seed)
    t = _trainer(net, "multipath", k=4)
    t.set_to_none = False  # the recipe: zero_grad = "zeros"
    return t


def _state(t: Trainer) -> dict[str, Any]:
    """What the loop checkpoints of a trainer (``harness.engine.loop.checkpoint_state``), deep-copied."""
    parts = (t.model.state_dict(), t.opt.state_dict(), t.sched.state_dict(), t.strategy.state_dict())
    return copy.deepcopy(dict(zip(("model", "opt", "sched", "strategy"), parts)))


def test_resume_across_a_ramp_step_draws_and_computes_exactly_the_same():
    """A supernet rebuilt from a checkpoint taken at the end of epoch 1 trains epoch 2 (drop-path 0.1 ->
    0.2, new masks and slot orders, recalibration drops in between) to bit-identical weights."""
    batches = [_batch(8, seed=s, dtype=torch.float32) for s in range(6)]
    t = _recipe_trainer()
    for step in range(3):
        train_step(t, step, batches[step])
    ck = _state(t)
    with torch.no_grad():  # a snapshot's recalibration between the epochs also draws masks
        t.model(batches[0][0], _archs(1)[0])
    ck_after_scoring = _state(t)
    for step in range(3, 6):
        train_step(t, step, batches[step])
    r = _recipe_trainer(seed=7)  # other initial weights: everything must come from the checkpoint
    r.model.load_state_dict(ck_after_scoring["model"])
    r.opt.load_state_dict(ck_after_scoring["opt"])
    r.sched.load_state_dict(ck_after_scoring["sched"])
    r.strategy.load_state_dict(ck_after_scoring["strategy"])
    for step in range(3, 6):
        train_step(r, step, batches[step])
    assert t.model.randomness.probability() == r.model.randomness.probability() == 0.2
    assert ck["model"]["randomness._extra_state"]["steps"] == 3
    for (name, a), b in zip(t.model.state_dict().items(), r.model.state_dict().values()):
        if isinstance(a, torch.Tensor):
            assert torch.equal(a, b), name


@pytest.mark.slow
@needs_data()
def test_recipe_cell_resumes_across_a_ramp_step_to_identical_numbers(tmp_path):
    """Through the loop: a cell of the recipe (shrunk) interrupted after epoch 1 resumes to the same
    training log and scores as an uninterrupted one, across the ramp's step and a snapshot."""
    import pandas as pd

    from harness.engine.cell import CellSpec
    from harness.engine.loop import run_cell

    base = PROTOCOLS.get("seedpaper-darts")
    p = base.replace(
        name="recipe-resume-test", network={**base.network, **RECIPE_SMALL, "drop_path_epoch_steps": 4},
        task_options={**base.task_options, "subset": 256}, batch_size=64, epochs=2, snapshot_epochs=(1, 2),
        calib_batches=1, calib_batch_size=64, eval_images=64, eval_batch_size=64, archset="ground-truth-sample", archset_n=4,
    )  # fmt: skip
    spec = CellSpec("darts", "multipath", p, 0, strategy_options={"k": 4})

    def crash_in_epoch_two(msg: str) -> None:
        if "epoch 2/2" in msg:  # epoch 2 trained, its checkpoint not yet written
            raise KeyboardInterrupt

    run_cell(spec, root=tmp_path / "a", log=lambda *_: None)
    with pytest.raises(KeyboardInterrupt):
        run_cell(spec, root=tmp_path / "b", log=crash_in_epoch_two)
    msgs: list[str] = []
    run_cell(spec, root=tmp_path / "b", log=msgs.append)
    assert any("resuming" in m for m in msgs)
    for f in ("scores/epoch_001.csv", "scores/epoch_002.csv", "train_log.csv"):
        a = pd.read_csv(spec.run_dir(tmp_path / "a") / f).drop(columns=["seconds", "score_seconds"], errors="ignore")
        b = pd.read_csv(spec.run_dir(tmp_path / "b") / f).drop(columns=["seconds", "score_seconds"], errors="ignore")
        pd.testing.assert_frame_equal(a, b)


# -------------------------------------------------------------------------------- the recipe protocol
def test_recipe_protocol_cites_a_source_for_every_value_it_takes_from_the_seed():
    entry = protocol_entry("seedpaper-darts")
    p = entry.protocol
    ours = {"name", "description", "notes", "references", "snapshot_epochs", "archset", "archset_source", "equal_compute"}
    table = {k for k in ("network", "task_options")}
    fields = {f for f in p.__dataclass_fields__ if f not in ours and f not in table}
    set_fields = {f for f in fields if getattr(p, f) != getattr(type(p), f, None) or f in entry.sources}
    assert set_fields - set(entry.sources) == set(), set_fields - set(entry.sources)
    for key in p.network:
        assert f"network.{key}" in entry.sources, key
    for key in p.task_options:
        assert f"task_options.{key}" in entry.sources, key
    assert all(v.startswith("matluster/anonymous-2102, ") for v in entry.sources.values())
    net = p.network_for(SPACE)
    assert net == {"C": 36, "layers": 20, **{k: v for k, v in p.network.items() if k not in ("C", "layers")}}
    assert (p.batch_size // net["path_chunks"], p.lr, p.epochs, net["drop_path_epoch_steps"]) == (112, 0.1, 1000, 50_000 // 448)
    gpu = PROTOCOLS.get("darts-gpu")
    assert gpu.network_for(SPACE)["drop_path_epochs"] == gpu.epochs == 50 and gpu.lr == p.lr


@pytest.mark.parametrize(
    "network, match",
    [
        ({"sharing": "path"}, "unknown network.sharing 'path'"),
        ({"slot_order": "random"}, 'needs sharing = "slot"'),
        ({"aux_weight": -0.4}, "aux_weight: must be a number >= 0"),
        ({"aux_weight": True}, "aux_weight: must be a number >= 0"),
        ({"pooling": "max"}, "unknown network.pooling 'max'"),
        ({"drop_path": 0.2, "drop_path_epochs": 10}, "go together"),
        ({"drop_path_epochs": 10, "drop_path_epoch_steps": 5}, "drop_path_epochs: needs a drop_path"),
        ({"calib_drop_path": True}, "calib_drop_path: needs a drop_path"),
        ({"calib_drop_path": 1, "drop_path": 0.1}, "calib_drop_path: must be true or false"),
        ({"path_chunks": 0}, "path_chunks: must be a positive integer"),
        ({"sharng": "slot"}, "unknown key 'sharng'.*did you mean 'sharing'"),
    ],
)
def test_bad_recipe_options_are_one_line_errors(network, match):
    with pytest.raises(WsbenchError, match=match):
        SPACE.network_config(network)
