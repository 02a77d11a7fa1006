"""FLOPs and parameter counts of the NAS-Bench-201 stand-alone network, by formula (no torch).

Network (input 3x32x32): stem Conv3x3(3->C, no bias)+BN; stage 1 = N cells at C channels, 32x32;
reduction ResNet block (C->2C, stride 2); stage 2 = N cells at 2C, 16x16; reduction block (2C->4C);
stage 3 = N cells at 4C, 8x8; BN+ReLU, global average pool, Linear(4C, num_classes) with bias.
A reduction block is ReLU-Conv3x3(s2)-BN, ReLU-Conv3x3-BN, shortcut AvgPool2d(2)+Conv1x1 (no bias).
In a cell, ``nor_conv_kxk`` is ReLU-Conv(kxk, no bias)-BN(affine); ``skip_connect``,
``avg_pool_3x3`` and ``none`` have no parameters. Every edge is built, whether or not it reaches
the cell output, as the benchmark does.

Conventions (the benchmark's own, which reproduce its published CIFAR-10 ranges):
- parameters: every parameter, BN affine weights and biases included, in millions (1e6);
- FLOPs: multiply-accumulates of Conv2d and Linear layers only, per image, in millions; a layer's
  bias adds one per output element (only the classifier has one). BN, ReLU, pooling (cell
  ``avg_pool_3x3``, the reduction shortcut's AvgPool, the global pool) and the cell sums count 0.
  Counting the reduction shortcut's AvgPool (4 per output element) would give 7.81M for the
  smallest cell instead of the published 7.78M.
Resulting range over all 15,625 cells (C=16, N=5, 10 classes): params 0.073306M..1.531546M, FLOPs
7.783050M..220.119690M; the paper prints these truncated as 0.073..1.531 MB and 7.78..220.11 M.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.api.errors import WsbenchError, positive_int
from spaces.nb201.encoding import OP_INDEX, OPS, Arch, as_arch, to_arch_str

INPUT_CHANNELS = 3
INPUT_RESOLUTION = 32
NUM_STAGES = 3
_CONV_KERNEL = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}


class CostConfigError(WsbenchError):
    """A network configuration (C, N, num_classes) that is not a positive integer."""


@dataclass(frozen=True)
class Cost:
    """FLOPs (multiply-accumulates, millions) and parameters (millions) of one network."""

    flops_m: float
    params_m: float


def _positive_int(name: str, value: object) -> int:
    """Validate a positive integer setting, with a one-line error."""
    return positive_int(value, f"NB201 cost setting {name}", CostConfigError)


def _conv_out(size: int, kernel: int, stride: int, pad: int) -> int:
    """Spatial output size of a convolution."""
    return (size + 2 * pad - kernel) // stride + 1


@functools.lru_cache(maxsize=64)
def _coefficients(C: int, N: int, num_classes: int) -> tuple[tuple[int, int], dict[int, tuple[int, int]]]:
    """Exact integer (flops, params) of the cell-independent part, and per edge for each op index."""
    flops = params = 0
    res = INPUT_RESOLUTION
    # Stem: Conv3x3 (no bias) + BN.
    flops += 9 * INPUT_CHANNELS * C * res * res
    params += 9 * INPUT_CHANNELS * C + 2 * C

    per_edge = {i: (0, 0) for i in range(len(OPS))}
    channels = C
    for stage in range(NUM_STAGES):
        if stage > 0:
            c_in, c_out = channels, channels * 2
            res = _conv_out(res, 3, 2, 1)
            # Basic block: two ReLU-Conv3x3-BN (first strided) and an AvgPool+Conv1x1 shortcut.
            flops += (9 * c_in * c_out + 9 * c_out * c_out + c_in * c_out) * res * res
            params += 9 * c_in * c_out + 2 * c_out + 9 * c_out * c_out + 2 * c_out + c_in * c_out
            channels = c_out
        for op, k in _CONV_KERNEL.items():
            f, p = per_edge[OP_INDEX[op]]
            # N cells in this stage, each holding one such conv (+BN) on this edge.
            per_edge[OP_INDEX[op]] = (
                f + N * k * k * channels * channels * res * res,
                p + N * (k * k * channels * channels + 2 * channels),
            )
    # Final BN + ReLU, global pool, Linear with bias.
    params += 2 * channels + channels * num_classes + num_classes
    flops += channels * num_classes + num_classes
    return (flops, params), per_edge


def _validated(C: object, N: object, num_classes: object) -> tuple[int, int, int]:
    return _positive_int("C", C), _positive_int("N", N), _positive_int("num_classes", num_classes)


def arch_cost(arch: str | Arch, C: int = 16, N: int = 5, num_classes: int = 10) -> Cost:
    """FLOPs (M) and params (M) of the stand-alone network built from one cell."""
    ops = as_arch(arch)
    (flops, params), per_edge = _coefficients(*_validated(C, N, num_classes))
    for op in ops:
        flops += per_edge[op][0]
        params += per_edge[op][1]
    return Cost(flops_m=flops / 1e6, params_m=params / 1e6)


@functools.lru_cache(maxsize=8)
def _cost_table(C: int, N: int, num_classes: int) -> pd.DataFrame:
    # Imported here so that arch_cost works even without the order resource.
    from spaces.nb201.official_order import arch_at_official_index, official_to_lex

    (flops0, params0), per_edge = _coefficients(C, N, num_classes)
    archs = [arch_at_official_index(i) for i in range(len(official_to_lex()))]
    ops = np.asarray(archs, dtype=np.int64)  # (15625, 6)
    edge_flops = np.array([per_edge[i][0] for i in range(len(OPS))], dtype=np.int64)
    edge_params = np.array([per_edge[i][1] for i in range(len(OPS))], dtype=np.int64)
    flops = flops0 + edge_flops[ops].sum(axis=1)
    params = params0 + edge_params[ops].sum(axis=1)
    index = pd.Index([to_arch_str(a) for a in archs], name="arch")
    return pd.DataFrame({"flops_m": flops / 1e6, "params_m": params / 1e6}, index=index)


def cost_table(C: int = 16, N: int = 5, num_classes: int = 10) -> pd.DataFrame:
    """Costs of all 15,625 cells, indexed by official arch string, rows in official index order."""
    return _cost_table(*_validated(C, N, num_classes)).copy()
