"""Seeded weight initialisation that never touches the global torch RNG.

Building a torch module runs its own ``reset_parameters`` on the global RNG. Every space builds its
networks inside ``global_rng_forked()`` (so the caller's stream is where it was) and then re-draws
every weight with ``init_parameters(module, seed)`` from a private generator: the same seed gives
the same weights whatever ran before, and two networks built from one seed are identical.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import torch
from torch import nn

M = TypeVar("M", bound=nn.Module)


def init_parameters(module: nn.Module, seed: int) -> None:
    """Torch's default init for conv/linear/BN, drawn from a generator seeded by ``seed``."""
    gen = torch.Generator().manual_seed(int(seed))
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            # Same distribution as nn.Conv2d/nn.Linear.reset_parameters, but on our own stream.
            nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=gen)
            if m.bias is not None:
                fan_in = m.weight[0].numel()
                bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                with torch.no_grad():
                    m.bias.uniform_(-bound, bound, generator=gen)
        elif isinstance(m, nn.BatchNorm2d):
            m.reset_parameters()


@contextmanager
def global_rng_forked() -> Iterator[None]:
    """Module construction inside leaves the global (CPU) torch RNG where it was."""
    with torch.random.fork_rng(devices=[]):
        yield


def build_seeded(build: Callable[[], M], seed: int) -> M:
    """``build()`` run with the global RNG forked, then every weight re-drawn from ``seed``."""
    with global_rng_forked():
        module = build()
    init_parameters(module, seed)
    return module
