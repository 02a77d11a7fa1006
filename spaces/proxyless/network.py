"""ProxylessNAS networks: MBConv blocks, the stand-alone network of one architecture, and the supernet.

The blocks are ProxylessNAS's (Cai et al., ICLR 2019; MobileNetV2's inverted residual): 1x1
expansion conv-BN-ReLU6 (omitted at expansion 1), k x k depthwise conv-BN-ReLU6 (stride at a
stage's first layer), 1x1 projection conv-BN, and an identity shortcut on every layer but a stage's
first. Around them: a 3x3 stride-2 stem conv-BN-ReLU6, a fixed MBConv1 3x3 block, a 1x1 feature-mix
conv-BN-ReLU6, global average pooling, dropout and a linear classifier. Shapes come from
``spaces.proxyless.cost``, so the parameter counts are the closed form's.

Network keys that say how the weights are built (defaults: what wsbench has always built):
``bn_eps`` (torch's 1e-5; the seed paper's ProxylessNAS supernet uses 1e-3, matluster/anonymous-2102
``configs/proxyless.py``) and ``init`` (``torch``: torch's default init from the cell seed;
``he_fout`` / ``he_fin``: the seed paper's ``model_init`` choices, ``space/proxyless/network.py``
``reset_parameters``: every conv weight normal with std sqrt(2 / (k * k * out_channels)) or
``in_channels``, not divided by groups, BN weight 1 and bias 0, the classifier's bias 0 and its weight
left at torch's default).
"""

from __future__ import annotations

import math
from typing import Any, cast

import torch
from torch import nn

from harness.seeded_init import global_rng_forked, init_parameters
from spaces.proxyless import cost, encoding

INITS = ("torch", "he_fout", "he_fin")
#: torch's BatchNorm epsilon, what wsbench has always built.
BN_EPS = 1e-5


def conv_bn(
    c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True, eps: float = BN_EPS
) -> nn.Sequential:
    """Conv (no bias, padding k // 2) + BN (+ ReLU6)."""
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out, eps=eps),
    ]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class MBConv(nn.Sequential):
    """Inverted residual body (the shortcut is added by the caller): expand, depthwise, project."""

    def __init__(self, c_in: int, c_out: int, kernel: int, expand: int, stride: int, eps: float = BN_EPS) -> None:
        mid = c_in * expand
        layers = [conv_bn(c_in, mid, 1, eps=eps)] if expand > 1 else []
        layers += [conv_bn(mid, mid, kernel, stride, groups=mid, eps=eps), conv_bn(mid, c_out, 1, act=False, eps=eps)]
        super().__init__(*layers)


def initialise(module: nn.Module, seed: int, init: str = "torch") -> None:
    """Every weight of ``module`` drawn from ``seed``: torch's default init, or the seed paper's He init."""
    if init == "torch":
        init_parameters(module, seed)
        return
    if init not in INITS:
        raise ValueError(f"initialise: no ProxylessNAS init {init!r}")  # network_config checked the name
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.Conv2d):
                k = m.kernel_size[0] * m.kernel_size[1]
                n = k * (m.out_channels if init == "he_fout" else m.in_channels)
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / n), generator=gen)
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_parameters()
            elif isinstance(m, nn.Linear):
                # The seed leaves the classifier's weight at torch's default and zeroes its bias.
                nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=gen)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)


class _Frame(nn.Module):
    """Stem, first block, feature mix and classifier: the parts every architecture shares."""

    def __init__(self, width_pct: int, num_classes: int, dropout: float, eps: float = BN_EPS) -> None:
        super().__init__()
        w = cost.widths(width_pct)
        self.stem = conv_bn(3, w.stem, 3, stride=2, eps=eps)
        self.first = MBConv(w.stem, w.first, 3, 1, 1, eps)
        self.feature_mix = conv_bn(w.stages[-1], w.feature_mix, 1, eps=eps)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(w.feature_mix, num_classes)
        self.plans = cost.layer_plans(width_pct)

    def head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.pool(self.feature_mix(x)).flatten(1)))


