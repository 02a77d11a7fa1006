"""The DARTS recurrent cell (Liu et al., ICLR 2019): 8 steps, each an activation and the earlier state it reads.

State ``s0`` comes from the input token's embedding and the previous hidden state; step ``i``
(0-based) reads one of ``s0 .. s_i`` and produces ``s_{i+1}``; the cell's output is the mean of
``s1 .. s8``. Forms read:

- the seed paper's JSON object (``act/<i>``: 0 tanh, 1 relu, 2 sigmoid, 3 identity;
  ``switch/<i>``: the state step ``i`` reads, 0 = ``s0``), as a dict or its JSON text;
- the DARTS RNN genotype text ``Genotype(recurrent=[('sigmoid', 0), ...], concat=range(1, 9))``
  (also a bare list of ``(activation, input)`` pairs);
- the canonical id ``arch_id`` writes: ``sigmoid~0|relu~1|...`` (step order).

The space has 4^8 x 8! = 2,642,411,520 cells: step ``i`` has ``i + 1`` possible inputs.
"""

from __future__ import annotations

import ast
import json
import math
import re
from typing import Any

from harness.api.errors import WsbenchError

#: The seed paper's activation codes, in order (``act/<i>`` values).
ACTIVATIONS: tuple[str, ...] = ("tanh", "relu", "sigmoid", "identity")
#: DARTS's RNN search primitives: ``none`` (the zero op) first, then the activations.
ACTIVATIONS_WITH_NONE: tuple[str, ...] = ("none", *ACTIVATIONS)
STEPS = 8

Arch = tuple[tuple[str, int], ...]  # per step (activation, input state)
Grid = tuple[int, ...]  # per step: activation index, input index


def space_size(steps: int = STEPS) -> int:
    """Distinct cells: 4 activations per step, ``i + 1`` inputs for step ``i``."""
    return len(ACTIVATIONS) ** steps * math.factorial(steps)


def canonical(pairs: Any) -> Arch:
    """Validated ``((activation, input), ...)`` of 8 steps."""
    pairs = list(pairs)
    if len(pairs) != STEPS:
        raise ValueError(f"a recurrent cell has {STEPS} steps, got {len(pairs)}")
    out = []
    for i, pair in enumerate(pairs):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(f"step {i} must be an (activation, input) pair, got {pair!r}")
        act, src = pair
        if act not in ACTIVATIONS:
            raise ValueError(f"step {i}: unknown activation {act!r}; known: {', '.join(ACTIVATIONS)}")
        if isinstance(src, bool) or not isinstance(src, int) or not 0 <= src <= i:
            raise ValueError(f"step {i} reads state {src!r}; it can read states 0..{i}")
        out.append((str(act), int(src)))
    return tuple(out)


def to_grid(arch: Arch) -> Grid:
    """Per step: the activation's index, then the input's."""
    return tuple(v for act, src in arch for v in (ACTIVATIONS.index(act), src))


def from_grid(grid: Any) -> Arch:
    """The cell of a grid tuple (a one-line error for an index out of range)."""
    g = [int(v) for v in grid]
    if len(g) != 2 * STEPS:
        raise WsbenchError(f"a recurrent-cell grid has {2 * STEPS} entries (activation, input per step), got {len(g)}")
    for i in range(STEPS):
        if not 0 <= g[2 * i] < len(ACTIVATIONS):
            raise WsbenchError(f"step {i}: activation index {g[2 * i]} is not in 0..{len(ACTIVATIONS) - 1}")
        if not 0 <= g[2 * i + 1] <= i:
            raise WsbenchError(f"step {i}: input index {g[2 * i + 1]} is not in 0..{i}")
    return tuple((ACTIVATIONS[g[2 * i]], g[2 * i + 1]) for i in range(STEPS))


def from_json(obj: dict[str, Any]) -> Arch:
    """The seed paper's ``{"act/0": 2, ..., "switch/7": 3}`` object."""
    expected = {f"{k}/{i}" for k in ("act", "switch") for i in range(STEPS)}
    if set(obj) != expected:
        missing, extra = sorted(expected - set(obj)), sorted(set(obj) - expected)
        raise ValueError(f"seed-paper PTB keys are act/0..7 and switch/0..7 (missing {missing[:3]}, unexpected {extra[:3]})")
    pairs = []
    for i in range(STEPS):
        code = obj[f"act/{i}"]
        if isinstance(code, bool) or not isinstance(code, int) or not 0 <= code < len(ACTIVATIONS):
            raise ValueError(f"act/{i} must be an activation code 0..3, got {code!r}")
        pairs.append((ACTIVATIONS[code], obj[f"switch/{i}"]))
    return canonical(pairs)


def to_json(arch: Arch) -> dict[str, int]:
    """The seed paper's JSON object of a cell."""
    out = {f"act/{i}": ACTIVATIONS.index(act) for i, (act, _) in enumerate(arch)}
    out.update({f"switch/{i}": src for i, (_, src) in enumerate(arch)})
    return out


def arch_id(arch: Arch) -> str:
    """``act~input|...`` in step order."""
    return "|".join(f"{act}~{src}" for act, src in arch)


def to_genotype(arch: Arch) -> str:
    """The ``Genotype(recurrent=..., concat=range(1, 9))`` text DARTS's RNN code prints."""
    return f"Genotype(recurrent={list(arch)!r}, concat=range(1, {STEPS + 1}))"


_GENOTYPE = re.compile(r"^\s*Genotype\s*\(\s*recurrent\s*=\s*(\[.*\])\s*,\s*concat\s*=\s*(.+?)\s*\)\s*$", re.S)
_ID = re.compile(r"^[a-z]+~\d+(\|[a-z]+~\d+)*$")


def parse(arch: Any) -> Arch:
    """Any accepted form -> the canonical cell (``ValueError``/``TypeError`` on bad input)."""
    if isinstance(arch, dict):
        return from_json(arch)
    if isinstance(arch, (tuple, list)):
        return canonical(tuple(p) if isinstance(p, list) else p for p in arch)
    if not isinstance(arch, str):
        raise TypeError(f"not a recurrent cell: {type(arch).__name__}")
    text = arch.strip()
    if text.startswith("{"):
        return from_json(json.loads(text))
    match = _GENOTYPE.match(text)
    if match:
        concat = match.group(2).replace(" ", "")
        if concat not in (f"range(1,{STEPS + 1})", str(list(range(1, STEPS + 1))).replace(" ", "")):
            raise ValueError(f"concat must be range(1, {STEPS + 1}) (the mean of s1..s8), got {match.group(2)!r}")
        return canonical(ast.literal_eval(match.group(1)))
    if text.startswith("["):
        return canonical(ast.literal_eval(text))
    if _ID.match(text):
        return canonical((act, int(src)) for act, src in (part.split("~") for part in text.split("|")))
    raise ValueError("expected the seed paper's JSON, a Genotype(recurrent=...) text or an act~input|... id")
