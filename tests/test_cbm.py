"""Channel-Bench-Macro: the width encoding, closed-form costs against the benchmark, the ground-truth adapter."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import needs_data

from harness.api.errors import WsbenchError
from harness.catalog import load_ground_truth
from spaces.cbm import encoding as E
from spaces.cbm.cost import arch_cost
from spaces.cbm.ground_truth import FILES


def test_keys_round_trip_and_enumeration_is_complete():
    archs = E.enumerate_archs()
    assert len(archs) == len(set(archs)) == E.NUM_ARCHS == 16384
    assert all(E.from_key(E.to_key(a)) == a for a in archs[::97])
    assert E.widths(E.from_key("4444444"), "mobilenet") == E.MAX_WIDTHS["mobilenet"]
    assert E.widths(E.from_key("1234123"), "resnet") == (64, 128, 192, 512, 128, 256, 384)


@pytest.mark.parametrize("bad", ["444444", "44444445", "0444444", "abcdefg", 4444444])
def test_bad_keys_are_one_line_errors(bad):
    with pytest.raises(WsbenchError, match="Channel-Bench-Macro") as e:
        E.as_arch(bad)
    assert "\n" not in str(e.value)


@needs_data()
@pytest.mark.parametrize("backbone", ["mobilenet", "resnet"])
def test_closed_form_params_and_flops_equal_the_benchmark_on_every_key(backbone):
    obj = json.loads((Path(os.environ["WSBENCH_DATA"]) / FILES[backbone]).read_text())
    assert len(obj) == 16384
    costs = {k: arch_cost(E.from_key(k), backbone) for k in obj}
    assert sum(costs[k].params == v["params"] for k, v in obj.items()) == 16384
    assert sum(costs[k].flops == v["flops"] for k, v in obj.items()) == 16384


@needs_data()
def test_ground_truth_reductions_are_explicit_and_carry_the_caveat():
    q = ("cbm-mobilenet", "cbm", "cifar10", "test", "best-accuracy")
    mean, r0, r2 = (load_ground_truth(*q, r) for r in ("mean", "run:0", "run:2"))
    assert len(mean) == len(r0) == 16384 and mean.arch_ids == r0.arch_ids
    assert "best test accuracy over the 60 training epochs" in mean.provenance["caveat"]
    ids = mean.arch_ids[:50]
    assert not np.allclose(r0.lookup(ids), r2.lookup(ids))
    for bad in ("run:3", "median"):
        with pytest.raises(WsbenchError, match="seed reduction"):
            load_ground_truth(*q, bad)
    with pytest.raises(WsbenchError, match="metric"):
        load_ground_truth("cbm-resnet", "cbm", "cifar10", "test", "accuracy", "mean")  # never silently the best-epoch number


def test_a_damaged_results_file_is_a_one_line_error(tmp_path, monkeypatch):
    (tmp_path / "cbm").mkdir()
    good = {"1111111": {"acc": [90.0, 91.0, 92.0], "mean": 91.0, "std": 0.8, "params": 1, "flops": 1}}
    bad = {"1111111": {"acc": [90.0, 91.0, 92.0], "mean": 95.0, "std": 0.8, "params": 1, "flops": 1}}
    monkeypatch.setenv("WSBENCH_DATA", str(tmp_path))
    path = tmp_path / "cbm" / "Results_ResNet.json"
    q = ("cbm-resnet", "cbm", "cifar10", "test", "best-accuracy", "mean")
    path.write_text(json.dumps(good))
    assert load_ground_truth(*q).provenance["complete"] is False
    for text, match in ((json.dumps(bad), "'mean' does not equal"), ('{"1111111": ', "not a Channel-Bench-Macro results file")):
        path.write_text(text)
        os.utime(path, ns=(1, len(text)))  # a new identity: not the cached read
        with pytest.raises(WsbenchError, match=match) as e:
            load_ground_truth(*q)
        assert "\n" not in str(e.value)


@pytest.mark.parametrize("backbone", ["mobilenet", "resnet"])
def test_the_built_network_has_the_closed_form_params_and_flops(backbone):
    import torch

    from spaces.cbm.network import WidthNetwork

    rng = np.random.default_rng(0)
    for _ in range(4):
        arch = tuple(int(v) for v in rng.integers(0, 4, 7))
        w = E.widths(arch, backbone, multiplier=0.25)
        net = WidthNetwork(backbone, w)
        flops = 0

        def count(m, inputs, out):
            nonlocal flops
            if isinstance(m, torch.nn.Conv2d):
                flops += out.numel() * m.kernel_size[0] * m.kernel_size[1] * m.in_channels // m.groups
            elif isinstance(m, torch.nn.Linear):
                flops += m.in_features * m.out_features

        for m in net.modules():
            m.register_forward_hook(count)
        assert net(torch.zeros(1, 3, 32, 32)).shape == (1, 10)
        cost = arch_cost(arch, backbone, multiplier=0.25)
        assert sum(p.numel() for p in net.parameters()) == cost.params and flops == cost.flops


def _stand_alone_copy(supernet, backbone, arch, multiplier, bn):
    """The stand-alone network of ``arch`` holding the supernet's leftmost-channel weights and BN."""
    import torch

    from spaces.cbm.network import WidthNetwork

    net = WidthNetwork(backbone, E.widths(arch, backbone, multiplier))
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for conv, bn_, sconv, sbn, (_, layer, *_rest) in zip(convs, bns, supernet.convs, supernet.bns, supernet.plan):
            conv.weight.copy_(sconv.weight[: conv.weight.shape[0], : conv.weight.shape[1]])
            src = sbn.bns[arch[layer]] if bn == "switchable" else sbn.bns[0]
            c = bn_.num_features
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(bn_, name).copy_(getattr(src, name)[:c])
        net.classifier.weight.copy_(supernet.classifier.weight[:, : net.classifier.in_features])
        net.classifier.bias.copy_(supernet.classifier.bias)
    return net


