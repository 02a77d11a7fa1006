"""Deterministic mode (``Protocol.deterministic``): kernels that give the same bits on every run.

On a GPU several kernels are fast because they are not deterministic (atomics in convolution
backward, cuDNN's benchmark-picked algorithms, cuBLAS's split workspaces), so two runs of one cell
differ in the last bits and, over thousands of steps, in their rankings. The mode asks torch for
deterministic algorithms (an error where an op has none), cuDNN for deterministic algorithms
without benchmarking, and cuBLAS for a fixed workspace (``CUBLAS_WORKSPACE_CONFIG``, read when
cuBLAS starts: set it before a process first uses the GPU, as ``scripts/device_bench.py`` does). On
a CPU these kernels are deterministic already, so the numbers do not change.

The mode holds for one cell or one bench (``deterministic_mode``) and is recorded in the cell's
provenance (``settings``).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from typing import Any, ParamSpec, TypeVar

import torch

#: cuBLAS's deterministic workspace setting (NVIDIA: ":4096:8" or ":16:8").
CUBLAS_WORKSPACE = ":4096:8"
_ENV = "CUBLAS_WORKSPACE_CONFIG"

P = ParamSpec("P")
R = TypeVar("R")


@contextlib.contextmanager
def deterministic_mode(on: bool, device: torch.device | str) -> Iterator[None]:
    """Inside: deterministic kernels when ``on`` (and their settings restored on exit); else nothing changes."""
    if not on:
        yield
        return
    cudnn = torch.backends.cudnn
    saved = (torch.are_deterministic_algorithms_enabled(), cudnn.deterministic, cudnn.benchmark, os.environ.get(_ENV))
    if torch.device(device).type == "cuda" and saved[3] is None:
        os.environ[_ENV] = CUBLAS_WORKSPACE
    torch.use_deterministic_algorithms(True)
    cudnn.deterministic, cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0])
        cudnn.deterministic, cudnn.benchmark = saved[1], saved[2]
        if saved[3] is None:
            os.environ.pop(_ENV, None)


def for_the_cell(run: Callable[P, R]) -> Callable[P, R]:
    """``run(spec, ...)`` inside ``deterministic_mode`` as ``spec.protocol.deterministic`` asks."""

    @functools.wraps(run)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        spec: Any = args[0] if args else kwargs["spec"]
        with deterministic_mode(spec.protocol.deterministic, spec.device):
            return run(*args, **kwargs)

    return wrapper


def settings() -> dict[str, Any]:
    """What this process runs with now (for provenance)."""
    return {
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "cublas_workspace_config": os.environ.get(_ENV),
    }
