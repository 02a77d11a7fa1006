"""Shared test settings and fixtures."""

import os

import pytest
import torch

REAL_DATA = bool(os.environ.get("WSBENCH_DATA"))


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    # Tiny networks on 2 shared cores: one thread is faster and, above all, steadier.
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def needs_data():
    """Skip marker for tests that read the real data folder."""
    return pytest.mark.skipif(not REAL_DATA, reason="WSBENCH_DATA is not set (CI points it at ../shared/data)")