def _randomise_bn(model):
    import torch

    with torch.no_grad():  # non-trivial BN parameters and statistics
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                if m.affine:  # bcnet's side-1 BNs hold statistics only
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)


@pytest.mark.parametrize("backbone", ["mobilenet", "resnet"])
@pytest.mark.parametrize("bn", ["shared", "switchable"])
def test_left_rule_path_equals_the_stand_alone_network_with_the_leftmost_channels(backbone, bn):
    import torch

    from spaces.cbm.supernet import WidthSupernet

    supernet = WidthSupernet(backbone, 0.125, bn=bn, seed=1)
    _randomise_bn(supernet)
    supernet.eval()
    x = torch.randn(2, 3, 32, 32)
    for arch in [(0,) * 7, (3,) * 7, (2, 0, 3, 1, 2, 3, 0)]:
        net = _stand_alone_copy(supernet, backbone, arch, 0.125, bn).eval()
        torch.testing.assert_close(supernet(x, arch), net(x))


@pytest.mark.parametrize("bn", ["shared", "switchable"])
def test_recalibrated_path_has_the_statistics_of_its_stand_alone_network(bn):
    """The evaluator's BN recalibration (cumulative average) gives a path the exact statistics of its
    calibration batches, as it gives the stand-alone network: a sliced shared BN must not fall back
    to an exponential average (which left running means at a tenth of their value)."""
    import torch

    from harness.engine.evaluator import recalibrate_bn
    from spaces.cbm.supernet import WidthSupernet

    supernet = WidthSupernet("mobilenet", 0.125, bn=bn, seed=2)
    _randomise_bn(supernet)
    batches = [(torch.randn(8, 3, 32, 32), None) for _ in range(3)]
    arch = (2, 0, 3, 1, 2, 3, 0)
    net = _stand_alone_copy(supernet, "mobilenet", arch, 0.125, bn)
    recalibrate_bn(supernet, arch, batches)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None
        net.train()
        for x, _ in batches:
            net(x)
    supernet.eval()
    net.eval()
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(supernet(x, arch), net(x))


def test_width_network_config_names_rule_and_bn_and_refuses_unknown_ones():
    from harness.catalog import SPACES

    space = SPACES.get("cbm-resnet")
    assert space.network_config({"rule": "left", "bn": "shared"}) == {"width_pct": 100}
    assert space.network_config({"bn": "switchable", "width_pct": 25}) == {"width_pct": 25, "bn": "switchable"}
    assert space.network_config({"rule": "cafenet", "offset": 0.5, "candidates": 2}) == {
        "width_pct": 100,
        "rule": "cafenet",
        "offset": 0.5,
    }
    for bad, match in (
        ({"rule": "slim"}, "rule: must be one of left, bcnet, cafenet"),
        ({"bn": "none"}, "bn: must be one of"),
        ({"offset": 0.5}, "offset: only the cafenet sharing rule takes it"),
        ({"rule": "cafenet", "offset": 2}, r"offset: must be a fraction in \(0, 1\]"),
        ({"rule": "cafenet", "candidates": 0}, "candidates: must be a positive integer"),
    ):
        with pytest.raises(WsbenchError, match=match):
            space.network_config(bad)
    assert space.cost("4432214").params == 6208394  # the benchmark file's value for this key


