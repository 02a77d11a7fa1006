"""The seed paper's NB101 recipe: its network keys, its one-shot cell, its path distribution, its protocol.

The seed paper's code (matluster/anonymous-2102) is not installable; its supernet cell is checked
against an independent transcription written here from ``space/nb101/network.py`` (OneShotNode /
OneShotCell: an input projection per node, computed whether chosen or not; ``InputChoice`` masks as
``tools/generate_nb101_splits.py`` writes them, ``input{t} = adjacency[:t, t]``; sum at the nodes,
concatenation at the output).
"""

from __future__ import annotations

import hashlib
import itertools
import math

import numpy as np
import pytest
import torch
from conftest import needs_data
from torch import nn

from harness.api.errors import WsbenchError
from harness.api.space import TaskSpec
from harness.catalog import PROTOCOL_ENTRIES, PROTOCOLS, SPACES
from spaces.nb101.encoding import OPS, Cell
from spaces.nb101.ops import NetworkSettings
from spaces.nb101.sampling import oneshot1_space, sample_cell
from spaces.nb101.supernet import NB101ConfigError, NB101Supernet

SPACE = SPACES.get("nb101")
SUB = SPACES.get("nb101-1shot1c")
NB1SHOT1C = oneshot1_space("nb1shot1c")


def _digest(net: nn.Module) -> str:
    h = hashlib.sha256()
    for k, v in net.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------- network keys


def test_defaults_build_what_was_always_built():
    # Digest of NB101Supernet(C=4, N=1, seed=0) before the network keys existed.
    assert _digest(NB101Supernet(C=4, N=1, seed=0)) == "7cf412b9cae1c518"
    assert _digest(SPACE.build_supernet({"C": 4, "N": 1}, TaskSpec(10), seed=0)) == "7cf412b9cae1c518"
    explicit = {"C": 4, "N": 1, "cell": "sum", "bn_momentum": 0.1, "bn_eps": 1e-5, "init": "torch"}
    assert SPACE.network_config(explicit) == {"C": 4, "N": 1}  # defaults never reach a resolved config
    assert SPACE.network_config({}) == {"C": 128, "N": 3}


@pytest.mark.parametrize(
    "network, match",
    [
        ({"cell": "concat"}, "cell: must be one of sum, seedpaper"),
        ({"init": "he"}, "init: must be one of torch, seedpaper"),
        ({"bn_momentum": 0}, r"bn_momentum: must be a number in \(0, 1\]"),
        ({"bn_momentum": 1.5}, r"bn_momentum: must be a number in \(0, 1\]"),
        ({"bn_eps": -1e-3}, "bn_eps: must be a positive number"),
        ({"bn_eps": True}, "bn_eps: must be a positive number"),
        ({"cell": "seedpaper", "C": 9}, "C: must be even with cell 'seedpaper'"),
    ],
)
def test_bad_network_keys_are_one_line_errors(network, match):
    with pytest.raises(WsbenchError, match=match) as e:
        SPACE.network_config(network)
    assert "\n" not in str(e.value)


def test_bn_settings_reach_every_batch_norm():
    net = SPACE.build_supernet({"C": 4, "N": 1, "bn_momentum": 0.003, "bn_eps": 1e-3}, TaskSpec(10), seed=0)
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(m.momentum == 0.003 and m.eps == 1e-3 and m.affine for m in bns)


def test_seed_paper_init_draws_truncated_normals_and_xavier():
    net = NB101Supernet(C=32, N=1, seed=3, settings=NetworkSettings(init="seedpaper"))
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            std = math.sqrt(1.0 / m.weight[0].numel())
            w = m.weight.detach()
            assert float(w.abs().max()) <= 2 * std + 1e-7  # truncated at two standard deviations
            if w.numel() > 2000:  # a truncated normal's std is 0.880 of the untruncated one
                assert abs(float(w.std()) / std - 0.880) < 0.05
        if isinstance(m, nn.Linear):
            bound = math.sqrt(6.0 / (m.in_features + m.out_features))
            assert float(m.weight.detach().abs().max()) <= bound and float(m.bias.detach().abs().max()) == 0.0
    again = NB101Supernet(C=32, N=1, seed=3, settings=NetworkSettings(init="seedpaper"))
    assert _digest(net) == _digest(again) != _digest(NB101Supernet(C=32, N=1, seed=4, settings=NetworkSettings(init="seedpaper")))


# --------------------------------------------------------------------- the seed paper's cell


