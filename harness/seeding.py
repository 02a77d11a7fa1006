"""Separate, named random streams per concern, derived from one run seed.

Two strategies run with the same seed therefore see the same weight init, the same data order
and the same scoring batches; only what the strategy itself draws (architecture sampling)
differs. Nothing here touches the global NumPy or Python RNGs.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch

CONCERNS = ("init", "data", "arch", "scoring", "archset", "archdata", "validation")


def stream_seed(seed: int, concern: str) -> int:
    """A 63-bit seed for ``concern`` derived from the run seed (stable across Python versions)."""
    if concern not in CONCERNS:
        raise ValueError(f"unknown random-stream concern {concern!r}; known: {', '.join(CONCERNS)}")
    ss = np.random.SeedSequence([int(seed), zlib.crc32(concern.encode())])
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def numpy_stream(seed: int, concern: str) -> np.random.Generator:
    """A NumPy generator for one concern."""
    return np.random.default_rng(stream_seed(seed, concern))


def torch_stream(seed: int, concern: str, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch generator for one concern, on ``device``."""
    g = torch.Generator(device=device)
    g.manual_seed(stream_seed(seed, concern))
    return g
