"""The DARTS supernet's training options beyond ``C`` and ``layers``: how a recipe differs from ours.

Each option has today's behaviour as its default, and a default never reaches the resolved network
config (which a cell hashes), so cells that do not use an option keep their hash. The seed paper's
supernet (matluster/anonymous-2102, ``space/darts/``, ``trainers/darts_cifar.py``) sets them all:

- ``sharing``: ``edge`` (ours: every one of a cell's 14 candidate edges holds its own 7 ops) or
  ``slot`` (the seed's: each node has two input slots, each holding ONE set of the 7 ops that serves
  whichever input the slot picks, its stride set at run time: 2 for inputs 0 and 1 of a reduction cell).
- ``slot_order``: ``sorted`` (the lower input in slot 0) or ``random`` (while training, each node's
  two edges take the two slots in a random order, so the slots see the seed's uniformly drawn
  *ordered* input pairs); only with ``sharing = "slot"``. Scoring always uses the sorted order.
- ``aux_weight``: 0 (no auxiliary head) or the weight of DARTS's auxiliary head at 2/3 of the cells
  (the training loss adds ``aux_weight`` x its cross-entropy).
- ``pooling``: ``global`` (average over the whole final map) or ``avgpool7`` (``AvgPool2d(7)`` as the
  seed writes it: on the 8x8 map of CIFAR it averages the top-left 7x7 window only).
- ``drop_path_epochs`` with ``drop_path_epoch_steps``: a linear drop-path ramp, ``drop_path`` x e / E in
  epoch e of E (DARTS's schedule), instead of a constant ``drop_path``. The supernet counts its own
  optimizer steps (it cannot see the loop), so the epoch length in steps is given.
- ``calib_drop_path``: drop-path also in train-mode forwards without gradients (BN recalibration),
  as the seed's ``set_running_statistics`` runs its model in train mode with drop-path on.
- ``path_chunks``: the step's paths, ``path_chunks`` at a time, each train on its own equal slice of the
  batch with batch statistics of its slice (the seed's ``--parallel_sampling`` over 4 GPUs: one path per
  GPU, gradients averaged).
- ``zero_grad_all``: every parameter holds a gradient (zeros where no path reached it) from its first
  training forward on, as the seed's ``p.grad = torch.zeros_like(p)`` before training; with the
  protocol's ``zero_grad = "zeros"`` weight decay and momentum then move every parameter at every
  step, from step 1 and again right after a resume (which parameters held a gradient is not
  checkpointed, so without it a resumed ``zeros`` run skips the ones not yet reached again).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from harness.api.errors import WsbenchError, unknown

SHARING = ("edge", "slot")
SLOT_ORDERS = ("sorted", "random")
POOLING = ("global", "avgpool7")


@dataclass(frozen=True)
class SupernetOptions:
    """The options with their defaults (today's behaviour)."""

    sharing: str = "edge"
    slot_order: str = "sorted"
    aux_weight: float = 0.0
    pooling: str = "global"
    drop_path: float = 0.0
    drop_path_epochs: int | None = None
    drop_path_epoch_steps: int | None = None
    calib_drop_path: bool = False
    path_chunks: int = 1
    zero_grad_all: bool = False

    @property
    def needs_randomness(self) -> bool:
        """Whether the supernet draws anything of its own (drop-path masks, slot orders)."""
        return self.drop_path > 0 or self.slot_order == "random"


DEFAULTS = SupernetOptions()
#: The option names a network config may hold besides ``C`` and ``layers``.
NAMES: tuple[str, ...] = tuple(f.name for f in fields(SupernetOptions))


def _choice(value: Any, choices: tuple[str, ...], where: str, key: str) -> str:
    if value not in choices:
        raise unknown(f"{where}.{key}", value, choices)
    return str(value)


def _positive_int(value: Any, where: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise WsbenchError(f"{where}.{key}: must be a positive integer for space 'darts', got {value!r}")
    return value


def _flag(value: Any, where: str, key: str) -> bool:
    if not isinstance(value, bool):
        raise WsbenchError(f"{where}.{key}: must be true or false for space 'darts', got {value!r}")
    return value


def _weight(value: Any, where: str, key: str) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
    if not ok:
        raise WsbenchError(f"{where}.{key}: must be a number >= 0 for space 'darts', got {value!r}")
    return float(value)


def checked(given: Mapping[str, Any], drop_path: float, where: str) -> dict[str, Any]:
    """The options of ``given`` checked, the rules between them applied; only non-default values returned."""
    rules: dict[str, Callable[[Any, str], Any]] = {
        "sharing": lambda v, k: _choice(v, SHARING, where, k),
        "slot_order": lambda v, k: _choice(v, SLOT_ORDERS, where, k),
        "aux_weight": lambda v, k: _weight(v, where, k),
        "pooling": lambda v, k: _choice(v, POOLING, where, k),
        "drop_path_epochs": lambda v, k: _positive_int(v, where, k),
        "drop_path_epoch_steps": lambda v, k: _positive_int(v, where, k),
        "calib_drop_path": lambda v, k: _flag(v, where, k),
        "path_chunks": lambda v, k: _positive_int(v, where, k),
        "zero_grad_all": lambda v, k: _flag(v, where, k),
    }
    values: dict[str, Any] = {key: rules[key](value, key) for key, value in given.items()}
    opts = SupernetOptions(drop_path=drop_path, **values)
    _check_relations(opts, where)
    # A default stays out of the config, so a cell that does not use an option keeps its hash.
    return {key: value for key, value in values.items() if value != getattr(DEFAULTS, key)}


def _check_relations(o: SupernetOptions, where: str) -> None:
    if o.slot_order != "sorted" and o.sharing != "slot":
        raise WsbenchError(f'{where}.slot_order: {o.slot_order!r} needs sharing = "slot" (edges have no slots)')
    if (o.drop_path_epochs is None) != (o.drop_path_epoch_steps is None):
        raise WsbenchError(
            f"{where}: drop_path_epochs and drop_path_epoch_steps go together (the ramp's length in epochs, and an "
            "epoch's optimizer steps: the supernet counts steps, it cannot see the loop)"
        )
    for key in ("drop_path_epochs", "calib_drop_path"):
        if getattr(o, key) not in (None, False) and not o.drop_path:
            raise WsbenchError(f"{where}.{key}: needs a drop_path probability above 0")
