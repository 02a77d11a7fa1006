"""``wsbench bench``: every figure is measured, the fast path computes the naive path's math."""

import math

import numpy as np
import pytest
import torch

from harness.api.errors import WsbenchError
from harness.run import bench as B

TINY = dict(device="cpu", C=4, N=1, batch_size=32, steps=3, warmup=1, score_archs=3, calib_images=64, eval_images=128, threads=1)


def _figures(result):
    yield result["train"]["ours"]["images_per_s"]
    yield result["train"]["naive"]["images_per_s"]
    yield result["train"]["ours"]["ms_per_step"]
    yield result["train"]["naive"]["ms_per_step"]
    yield result["score"]["ours"]["archs_per_s"]
    yield result["score"]["naive"]["archs_per_s"]
    yield from result["ratios"].values()
    for row in result["aggregate"]:
        yield row["images_per_s"]
        yield row["vs_one_cell"]


@pytest.fixture(scope="module")
def result():
    return B.run_bench(**TINY, cells=(1, 2))


def test_every_figure_is_positive_and_finite(result):
    values = list(_figures(result))
    assert len(values) == 6 + 4 + 2
    assert all(math.isfinite(v) and v > 0 for v in values)
    assert [row["cells"] for row in result["aggregate"]] == [2]
    ratio = result["train"]["ours"]["images_per_s"] / result["train"]["naive"]["images_per_s"]
    assert result["ratios"]["train_images_per_s"] == pytest.approx(ratio)


def test_provenance_records_the_setup(result):
    c, p = result["config"], result["provenance"]
    assert (c["C"], c["N"], c["batch_size"], c["device"]) == (4, 1, 32, "cpu")
    assert p["torch"] == torch.__version__ and p["torch_threads"] == 1 and p["device_name"]


def test_threads_are_restored_after_the_run(result):
    before = torch.get_num_threads()
    B.run_bench(**{**TINY, "threads": 1, "score_archs": 1, "steps": 1, "warmup": 0})
    assert torch.get_num_threads() == before


def test_format_lists_the_ratios(result):
    text = B.format_bench(result)
    assert "ours/naive" in text
    assert f"{result['ratios']['train_images_per_s']:.2f}x" in text
    assert f"{result['ratios']['score_archs_per_s']:.2f}x" in text
    assert "2 cells at once" in text


def test_fast_and_naive_steps_compute_the_same_loss():
    """Without augmentation, device uint8 + channels_last gives the naive float NCHW loss, twice."""
    from harness.data import TensorBatches

    images, labels = B.random_images(64, seed=3)
    arch = (3, 2, 4, 1, 3, 2)
    cpu = torch.device("cpu")
    fast = B.build_training(4, 1, 7, cpu, True, 10)
    slow = B.build_training(4, 1, 7, cpu, False, 10)
    batches = list(TensorBatches(images, labels, device=cpu, batch_size=32, channels_last=True))
    data, y_all = B.naive_dataset(images, labels)
    for step, (x, y) in enumerate(batches):
        loss_fast = float(B.ours_train_step(*fast, x, y, [arch]))
        xs, ys = B.naive_batch(data, y_all, np.arange(32 * step, 32 * (step + 1)), rng=None)
        loss_slow = B.naive_train_step(slow[0], slow[1], slow[2], xs, ys, arch, cpu)
        assert abs(loss_fast - loss_slow) < 1e-5, step
    # the second step's loss depends on the first update: the optimizer paths agree too
    assert float(fast[0].classifier.weight.detach().sub(slow[0].classifier.weight.detach()).abs().max()) < 1e-5


def test_naive_augmentation_is_a_crop_and_flip():
    data = torch.arange(2 * 3 * 32 * 32, dtype=torch.float32).view(2, 3, 32, 32)
    x, _ = B.naive_batch(data, torch.zeros(2, dtype=torch.int64), np.array([1, 0]), np.random.default_rng(0))
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


def test_bench_autocast_is_recorded_and_validated():
    from harness.run.bench import run_bench

    r = run_bench(
        device="cpu", C=4, N=1, batch_size=16, steps=1, warmup=1, score_archs=1, calib_images=32, eval_images=32, autocast="bf16"
    )
    assert r["config"]["autocast"] == "bf16" and r["train"]["ours"]["images_per_s"] > 0
    with pytest.raises(WsbenchError, match="--autocast must be bf16"):
        run_bench(
            device="cpu",
            C=4,
            N=1,
            batch_size=16,
            steps=1,
            warmup=1,
            score_archs=1,
            calib_images=32,
            eval_images=32,
            autocast="fp16",
        )
