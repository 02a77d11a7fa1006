"""``wsbench bench``: every figure is measured, for any space, and the fast path computes the naive path's math."""

import math

import numpy as np
import pytest
import torch

from harness.api.errors import WsbenchError
from harness.catalog import SPACES
from harness.engine.step import train_step
from harness.run import bench as B
from harness.run.bench.naive import naive_augment, naive_train_step, to_cpu_nchw

TINY = dict(
    space="nb201", protocol="nb201-smoke", device="cpu", network={"C": 4, "N": 1}, batch_size=32, steps=3, warmup=1,
    score_archs=3, threads=1,
)  # fmt: skip


def _figures(result):
    for phase in ("ours", "naive"):
        yield result["train"][phase]["examples_per_s"]
        yield result["train"][phase]["ms_per_step"]
        yield result["score"][phase]["archs_per_s"]
    yield from result["ratios"].values()
    for row in result["aggregate"]:
        yield row["examples_per_s"]
        yield row["vs_one_cell"]


@pytest.fixture(scope="module")
def result():
    return B.run_bench(**TINY, cells=(1, 2), replicas=(2,))


def test_every_figure_is_positive_and_finite(result):
    values = list(_figures(result))
    assert len(values) == 6 + 4 + 2
    assert all(math.isfinite(v) and v > 0 for v in values)
    assert [row["cells"] for row in result["aggregate"]] == [2]
    ratio = result["train"]["ours"]["examples_per_s"] / result["train"]["naive"]["examples_per_s"]
    assert result["ratios"]["train_examples_per_s"] == pytest.approx(ratio)


def test_provenance_records_the_setup(result):
    c, p = result["config"], result["provenance"]
    assert (c["space"], c["protocol"], c["network"], c["batch_size"], c["device"]) == (
        "nb201",
        "nb201-smoke",
        {"C": 4, "N": 1},
        32,
        "cpu",
    )
    assert c["unit"] == "images" and c["examples_per_step"] == 32
    assert p["torch"] == torch.__version__ and p["torch_threads"] == 1 and p["device_name"]


def test_bf16_scoring_and_stacked_replicas_have_their_rows(result):
    assert result["score"]["bf16"]["archs_per_s"] > 0
    (row,) = result["replicas"]
    assert row["replicas"] == 2 and math.isfinite(row["examples_per_s"]) and row["examples_per_s"] > 0
    assert row["vs_one_cell"] == pytest.approx(row["examples_per_s"] / result["train"]["ours"]["examples_per_s"])
    text = B.format_bench(result)
    assert "score archs/s, bf16" in text and "2 replicas stacked:" in text


def test_replicas_on_a_space_without_a_masked_forward_are_skipped_with_the_reason():
    r = B.run_bench(space="cbm-mobilenet", protocol=SPACES.get("cbm-mobilenet").smoke_protocol, device="cpu", steps=1, warmup=0, score_archs=1,
                    replicas=(2,))  # fmt: skip
    assert r["replicas"] == [] and "replicas 2" in r["skipped"] and "\n" not in r["skipped"]["replicas 2"]


def test_threads_are_restored_after_the_run(result):
    before = torch.get_num_threads()
    B.run_bench(**{**TINY, "threads": 1, "score_archs": 1, "steps": 1, "warmup": 0})
    assert torch.get_num_threads() == before


def test_format_lists_the_ratios(result):
    text = B.format_bench(result)
    assert "ours/naive" in text and "nb201 supernet C=4, N=1 (protocol nb201-smoke)" in text
    assert f"{result['ratios']['train_examples_per_s']:.2f}x" in text
    assert f"{result['ratios']['score_archs_per_s']:.2f}x" in text
    assert "2 cells at once" in text


@pytest.mark.parametrize("space", SPACES.names())
def test_every_space_benches_under_its_smoke_protocol(space):
    """The bench needs no data files: the task's synthetic data feeds the same step, for every space."""
    r = B.run_bench(space=space, protocol=SPACES.get(space).smoke_protocol, device="cpu", steps=1, warmup=0, score_archs=1)
    assert all(math.isfinite(v) and v > 0 for v in _figures(r))
    assert r["config"]["unit"] == ("tokens" if space == "ptb" else "images")


def test_fast_and_naive_steps_train_the_same_weights():
    """Without augmentation, device batches + channels_last train the weights the naive NCHW float loop trains."""
    protocol = B.bench_protocol("nb201", "nb201-smoke", {"C": 4, "N": 1}, 32).replace(task_options={"augment": False})
    plan = B.Plan("nb201", protocol, "cpu", seed=7)
    fast = B.build_setup(plan, torch.device("cpu"), 4)
    slow = B.build_setup(plan, torch.device("cpu"), 4, channels_last=False)
    batches = [b for b, _ in zip(fast.data.train, range(2))]
    for step, batch in enumerate(batches):
        arch = slow.trainer.strategy.paths(step)[0]  # the same seeded sampler draws the same paths
        train_step(fast.trainer, step, batch)
        x, y = to_cpu_nchw(batch)
        naive_train_step(slow.trainer, x, y, arch, torch.device("cpu"))
    for a, b in zip(fast.trainer.params, slow.trainer.params):
        assert float((a.detach() - b.detach()).abs().max()) < 1e-5


def test_naive_augmentation_is_a_crop_and_flip():
    data = torch.arange(2 * 3 * 32 * 32, dtype=torch.float32).view(2, 3, 32, 32)
    x = naive_augment(data, np.random.default_rng(0))
    assert x.shape == (2, 3, 32, 32)
    centre = x[:, :, 8:24, 8:24]  # always from the image, never the padding
    assert set(centre.flatten().tolist()) <= set(data.flatten().tolist())


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"steps": 0}, "steps must be an integer >= 1"),
        ({"warmup": -1}, "warmup must be an integer >= 0"),
        ({"device": "tpu"}, "unknown device 'tpu'"),
        ({"cells": (1, 0)}, "cells must be positive"),
        ({"threads": 0}, "threads must be an integer >= 1"),
        ({"space": "nb202"}, "unknown search space 'nb202'"),
        ({"protocol": "quik"}, "unknown protocol 'quik'"),
        ({"network": {"width": 3}}, "unknown key"),
        ({"batch_size": 30000}, "batch_size 30000 exceeds the 600 training images"),
        ({"autocast": "fp16"}, "--autocast must be bf16"),
    ],
)
def test_bad_arguments_are_one_line_errors(kwargs, match):
    with pytest.raises(WsbenchError, match=match) as e:
        B.run_bench(**{**TINY, **kwargs})
    assert "\n" not in str(e.value)


def test_cuda_without_gpu_says_how_to_fix(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(WsbenchError, match="--device cpu"):
        B.resolve_device("cuda")
    assert B.resolve_device("auto") == torch.device("cpu")


def test_cells_text_is_parsed():
    with pytest.raises(WsbenchError, match="comma-separated"):
        B.bench_command(device="cpu", cells="1,x")


def test_bench_autocast_is_recorded():
    r = B.run_bench(**{**TINY, "steps": 1, "score_archs": 1, "autocast": "bf16"})
    assert r["config"]["autocast"] == "bf16" and r["train"]["ours"]["examples_per_s"] > 0