def _right_copy(supernet, backbone, arch, multiplier):
    """The stand-alone network of ``arch`` holding the supernet's rightmost-channel weights (side-1 BN statistics)."""
    import torch

    from spaces.cbm.network import WidthNetwork

    net = WidthNetwork(backbone, E.widths(arch, backbone, multiplier))
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    top = [o[-1] for o in supernet.options]
    right = [slice(n - c, n) for c, n in zip(E.widths(arch, backbone, multiplier), top)]
    with torch.no_grad():
        for conv, bn_, sconv, sbn, (c_in, layer, *_rest) in zip(convs, bns, supernet.convs, supernet.bns, supernet.plan):
            w = sconv.weight[right[layer]]
            conv.weight.copy_(w if sconv.depthwise or c_in is None else w[:, right[c_in]])
            stats, affine = sbn.bns[1], sbn.bns[0]
            bn_.weight.copy_(affine.weight[right[layer]])
            bn_.bias.copy_(affine.bias[right[layer]])
            bn_.running_mean.copy_(stats.running_mean[right[layer]])
            bn_.running_var.copy_(stats.running_var[right[layer]])
        last = supernet.last_layer
        net.classifier.weight.copy_(supernet.classifier.weight[:, right[last]])
        net.classifier.bias.copy_(supernet.classifier.bias)
    return net


@pytest.mark.parametrize("backbone", ["mobilenet", "resnet"])
def test_bcnet_trains_both_sides_and_scores_their_mean(backbone):
    import torch
    import torch.nn.functional as F

    from spaces.cbm.supernet import WidthSupernet

    supernet = WidthSupernet(backbone, 0.125, rule="bcnet", seed=1)
    _randomise_bn(supernet)
    x, y = torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,))
    arch = (2, 0, 3, 1, 2, 3, 0)
    views = supernet.training_views(arch, x, y, F.cross_entropy)
    assert [v.side for v in views] == [0, 1] and all(tuple(v) == arch for v in views)
    supernet.eval()
    left = _stand_alone_copy(supernet, backbone, arch, 0.125, "shared").eval()
    right = _right_copy(supernet, backbone, arch, 0.125).eval()
    torch.testing.assert_close(supernet(x, views[0]), left(x))
    torch.testing.assert_close(supernet(x, views[1]), right(x))
    torch.testing.assert_close(supernet(x, arch), (left(x) + right(x)) / 2)


def test_cafenet_candidates_keep_the_base_channels_and_place_free_ones_in_the_zone():
    import torch
    import torch.nn.functional as F

    from spaces.cbm.supernet import WidthSupernet

    supernet = WidthSupernet("resnet", 0.25, rule="cafenet", seed=3, offset=0.5, candidates=3)
    rule = supernet.sharing
    rng = np.random.default_rng(0)
    arch = (0, 1, 2, 3, 1, 0, 2)
    for _ in range(20):
        path = rule.candidate(arch, rng, torch.device("cpu"))
        for i, k in enumerate(arch):
            c = supernet.options[i][k]
            chosen = torch.arange(supernet.options[i][-1])[path.channels[i]]
            first, end, r = rule.zone(i, k)
            assert len(chosen) == c and r == min(round(0.5 * supernet.options[i][0]), c)
            assert torch.equal(chosen[:first], torch.arange(first))  # base: the leftmost c - r
            assert ((chosen[first:] >= first) & (chosen[first:] < end)).all() and len(set(chosen.tolist())) == c
        assert path.channels[3] == slice(0, supernet.options[3][3])  # the full width has no free zone
    # min-min: the trained view is the candidate with the smallest loss, and its placement wins
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    supernet.train()
    draws = int(rule.draws)
    rng = np.random.default_rng([3, draws])
    cands = [rule.candidate(arch, rng, x.device) for _ in range(3)]
    with torch.no_grad():
        losses = [float(F.cross_entropy(supernet._run(x, c), y)) for c in cands]
    (best,) = supernet.training_views(arch, x, y, F.cross_entropy)
    expected = cands[int(np.argmin(losses))]
    assert all(
        torch.equal(torch.as_tensor(a), torch.as_tensor(b)) for a, b in zip(best.free[:3], expected.free[:3]) if a is not None
    )
    assert int(rule.draws) == draws + 1
    layer, k = 1, arch[1]
    assert rule.wins1[k].sum() == rule.zone(layer, k)[2]  # one win for each of its r free channels


