"""ProxylessNAS's MobileNetV2-like space as the seed paper samples it: 21 searchable layers.

Six stages of 4, 4, 4, 4, 4 and 1 layers (strides 2, 2, 2, 1, 2, 1 at each stage's first layer);
every layer picks one of six MBConv blocks (kernel 3, 5 or 7 x expansion 3 or 6), and a layer
whose input and output shapes match (every layer but a stage's first) may also be ``zero``:
skipped through its identity shortcut (Cai et al., ProxylessNAS, ICLR 2019). The seed paper's
JSON form maps ``stage{S}_cell{C}`` to the option index 0-6 below. Internally an architecture is
the tuple of the 21 indices in stage/layer order; its id groups them per stage,
``"4063-3642-4614-5656-1550-3"``.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from harness.api.errors import WsbenchError

#: The options, in the seed paper's index order (index 6 is the zero op).
OPS: tuple[str, ...] = ("3x3_MBConv3", "3x3_MBConv6", "5x5_MBConv3", "5x5_MBConv6", "7x7_MBConv3", "7x7_MBConv6", "zero")
ZERO = OPS.index("zero")
#: Kernel size and expansion ratio of each MBConv option.
KERNEL_EXPAND: tuple[tuple[int, int], ...] = ((3, 3), (3, 6), (5, 3), (5, 6), (7, 3), (7, 6))
#: Per stage: layers, stride of its first layer, output channels at width multiplier 1.0.
STAGES: tuple[tuple[int, int, int], ...] = ((4, 2, 24), (4, 2, 40), (4, 2, 80), (4, 1, 96), (4, 2, 192), (1, 1, 320))
#: The fixed parts at width 1.0: stem (3x3 conv, stride 2), the first MBConv1 block's output, the feature mix.
STEM, FIRST, FEATURE_MIX = 32, 16, 1280

#: (stage, layer) of each of the 21 searchable layers, in order.
LAYERS: tuple[tuple[int, int], ...] = tuple((s, c) for s, (n, _, _) in enumerate(STAGES) for c in range(n))
KEYS: tuple[str, ...] = tuple(f"stage{s}_cell{c}" for s, c in LAYERS)
NUM_LAYERS = len(LAYERS)

Arch = tuple[int, ...]


def options_at(layer: int) -> int:
    """How many options layer ``layer`` has: 6 MBConvs, plus zero where a shortcut exists."""
    return len(KERNEL_EXPAND) if LAYERS[layer][1] == 0 else len(OPS)


def space_size() -> int:
    """Number of architectures: 6 options at each stage's first layer, 7 elsewhere (6^6 x 7^15)."""
    return math.prod(options_at(i) for i in range(NUM_LAYERS))


def check(values: tuple[int, ...]) -> Arch:
    """``values`` if they are 21 valid option indices; else a one-line error saying which layer is wrong."""
    if len(values) != NUM_LAYERS:
        raise WsbenchError(f"a ProxylessNAS architecture has {NUM_LAYERS} layers, got {len(values)}")
    for i, v in enumerate(values):
        if not 0 <= v < options_at(i):
            why = " (zero needs an identity shortcut: never a stage's first layer)" if v == ZERO else ""
            raise WsbenchError(f"{KEYS[i]}: option {v} is not in 0..{options_at(i) - 1}{why}")
    return values


def from_json(obj: Any) -> Arch:
    """The seed paper's JSON form (``{"stage0_cell0": 4, ...}``, a dict or its text)."""
    if isinstance(obj, str):
        try:
            obj = json.loads(obj)
        except json.JSONDecodeError as e:
            raise WsbenchError(f"not a ProxylessNAS architecture: {obj[:60]!r} is not JSON ({e.msg})") from None
    if not isinstance(obj, dict):
        raise WsbenchError(
            f"not a ProxylessNAS architecture: expected a stageS_cellC -> option mapping, got {type(obj).__name__}"
        )
    if set(obj) != set(KEYS):
        missing, extra = sorted(set(KEYS) - set(obj)), sorted(set(obj) - set(KEYS))
        raise WsbenchError(f"not a ProxylessNAS architecture: missing keys {missing[:3]}, unknown keys {extra[:3]}")
    if not all(isinstance(obj[k], int) and not isinstance(obj[k], bool) for k in KEYS):
        raise WsbenchError("not a ProxylessNAS architecture: every stageS_cellC value must be an integer option index")
    return check(tuple(obj[k] for k in KEYS))


def to_json(arch: Arch) -> str:
    """The seed paper's JSON text (keys in layer order)."""
    return json.dumps({k: int(v) for k, v in zip(KEYS, arch)})


def arch_id(arch: Arch) -> str:
    """The option digits grouped per stage: ``"4063-3642-4614-5656-1550-3"``."""
    groups, i = [], 0
    for n, _, _ in STAGES:
        groups.append("".join(str(v) for v in arch[i : i + n]))
        i += n
    return "-".join(groups)


_ID = re.compile(r"[0-6]{4}(-[0-6]{4}){4}-[0-6]")


def from_id(text: str) -> Arch:
    """The option indices of an id (``arch_id``'s form)."""
    if not _ID.fullmatch(text):
        raise WsbenchError(
            f"not a ProxylessNAS architecture id: {text[:60]!r}; expected five groups of 4 digits and one of 1, "
            "digits 0-6 joined by '-', e.g. '4063-3642-4614-5656-1550-3'"
        )
    return check(tuple(int(c) for c in text.replace("-", "")))


def as_arch(arch: Any) -> Arch:
    """A checked index tuple from an id, the JSON form (dict or text) or 21 indices."""
    if isinstance(arch, dict):
        return from_json(arch)
    if isinstance(arch, str):
        text = arch.strip()
        return from_json(text) if text.startswith("{") else from_id(text)
    try:
        values = tuple(int(v) for v in arch)
    except (TypeError, ValueError):
        raise WsbenchError(f"not a ProxylessNAS architecture: {str(arch)[:60]!r}") from None
    return check(values)