class _SeedNode(nn.Module):
    """Transcription of the seed's OneShotNode (no NNI): a mask picks inputs; sum, or concat at the last node."""

    def __init__(self, c_in: int, width: int, last: bool):
        super().__init__()
        self.last = last
        self.input_op = nn.Sequential(nn.Conv2d(c_in, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        if not last:
            conv = [nn.Sequential(nn.Conv2d(width, width, k, padding=k // 2, bias=False), nn.BatchNorm2d(width), nn.ReLU())
                    for k in (3, 1)]  # fmt: skip
            self.op = nn.ModuleList([*conv, nn.MaxPool2d(3, 1, 1)])

    def forward(self, tensors, mask, op_onehot):
        if self.last:
            assert not mask[0]
            return torch.cat([t for t, m in zip(tensors, mask) if m], dim=1)
        candidates = [self.input_op(tensors[0]), *tensors[1:]]  # the projection runs, chosen or not
        chosen = [t for t, m in zip(candidates, mask) if m]
        total = chosen[0]
        for t in chosen[1:]:
            total = total + t
        return self.op[int(np.argmax(op_onehot))](total)


def _seed_arch(cell: Cell) -> dict[str, np.ndarray]:
    """The seed's archset encoding of a 7-vertex cell (tools/generate_nb101_splits.py)."""
    a = cell.array().astype(bool)
    arch = {f"input{t}": a[:t, t] for t in range(1, 7)}
    arch.update({f"op{t}": np.eye(3, dtype=bool)[OPS.index(cell.ops[t])] for t in range(1, 6)})
    return arch


def test_seed_cell_equals_a_transcription_of_the_seed_paper_cell():
    c_in = c_out = 8
    ours = NB101Supernet(C=c_out, N=1, seed=0, cell="seedpaper").layers[0]  # the first stack's cell: c_in == c_out
    nodes = nn.ModuleList(_SeedNode(c_in, c_out // 2, t == 6) for t in range(1, 7))
    # Weights across by name: ours proj.<t> / ops.<t>.<op> <- theirs node t-1's input_op / op[k].
    with torch.no_grad():
        for t in range(1, 6):
            for mine, theirs in zip(ours.proj[str(t)].parameters(), nodes[t - 1].input_op.parameters()):
                theirs.copy_(mine + 0)
            for k, op in enumerate(OPS[:2]):
                for mine, theirs in zip(ours.ops[str(t)][op].parameters(), nodes[t - 1].op[k].parameters()):
                    theirs.copy_(mine + 0)
    from spaces.nb101.supernet import cell_plan

    x = torch.randn(4, c_in, 8, 8, generator=torch.Generator().manual_seed(0))
    rng = np.random.default_rng(0)
    for _ in range(6):
        cell = NB1SHOT1C.sample(rng)
        arch = _seed_arch(cell)
        tensors = [x]
        for t, node in enumerate(nodes, start=1):
            tensors.append(node(tensors, arch[f"input{t}"], arch.get(f"op{t}")))
        torch.testing.assert_close(ours(x, cell_plan(cell)), tensors[-1], rtol=0, atol=0)


def test_seed_cell_refuses_cells_outside_its_space_in_one_line():
    net = NB101Supernet(C=8, N=1, seed=0, cell="seedpaper")
    rng = np.random.default_rng(1)
    outside = next(c for c in (sample_cell(rng) for _ in range(200)) if c.pruned().array()[0, -1])  # input -> output
    with pytest.raises(NB101ConfigError, match="space 'nb101-1shot1c'") as e:
        net(torch.randn(2, 3, 8, 8), outside)
    assert "\n" not in str(e.value)
    with pytest.raises(NB101ConfigError, match="even channels"):
        NB101Supernet(C=7, N=1, cell="seedpaper")


# ------------------------------------------------------------------- the path distribution


def test_nb1shot1c_is_the_seed_papers_archset():
    kept = [p for p in itertools.product(*NB1SHOT1C.parent_choices()) if NB1SHOT1C.keeps(list(p))]
    assert len(kept) == 395 and len(kept) * 3**5 == SUB.num_archs == 95_985
    rng = np.random.default_rng(0)
    for _ in range(200):
        cell = SUB.sample(rng)
        a = cell.array()
        assert cell.num_vertices == 7 and len(cell.live_vertices()) == 7  # no loose ends
        assert a[0, 6] == 0 and a[:, 6].sum() == 2  # no input -> output; two output parents
        assert [int(a[:t, t].sum()) for t in range(1, 6)] == [1, 1, 1, 2, 2]


def test_paths_are_uniform_over_the_configurations():
    # Each of the 395 parent-set choices is equally likely (ops are drawn independently of them).
    rng = np.random.default_rng(5)
    counts: dict[bytes, int] = {}
    n = 8000
    for _ in range(n):
        key = np.array(SUB.sample(rng).matrix, dtype=np.int8).tobytes()
        counts[key] = counts.get(key, 0) + 1
    assert len(counts) == 395
    observed = np.array(list(counts.values()))
    chi2 = float(((observed - n / 395) ** 2 / (n / 395)).sum())
    assert chi2 < 395 + 6 * math.sqrt(2 * 394), chi2  # far below: uniform; a biased sampler lands far above


@needs_data()
def test_sub_space_pools_hold_its_classes_with_ground_truth():
    pool = SUB.ground_truth_archs("1shot1c/hash20k")
    assert len(pool) == 2044
    ids = [c.module_hash for c in pool]
    assert ids == sorted(ids) and all(len(c.live_vertices()) == 7 and c.array()[0, 6] == 0 for c in pool)
    from harness.catalog import load_ground_truth

    table = load_ground_truth("nb101-1shot1c", "hash20k", "cifar10", "valid", "accuracy@108", "one-run")
    assert set(ids) <= set(table.arch_ids)
    assert len(SUB.ground_truth_archs("curves1k")) == len(SPACE.ground_truth_archs("curves1k"))  # NB101's pools too
    with pytest.raises(WsbenchError, match="1shot1c"):
        SUB.ground_truth_archs("1shot1c/no-such-source")


# ------------------------------------------------------------------------------- the recipe


def test_recipe_resolves_on_the_sub_space_with_a_source_for_every_value():
    p = PROTOCOLS.get("seedpaper-nb101")
    assert p.network_for(SUB) == {"C": 128, "N": 3, "cell": "seedpaper", "bn_momentum": 0.003, "init": "seedpaper"}
    assert (p.epochs, p.batch_size, p.lr, p.lr_min, p.momentum, p.nesterov) == (108, 256, 0.1, 0.0, 0.9, False)
    assert (p.weight_decay, p.grad_clip, p.zero_grad, p.warmup_epochs) == (1e-4, 5.0, "zeros", 0)
    assert (p.calib_batches, p.calib_batch_size, p.archset_n, p.archset_source) == (25, 400, 300, "1shot1c")
    assert p.snapshot_epochs == tuple(range(12, 109, 12))
    assert p.task_options["split"] == "train80-val20" and p.eval_images is None
    entry = PROTOCOL_ENTRIES["seedpaper-nb101"]
    set_here = {"network." + k for k in p.network} | {"task_options." + k for k in p.task_options if k != "train_part"}
    fields = {"epochs", "batch_size", "lr", "lr_min", "momentum", "nesterov", "weight_decay", "grad_clip", "zero_grad",
              "snapshot_epochs", "calib_batches", "calib_batch_size", "archset_n", "archset_source"}  # fmt: skip
    missing = (set_here - {"task_options.eval_part"}) | fields
    assert missing <= set(entry.sources), sorted(missing - set(entry.sources))
    assert all(v.startswith("matluster/anonymous-2102, ") for v in entry.sources.values())


def test_shipped_smoke_matrix_loads_and_names_the_recipes():
    from harness.run.matrix import load_matrix

    m = load_matrix("recipes-nb101-proxyless-smoke")
    cells = m.cells()
    assert {c.space for c in cells} == {"nb101-1shot1c", "proxyless"}
    nb101 = next(c for c in cells if c.space == "nb101-1shot1c")
    assert nb101.protocol.name.startswith("seedpaper-nb101") and nb101.protocol.zero_grad == "zeros"
    assert nb101.protocol.network_for(SUB)["cell"] == "seedpaper"


def test_recipe_schedule_is_the_seeds_cosine_per_step():
    # trainers/nb101.py: CosineAnnealingLR(optimizer, epochs * len(train_loader), eta_min=ending_lr), stepped per step.
    from harness.engine.schedule import cosine_lr

    p = PROTOCOLS.get("seedpaper-nb101")
    total = p.epochs * 156  # 40,000 // 256 steps per epoch (the seed's loader drops the last batch)
    f = cosine_lr(p, total)
    seed = [p.lr_min + (p.lr - p.lr_min) * (1 + math.cos(math.pi * s / total)) / 2 for s in range(0, total, 97)]
    assert max(abs(f(s) * p.lr - v) for s, v in zip(range(0, total, 97), seed)) < 1e-12


def test_the_seed_cell_on_the_whole_space_is_refused_before_training():
    with pytest.raises(WsbenchError, match="use space 'nb101-1shot1c'") as e:
        SPACE.build_supernet({"C": 8, "N": 1, "cell": "seedpaper"}, TaskSpec(10), seed=0)
    assert "\n" not in str(e.value)
    assert isinstance(SUB.build_supernet({"C": 8, "N": 1, "cell": "seedpaper"}, TaskSpec(10), seed=0), NB101Supernet)