def test_cafenet_scores_with_the_placement_that_won_most_and_resumes_it():
    import torch

    from spaces.cbm.supernet import WidthSupernet

    supernet = WidthSupernet("mobilenet", 0.125, rule="cafenet", seed=0)
    rule = supernet.sharing
    arch = (1,) * 7
    untrained = rule.scoring_views(arch, torch.device("cpu"))[0]
    assert all(ch == slice(0, supernet.options[i][1]) for i, ch in enumerate(untrained.channels))  # = left
    first, end, r = rule.zone(0, 1)
    rule.wins0[1, end - r : end] += 5  # the zone's right end won most
    chosen = torch.arange(supernet.options[0][-1])[rule.scoring_views(arch, torch.device("cpu"))[0].channels[0]]
    assert torch.equal(chosen, torch.cat([torch.arange(first), torch.arange(end - r, end)]))
    restored = WidthSupernet("mobilenet", 0.125, rule="cafenet", seed=0)
    restored.load_state_dict(supernet.state_dict())
    again = torch.arange(supernet.options[0][-1])[restored.sharing.scoring_views(arch, torch.device("cpu"))[0].channels[0]]
    assert torch.equal(again, chosen)


def test_sandwich_trains_largest_smallest_and_random_and_distils_in_place():
    import torch

    from harness.catalog import SPACES, STRATEGIES, TASKS
    from harness.seeding import numpy_stream

    space = SPACES.get("cbm-mobilenet")
    task = TASKS.get(space.default_task)
    strategy = STRATEGIES.get("sandwich")(space, numpy_stream(0, "arch"), n_random=3, distill=True)
    paths = strategy.paths(0)
    assert paths[:2] == [(3,) * 7, (0,) * 7] and len(paths) == 5 and strategy.paths_per_step == 5.0
    y = torch.tensor([1, 2])
    teacher = torch.tensor([[0.0, 4.0, 0.0], [0.0, 0.0, 4.0]])
    student = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    assert torch.isclose(strategy.path_loss(paths[0], teacher, y, task), task.loss(teacher, y))
    soft = torch.softmax(teacher, dim=-1)
    expected = -(soft * torch.log_softmax(student, dim=-1)).sum(-1).mean()
    assert torch.isclose(strategy.path_loss(paths[2], student, y, task), expected)
    assert not torch.isclose(expected, task.loss(student, y))
    plain = STRATEGIES.get("sandwich")(space, numpy_stream(0, "arch"))
    assert torch.isclose(plain.path_loss(paths[2], student, y, task), task.loss(student, y))
    with pytest.raises(WsbenchError, match="n_random must be a non-negative integer"):
        STRATEGIES.get("sandwich")(space, numpy_stream(0, "arch"), n_random=-1)


@needs_data()
@pytest.mark.parametrize("rule", ["bcnet", "cafenet"])
def test_a_cell_trains_and_scores_with_each_sharing_rule(rule, tmp_path):
    import pandas as pd

    from harness.catalog import PROTOCOLS
    from harness.engine.cell import CellSpec
    from harness.engine.loop import run_cell

    protocol = PROTOCOLS.get("cbm-smoke").replace(
        name=f"tiny-{rule}",
        network={"width_pct": 6, "rule": rule},
    )
    spec = CellSpec("cbm-mobilenet", "spos", protocol, seed=0)
    result = run_cell(spec, root=tmp_path, log=lambda *_: None)
    assert result["steps"] == 2 * (400 // protocol.batch_size)
    from harness.run.store import load_scores

    scores = load_scores(spec.run_dir(tmp_path))
    assert len(scores) == 12 and scores["accuracy"].between(0, 100).all()
    assert all(isinstance(a, str) and len(a) == 7 for a in scores["arch"])  # keys, not numbers
    from harness.analysis.stability import analyse

    table = analyse(tmp_path).table  # the keys match the ground truth: params and ceiling rows exist
    assert {"supernet", "params", "ceiling"} <= set(table["kind"])
    log = pd.read_csv(spec.run_dir(tmp_path) / "train_log.csv")
    assert np.isfinite(log["train_loss"]).all()
