"""Channel-Bench-Macro: the width encoding, closed-form costs against the benchmark, the ground-truth adapter."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import needs_data

from harness.api.errors import WsbenchError
from harness.api.ground_truth import load_ground_truth
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
    from spaces import SPACES

    space = SPACES.get("cbm-resnet")
    assert space.network_config({"rule": "left", "bn": "shared"}) == {"width_pct": 100}
    assert space.network_config({"bn": "switchable", "width_pct": 25}) == {"width_pct": 25, "bn": "switchable"}
    for bad, match in (({"rule": "cafenet"}, "rule: must be one of left"), ({"bn": "none"}, "bn: must be one of")):
        with pytest.raises(WsbenchError, match=match):
            space.network_config(bad)
    assert space.cost("4432214").params == 6208394  # the benchmark file's value for this key
