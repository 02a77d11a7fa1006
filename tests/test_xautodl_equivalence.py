"""NB201 against the NB201 authors' own networks (xautodl 1.0.0, a test extra): same weights, same numbers.

- (a) the stand-alone network equals ``xautodl.models.cell_infers.tiny_network.TinyNetwork`` on sampled
  cells, in train and eval mode (logits and the BN statistics a train-mode forward leaves);
- (b) a supernet path equals ``xautodl.models.cell_searchs.search_model_random.TinyNetworkRANDOM`` with
  the same cell BN settings, for the path it samples (``arch_cache``), and -- one cell per position --
  the few-shot NAS code's forward (``UniformRandomSupernet``: a genotype per search cell), written here
  over the same xautodl modules; the scoring BN mode (``bn_mode = "running"`` with untracked cell BN)
  equals xautodl's eval mode;
- (c) k SGD steps along a fixed path sequence, our ``train_step`` against xautodl's model driven by
  the same optimizer settings, once per off-path semantics (``zero_grad`` none / zeros, the reference
  calling ``zero_grad(set_to_none=True / False)``).

Weights travel by a name map. Each test prints the largest |difference| it saw (``pytest -s``).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from conftest import FixedPaths
from torch import nn

from harness.catalog import PROTOCOLS, SPACES, TASKS
from harness.engine.evaluator import score_architectures
from harness.engine.step import train_step, trainer_for
from spaces.nb201.encoding import EDGES, OPS, to_arch_str
from spaces.nb201.ops import CellSettings
from spaces.nb201.supernet import NB201Network, NB201Supernet

pytest.importorskip("xautodl.models.cell_searchs.search_model_random", reason="xautodl (test extra) is not installed")
from xautodl.models.cell_infers.tiny_network import TinyNetwork  # noqa: E402
from xautodl.models.cell_operations import NAS_BENCH_201  # noqa: E402
from xautodl.models.cell_searchs.genotypes import Structure  # noqa: E402
from xautodl.models.cell_searchs.search_model_random import TinyNetworkRANDOM  # noqa: E402

SPACE = SPACES.get("nb201")
C, N, CLASSES = 4, 2, 10
NONE, SKIP, C1, C3, POOL = range(5)
SPECIAL = [
    (C3, C3, C3, SKIP, NONE, NONE),  # nodes 1 and 2 dead: their convs only join through the none edges
    (NONE, NONE, NONE, NONE, C3, NONE),  # a conv out of a zero node: BN's shift reaches the output
    (C1, C3, POOL, SKIP, C3, NONE),  # node 2 dead
    (C3, C1, C3, NONE, NONE, NONE),  # no input-output path
]
ARCHS = SPECIAL + [tuple(int(v) for v in r) for r in np.random.default_rng(201).integers(0, 5, size=(6, 6))]
TOL = 2e-5  # float32 sums in another order; every measured difference is far below


def _structure(arch) -> Structure:
    return Structure.str2structure(to_arch_str(arch))


def _report(what: str, diff: float) -> None:
    print(f"\n[xautodl] {what}: max|diff| = {diff:.3g}")


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.detach().float() - b.detach().float()).abs().max()) if a.numel() else 0.0


# -- name maps: our state-dict keys -> xautodl's ----------------------------------------------------
_EDGE = re.compile(r"^cells\.(\d+)\.edges\.(\d)_(\d)\.(\w+)\.(\d)\.(.+)$")
_CELL_EDGE = re.compile(r"^cells\.(\d+)\.edges\.(\d)_(\d)\.(\d)\.(.+)$")
_REDUCTION = re.compile(r"^cells\.(\d+)\.(conv_a|conv_b)\.(\d)\.(.+)$")


def _to_random(key: str) -> str:
    """Supernet key -> ``TinyNetworkRANDOM`` key (candidate ops by their index in NB201's op list)."""
    if m := _EDGE.match(key):
        i, t, s, op, k, rest = m.groups()
        return f"cells.{i}.edges.{t}<-{s}.{OPS.index(op)}.op.{k}.{rest}"
    if m := _REDUCTION.match(key):
        return f"cells.{m[1]}.{m[2]}.op.{m[3]}.{m[4]}"
    return key


def _to_tiny(key: str) -> str:
    """Stand-alone key -> ``TinyNetwork`` key (an InferCell holds one layer per edge, in edge order)."""
    if m := _CELL_EDGE.match(key):
        i, t, s, k, rest = m.groups()
        return f"cells.{i}.layers.{EDGES.index((int(t), int(s)))}.op.{k}.{rest}"
    if m := _REDUCTION.match(key):
        return f"cells.{m[1]}.{m[2]}.op.{m[3]}.{m[4]}"
    return key


def _copy_into(theirs: nn.Module, ours: nn.Module, name_map) -> dict[str, str]:
    """Load our weights and BN buffers into ``theirs`` (every one of theirs must be matched); our key -> theirs."""
    keys = {k: name_map(k) for k in ours.state_dict()}
    target = theirs.state_dict()
    assert set(keys.values()) == set(target), sorted(set(target) ^ set(keys.values()))[:6]
    theirs.load_state_dict({keys[k]: v.clone() for k, v in ours.state_dict().items()}, strict=True)
    return keys


def _randomise(model: nn.Module, seed: int) -> None:
    """Non-trivial BN affine weights and running statistics, so eval mode means something."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                if m.affine:
                    m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.3)
                if m.track_running_stats:
                    m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                    m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


def _images(n: int = 6, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 3, 16, 16, generator=torch.Generator().manual_seed(seed))


def _buffers_diff(ours: nn.Module, theirs: nn.Module, keys: dict[str, str]) -> float:
    """Largest difference between corresponding BN running statistics."""
    mine, other = ours.state_dict(), theirs.state_dict()
    diffs = [_max_diff(mine[k], other[keys[k]]) for k in mine if "running" in k]
    return max(diffs, default=0.0)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only add noise on a shared 2-core box
    yield
    torch.set_num_threads(threads)


# -- (a) the stand-alone network = TinyNetwork -------------------------------------------------------
@pytest.mark.parametrize("arch", ARCHS, ids=[to_arch_str(a) for a in ARCHS])
def test_standalone_network_equals_xautodl_tinynetwork(arch):
    ours = NB201Network(arch, C, N, CLASSES, seed=3)
    _randomise(ours, 4)
    theirs = TinyNetwork(C, N, _structure(arch), CLASSES)
    keys = _copy_into(theirs, ours, _to_tiny)
    x, worst = _images(), 0.0
    for train in (False, True):
        ours.train(train), theirs.train(train)
        with torch.no_grad():
            worst = max(worst, _max_diff(ours(x), theirs(x)[1]))
    worst = max(worst, _buffers_diff(ours, theirs, keys))  # the train-mode forward updated both
    _report(f"(a) TinyNetwork {to_arch_str(arch)}", worst)
    assert worst < TOL


# -- (b) a supernet path = TinyNetworkRANDOM ---------------------------------------------------------
BN_SETTINGS = [(True, True), (False, False), (False, True)]  # (affine, track): default, few-shot's, BN=1


def _pair(
    affine: bool, track: bool, seed: int = 5, dead_ops: bool = True
) -> tuple[NB201Supernet, TinyNetworkRANDOM, dict[str, str]]:
    """Our supernet (dead ops run, as xautodl's, unless told) and TinyNetworkRANDOM holding the same weights."""
    ours = NB201Supernet(C, N, CLASSES, seed=seed, cell=CellSettings(affine, track, dead_ops=dead_ops))
    _randomise(ours, seed + 1)
    theirs = TinyNetworkRANDOM(C, N, 4, CLASSES, NAS_BENCH_201, affine, track)
    return ours, theirs, _copy_into(theirs, ours, _to_random)


def _per_cell_forward(net: TinyNetworkRANDOM, x: torch.Tensor, cells: list[Structure]) -> torch.Tensor:
    """The few-shot code's UniformRandomSupernet.forward (aoiang/few-shot-NAS, rank_model.py) over
    xautodl's modules: each search cell runs its own genotype through ``forward_dynamic``."""
    h, it = net.stem(x), iter(cells)
    for cell in net.cells:
        h = cell.forward_dynamic(h, next(it)) if hasattr(cell, "forward_dynamic") else cell(h)
    h = net.global_pooling(net.lastact(h)).flatten(1)
    return net.classifier(h)


@pytest.mark.parametrize("affine, track", BN_SETTINGS)
@pytest.mark.parametrize("arch", ARCHS[:6], ids=[to_arch_str(a) for a in ARCHS[:6]])
def test_supernet_path_equals_xautodl_tinynetworkrandom(arch, affine, track):
    ours, theirs, keys = _pair(affine, track)
    theirs.arch_cache = _structure(arch)
    x, worst = _images(), 0.0
    for train in (False, True):
        ours.train(train), theirs.train(train)
        with torch.no_grad():
            worst = max(worst, _max_diff(ours(x, arch), theirs(x)[1]))
    worst = max(worst, _buffers_diff(ours, theirs, keys))
    _report(f"(b) TinyNetworkRANDOM affine={affine} track={track} {to_arch_str(arch)}", worst)
    assert worst < TOL


def test_supernet_follows_the_paths_tinynetworkrandom_samples():
    """Paths drawn by xautodl's own sampler (``random_genotype(True)``), read back as our cells."""
    import random

    ours, theirs, _ = _pair(False, False)
    random.seed(7)  # xautodl draws ops with Python's random
    x, worst = _images(), 0.0
    for _ in range(8):
        arch = SPACE.parse(theirs.random_genotype(True).tostr())
        for train in (False, True):
            ours.train(train), theirs.train(train)
            with torch.no_grad():
                worst = max(worst, _max_diff(ours(x, arch), theirs(x)[1]))
    _report("(b) paths sampled by TinyNetworkRANDOM.random_genotype", worst)
    assert worst < TOL


@pytest.mark.parametrize("affine, track", BN_SETTINGS[:2])
def test_per_position_path_equals_the_fewshot_forward(affine, track):
    ours, theirs, keys = _pair(affine, track)
    cells = [ARCHS[(3 * i + 1) % len(ARCHS)] for i in range(ours.cell_positions)]
    x, worst = _images(), 0.0
    for train in (False, True):
        ours.train(train), theirs.train(train)
        with torch.no_grad():
            worst = max(worst, _max_diff(ours(x, tuple(cells)), _per_cell_forward(theirs, x, [_structure(c) for c in cells])))
    worst = max(worst, _buffers_diff(ours, theirs, keys))
    _report(f"(b) per-position path vs few-shot forward affine={affine} track={track}", worst)
    assert worst < TOL


def test_running_bn_scoring_is_xautodl_eval_mode_on_the_same_batches():
    """bn_mode "running" with untracked cell BN: cells normalise each scoring batch by its own statistics,
    stem / reductions / head by their running statistics -- the few-shot eval script's valid_func."""
    ours, theirs, _ = _pair(False, False)
    g = torch.Generator().manual_seed(9)
    batches = [(_images(5, seed=s), torch.randint(0, CLASSES, (5,), generator=g)) for s in range(3)]
    archs = ARCHS[:5]
    scores = score_architectures(ours, archs, [to_arch_str(a) for a in archs], batches, "running", task=TASKS.get("cifar10"))
    theirs.eval()
    worst = 0.0
    for arch, accuracy, loss in zip(archs, scores["accuracy"], scores["loss"]):
        theirs.arch_cache = _structure(arch)
        with torch.no_grad():
            logits = [theirs(x)[1] for x, _ in batches]
        hits = sum(int((lg.argmax(1) == y).sum()) for lg, (_, y) in zip(logits, batches))
        ce = sum(float(nn.functional.cross_entropy(lg, y, reduction="sum")) for lg, (_, y) in zip(logits, batches))
        assert accuracy == pytest.approx(100.0 * hits / 15)
        worst = max(worst, abs(loss - ce / 15))
    _report("(b) bn_mode running scoring vs xautodl eval mode (loss)", worst)
    assert worst < TOL


# -- (c) k SGD steps along a fixed path sequence -----------------------------------------------------
# Dead convs (off the path here, in the autograd graph there) and convs that come and go between steps.
PATHS = [ARCHS[0], ARCHS[4], ARCHS[1], ARCHS[0], ARCHS[2], ARCHS[5], ARCHS[3], ARCHS[6]]


# One cell per position (3 x N = 6 positions), as the few-shot code trains. In float32 these steps part
# by up to ~1e-4 (thread-count dependent): the two graphs accumulate gradients in other orders, and BN
# over 6 tiny images amplifies the rounding. In float64 they agree to ~1e-15, so this test runs there.
POSITION_PATHS = [tuple(ARCHS[(step + 2 * i) % len(ARCHS)] for i in range(3 * N)) for step in range(len(PATHS))]
LR = 0.05


def _reference_steps(theirs: TinyNetworkRANDOM, paths, batches, set_to_none: bool, wd: float, clip: float | None) -> None:
    """The reference training loops, step for step: zero_grad, forward, CE, backward, (clip,) SGD step.
    xautodl's RANDOM-NAS search_func clips at 5 and samples one genotype (``arch_cache``); the few-shot
    code's train() does not clip and runs a genotype per search cell (``_per_cell_forward``)."""
    opt = torch.optim.SGD(theirs.parameters(), lr=LR, momentum=0.9, nesterov=True, weight_decay=wd)
    theirs.train()
    for arch, (x, y) in zip(paths, batches):
        opt.zero_grad(set_to_none=set_to_none)
        if isinstance(arch[0], tuple):
            logits = _per_cell_forward(theirs, x, [_structure(c) for c in arch])
        else:
            theirs.arch_cache = _structure(arch)
            logits = theirs(x)[1]
        nn.functional.cross_entropy(logits.float(), y).backward()  # the loss in float32, as the task's
        if clip:
            nn.utils.clip_grad_norm_(theirs.parameters(), clip)
        opt.step()


def _steps_diff(
    zero_grad: str, affine: bool, track: bool, dead_ops: bool = True, per_position: bool = False
) -> tuple[float, float]:
    """(largest weight / buffer difference to the reference after the steps, largest weight move) of one run:
    xautodl RSPS's settings (wd 5e-4, clip 5), or the few-shot one-shot's (wd 1e-4, no clip) per position."""
    ours, theirs, keys = _pair(affine, track, seed=11, dead_ops=dead_ops)
    dtype = torch.float64 if per_position else torch.float32
    ours, theirs = ours.to(dtype), theirs.to(dtype)
    start = {k: v.detach().clone() for k, v in ours.named_parameters()}
    paths, wd, clip = (POSITION_PATHS, 1e-4, None) if per_position else (PATHS, 5e-4, 5.0)
    network = {"C": C, "N": N, "cell_bn_affine": affine, "cell_bn_track": track, "cell_dead_ops": dead_ops}
    p = PROTOCOLS.get("nb201-smoke").replace(
        network=network, zero_grad=zero_grad, lr=LR, lr_min=LR, weight_decay=wd, grad_clip=clip, momentum=0.9, nesterov=True
    )  # lr_min = lr: a constant rate, as the reference holds it within an epoch
    t = trainer_for(p, ours, FixedPaths(paths), TASKS.get("cifar10"), len(paths), 1)
    g = torch.Generator().manual_seed(13)
    batches = [(_images(6, seed=20 + i).to(dtype), torch.randint(0, CLASSES, (6,), generator=g)) for i in range(len(paths))]
    for step, batch in enumerate(batches):
        train_step(t, step, batch)
    _reference_steps(theirs, paths, batches, zero_grad == "none", wd, clip)
    mine, other = ours.state_dict(), theirs.state_dict()
    worst = max(_max_diff(v, other[keys[k]]) for k, v in mine.items())
    moved = max(_max_diff(v, start[k]) for k, v in ours.named_parameters())
    return worst, moved


@pytest.mark.parametrize("zero_grad", ["none", "zeros"])
@pytest.mark.parametrize("affine, track", [(False, False), (True, True)])
def test_sgd_steps_along_a_path_sequence_equal_xautodl(zero_grad, affine, track):
    worst, moved = _steps_diff(zero_grad, affine, track)
    _report(f"(c) {len(PATHS)} SGD steps, zero_grad={zero_grad}, affine={affine} track={track} (moved {moved:.3g})", worst)
    assert moved > 1e-3 and worst < 1e-5


@pytest.mark.parametrize("zero_grad", ["none", "zeros"])
def test_sgd_steps_per_position_equal_the_fewshot_training_loop(zero_grad):
    worst, moved = _steps_diff(zero_grad, False, False, per_position=True)
    _report(f"(c) {len(PATHS)} SGD steps per position (few-shot settings), zero_grad={zero_grad} (moved {moved:.3g})", worst)
    assert moved > 1e-3 and worst < 1e-12


@pytest.mark.parametrize("zero_grad", ["none", "zeros"])
def test_without_dead_ops_the_steps_leave_the_reference(zero_grad):
    """Why cell_dead_ops exists: xautodl runs the convs that cannot reach the output, so they get zero
    gradients and weight decay and momentum move them; skipping them leaves their gradients unset."""
    worst, _ = _steps_diff(zero_grad, False, False, dead_ops=False)
    _report(f"(c) control: dead ops skipped, zero_grad={zero_grad}", worst)
    assert worst > 1e-4