class ProxylessNetwork(_Frame):
    """The stand-alone network of one architecture."""

    def __init__(
        self, arch: encoding.Arch, width_pct: int = 135, num_classes: int = 1000, dropout: float = 0.0, eps: float = BN_EPS
    ) -> None:
        super().__init__(width_pct, num_classes, dropout, eps)
        self.arch = encoding.check(tuple(arch))
        self.blocks = nn.ModuleList()
        for op, plan in zip(self.arch, self.plans):
            if op == encoding.ZERO:
                self.blocks.append(nn.Identity())
            else:
                k, e = encoding.KERNEL_EXPAND[op]
                self.blocks.append(MBConv(plan.c_in, plan.c_out, k, e, plan.stride, eps))

    def forward(self, x: torch.Tensor, arch: Any = None) -> torch.Tensor:
        x = self.first(self.stem(x))
        for op, plan, block in zip(self.arch, self.plans, self.blocks):
            if op != encoding.ZERO:
                x = block(x) + x if plan.residual else block(x)
        return self.head(x)


class ProxylessSupernet(_Frame):
    """Every MBConv option of every layer with its own weights; a path runs one per layer.

    The zero option has no weights: the layer passes its input through the shortcut, so a path's
    forward is exactly the stand-alone network's with the chosen blocks' weights.
    """

    def __init__(
        self, width_pct: int = 135, num_classes: int = 1000, dropout: float = 0.0, seed: int = 0,
        eps: float = BN_EPS, init: str = "torch",
    ) -> None:  # fmt: skip
        with global_rng_forked():  # module construction draws from the global RNG
            super().__init__(width_pct, num_classes, dropout, eps)
            self.candidates = nn.ModuleList(
                nn.ModuleList(MBConv(p.c_in, p.c_out, k, e, p.stride, eps) for k, e in encoding.KERNEL_EXPAND) for p in self.plans
            )
        initialise(self, seed, init)

    def forward(self, x: torch.Tensor, arch: Any) -> torch.Tensor:
        _check_input(x)
        ops = _ops(arch)
        x = self.first(self.stem(x))
        for op, plan, layer in zip(ops, self.plans, self.candidates):
            if op != encoding.ZERO:
                block = cast(nn.ModuleList, layer)[op]
                x = block(x) + x if plan.residual else block(x)
        return self.head(x)

    # -- the masked forward (space capability ``masked_forward``, ``harness.api.space``) -------------

    def path_mask(self, arch: Any) -> torch.Tensor:
        """A float 0/1 mask [21 layers, 7 options] of the blocks a forward of ``arch`` runs (zero runs none)."""
        mask = torch.zeros(encoding.NUM_LAYERS, len(encoding.OPS))
        mask[torch.arange(encoding.NUM_LAYERS), torch.tensor(_ops(arch))] = 1.0
        mask[:, encoding.ZERO] = 0.0  # the zero option has no block: its layer adds nothing to the shortcut
        return mask.to(self.classifier.weight.device)

    def forward_masked(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Logits with every block of every layer computed and scaled by its ``mask`` entry (``path_mask``).

        For ``mask = path_mask(arch)`` the function of ``forward(x, arch)``, value for value: the chosen
        block's output times 1 plus exact zeros, then the shortcut; a zero layer is zeros plus the
        shortcut. What runs never depends on the mask, so the step can be captured (CUDA graphs).
        """
        _check_input(x)
        x = self.first(self.stem(x))
        for row, plan, layer in zip(mask.unbind(0), self.plans, self.candidates):
            weights = row.unbind(0)
            mixed: torch.Tensor | None = None
            for k, block in enumerate(cast(nn.ModuleList, layer)):
                out = weights[k] * block(x)
                mixed = out if mixed is None else mixed + out
            assert mixed is not None  # every layer has six blocks
            x = mixed + x if plan.residual else mixed
        return self.head(x)

    def masked_members(self) -> dict[str, int]:
        """Name -> flat ``path_mask`` index of every parameter and buffer of a candidate block (names not
        listed, the stem, first block and head, are on every path)."""
        names = [n for n, _ in self.named_parameters()] + [n for n, _ in self.named_buffers()]
        out = {}
        for name in names:
            parts = name.split(".")
            if parts[0] == "candidates":  # candidates.<layer>.<option>.<...>
                out[name] = int(parts[1]) * len(encoding.OPS) + int(parts[2])
        return out


def _check_input(x: torch.Tensor) -> None:
    from harness.api.errors import WsbenchError

    if x.dim() != 4 or x.shape[1] != 3:
        raise WsbenchError(f"ProxylessNAS network expects images shaped (batch, 3, H, W), got {tuple(x.shape)}")


def _ops(arch: Any) -> tuple[int, ...]:
    """The option index of every layer of a path, its length checked."""
    from harness.api.errors import WsbenchError

    ops = tuple(int(v) for v in arch)
    if len(ops) != encoding.NUM_LAYERS:
        raise WsbenchError(f"a ProxylessNAS path has {encoding.NUM_LAYERS} layers, got {len(ops)}")
    return ops
