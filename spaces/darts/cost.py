"""Parameters and FLOPs of the DARTS evaluation network, counted in closed form (no network built).

The counts follow ``spaces.darts.network`` module by module; the tests check them against that
network's own counters and against the seed paper's ``params`` and ``flops`` columns (all 478
rows). Building the 20-cell C=36 network to count it takes ~0.4 s per architecture; this takes
microseconds, which is what the params / FLOPs baselines over hundreds of architectures need.

FLOPs use the seed paper's convention (see ``network.seed_paper_flops``): multiply-accumulates of
convolutions and the classifier, the depthwise convolution of a dilated conv not counted and only
one of a separable conv's two depthwise convolutions counted; BN, pooling and additions not.
"""

from __future__ import annotations

from harness.api.space import NetworkCost
from spaces.darts.encoding import Arch, edges_of


def op_cost(op: str, c: int, stride: int, res_in: int) -> tuple[int, int]:
    """(params, seed-paper FLOPs) of one op on ``c`` channels reading a ``res_in``² map."""
    area = (res_in // stride) ** 2
    bn = 2 * c
    if op in ("none", "max_pool_3x3", "avg_pool_3x3") or (op == "skip_connect" and stride == 1):
        return 0, 0
    if op == "skip_connect":  # FactorizedReduce(c, c): two 1x1 convs to c/2 channels each
        return c * c + bn, c * c * area
    k = int(op[-1])
    if op.startswith("sep_conv_"):  # two ReLU-depthwise-pointwise-BN blocks; one depthwise counted
        return 2 * (c * k * k + c * c + bn), (2 * c * c + c * k * k) * area
    if op.startswith("dil_conv_"):  # one block; its depthwise not counted
        return c * k * k + c * c + bn, c * c * area
    raise ValueError(f"unknown DARTS op {op!r}")


def arch_cost(arch: Arch, C: int = 36, layers: int = 20, num_classes: int = 10, resolution: int = 32) -> NetworkCost:
    """Cost of the evaluation network of ``arch`` (``layers`` cells, ``C`` initial channels)."""
    normal, reduce = arch
    params = 27 * 3 * C + 2 * 3 * C  # stem: 3x3 conv 3 -> 3C, BN
    flops = 27 * 3 * C * resolution**2
    c_pp, c_p, c = 3 * C, 3 * C, C
    res = resolution  # of the cell's inputs (s0 is brought to it by FactorizedReduce after a reduction)
    for i in range(layers):
        reduction = i in (layers // 3, 2 * layers // 3)
        c = 2 * c if reduction else c
        out_res = res // 2 if reduction else res
        params += (c_pp * c + 2 * c) + (c_p * c + 2 * c)  # pre0 (ReLUConvBN or FactorizedReduce), pre1
        flops += (c_pp + c_p) * c * res * res
        for _node, src, op in edges_of(reduce if reduction else normal):
            strided = reduction and src < 2
            p, f = op_cost(op, c, 2 if strided else 1, res if src < 2 else out_res)
            params, flops = params + p, flops + f
        c_pp, c_p, res = c_p, 4 * c, out_res
    params += c_p * num_classes + num_classes
    flops += c_p * num_classes
    return NetworkCost(params, flops)
