"""pytest-benchmark suite of the hot paths at CPU-sized shapes (``make bench``).

Under ``make test`` these run once each (benchmarking disabled) so they stay correct; ``make bench``
times them so regressions show. GPU-scale figures come from ``wsbench bench`` on a GPU machine.
"""

import numpy as np
import pytest
import torch

from harness import metrics as M
from harness.data import TensorBatches
from harness.engine.evaluator import score_architectures
from spaces.nb201.supernet import NB201Supernet

ARCH = (3, 2, 4, 1, 3, 2)


@pytest.fixture(scope="module")
def images():
    g = np.random.default_rng(0)
    return g.integers(0, 256, (2048, 32, 32, 3), dtype=np.uint8), g.integers(0, 10, 2048)


@pytest.mark.parametrize("channels_last", [False, True])
def test_supernet_train_step_c8_n1_batch128(benchmark, images, channels_last):
    model = NB201Supernet(C=8, N=1, seed=0)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    batches = TensorBatches(
        *images,
        device="cpu",
        batch_size=128,
        augment=True,
        shuffle=True,
        generator=torch.Generator().manual_seed(0),
        channels_last=channels_last,
    )
    x, y = next(iter(batches))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x, ARCH), y)
        loss.backward()
        opt.step()
        return float(loss.detach())

    assert np.isfinite(benchmark(step))


def test_augmented_batch_256(benchmark, images):
    batches = TensorBatches(
        *images, device="cpu", batch_size=256, augment=True, shuffle=True, generator=torch.Generator().manual_seed(0)
    )
    x, _ = benchmark(lambda: next(iter(batches)))
    assert x.shape == (256, 3, 32, 32)


def test_score_one_architecture_with_bn_recalibration(benchmark, images):
    model = NB201Supernet(C=8, N=1, seed=0).to(memory_format=torch.channels_last)
    tb = TensorBatches(*images, device="cpu", batch_size=256, channels_last=True)
    calib = tb.fixed_batches(2, torch.Generator().manual_seed(1))
    evalb = list(tb)[:2]
    df = benchmark(lambda: score_architectures(model, [ARCH], ["a"], evalb, "recalibrate", calib))
    assert 0 <= df["accuracy"].iloc[0] <= 100


def test_compute_all_metrics_15625(benchmark):
    g = np.random.default_rng(0)
    true = g.normal(size=15625)
    est = true + g.normal(size=15625)
    out = benchmark(lambda: M.compute_all(est, true))
    assert 0.3 < out["kendall_tau"] < 0.7
