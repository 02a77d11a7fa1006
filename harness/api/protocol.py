"""The Protocol contract: how a cell trains and scores its supernet (everything but strategy and seed).

A protocol holds **engine fields** only: network size, optimizer, schedule, snapshots, scoring and
the architecture set. What data a cell reads (split, parts, subset, augmentation, token budgets,
image folders) belongs to its task: ``task_options``, declared and checked by the task
(``Task.options``). Each field is declared once below, with its ``Option`` (type, bounds, choices,
the version that added it); that declaration drives validation, hash compatibility, the coercion
of protocol files and matrix overrides, and the command line.

Protocols are data: each space folder lists its own in ``protocols.toml`` (``protocol_files.py``
reads them), found by ``harness.catalog``.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.api.errors import UnknownNameError, WsbenchError
from harness.api.options import Option

#: How an architecture's batch-norm statistics are set before it is scored.
BN_MODES = ("recalibrate", "batch", "running")
#: The fixed architecture sets a protocol may score (``harness.engine.archsets``).
ARCHSET_KINDS = ("all", "unique", "sample", "ground-truth", "ground-truth-sample")
#: Weight optimizers: SGD with momentum / Nesterov, and averaged SGD (plain steps, scored with the average).
#: ``nt-asgd``: SGD until the validation score has not improved for ``asgd_patience`` validations, then
#: averaged SGD (AWD-LSTM's non-monotone trigger; the seed paper's PTB trainer).
OPTIMIZERS = ("sgd", "asgd", "nt-asgd")
#: What ``zero_grad`` leaves on the parameters of ops off the sampled path: ``none`` (their gradients
#: are unset: no weight decay, no momentum step) or ``zeros`` (zeroed, as ``zero_grad()`` did in torch
#: 1.x: weight decay and momentum still move every parameter that ever had a gradient).
ZERO_GRAD = ("none", "zeros")
#: How a training step runs a path: ``ordinary`` (only the path's ops) or ``static`` (every candidate
#: op, scaled by the path's 0/1 mask: shapes and kernel launches that do not depend on the path, so
#: the step can be captured as a CUDA graph; ``harness.engine.static_step``).
STEPS = ("ordinary", "static")
#: The precision architectures are scored in, when it is not the training's (``autocast``): bfloat16
#: autocast, or float32 (``harness.engine.evaluator.scoring_autocast``).
SCORE_PRECISIONS = (None, "bf16", "fp32")
#: A protocol name becomes a folder name: letters, digits and _ . + = , - (no path separators).
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+=,-]{0,119}")


def setting(default: Any = dataclasses.MISSING, factory: Any = None, **rule: Any) -> Any:
    """A protocol field with its rule (``Option`` keywords: min, above, below, choices, since, help)."""
    meta = {"option": Option(**rule)}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Protocol:
    """Training + scoring configuration of one matrix cell (minus strategy and seed)."""

    name: str = setting(help="the protocol's name (it names the run folder)")
    description: str = setting(help="one line: what the protocol is for")
    # -- the network and the task ------------------------------------------------------------------
    network: Mapping[str, Any] = setting(factory=dict, help="network config, checked by the space; empty: benchmark scale")
    task: str | None = setting(None, since="0.1.0+task", help="the task (None: the space's default task)")
    task_options: Mapping[str, Any] = setting(factory=dict, since="0.1.0+task", help="the task's options (its data)")
    channels_last: bool = setting(True, help="NHWC activations (about 2x faster on CPU for these networks)")
    autocast: str | None = setting(None, choices=(None, "bf16"), since="0.1.0+autocast", help="bf16: autocast forwards")
    # -- optimisation (per-step cosine from lr to lr_min) ---------------------------------------------
    optimizer: str = setting("sgd", choices=OPTIMIZERS, since="0.1.0+asgd", help="sgd | asgd (averaged SGD)")
    asgd_start_epoch: int = setting(0, min=0, since="0.1.0+asgd", help="asgd: the epoch after which weights are averaged")
    epochs: int = setting(250, min=1, help="training epochs (SPOS-equivalent with equal_compute)")
    batch_size: int = setting(64, min=1, help="training batch size")
    lr: float = setting(0.025, above=0.0, help="peak learning rate")
    lr_min: float = setting(0.001, min=0.0, help="learning rate at the end of each cosine")
    momentum: float = setting(0.9, min=0.0, below=1.0, help="SGD momentum")
    nesterov: bool = setting(True, help="Nesterov momentum")
    weight_decay: float = setting(5e-4, min=0.0, help="L2 weight decay")
    grad_clip: float | None = setting(5.0, above=0.0, help="gradient-norm clipping (unset: none)")
    zero_grad: str = setting("none", choices=ZERO_GRAD, since="0.2.0", help="off-path gradients: none (unset) or zeros")
    step: str = setting(
        "ordinary", choices=STEPS, since="0.2.0+static", help="ordinary (the path's ops) or static (every op, masked)"
    )
    deterministic: bool = setting(False, since="0.2.0+deterministic", help="deterministic kernels (torch, cuDNN, cuBLAS)")
    warmup_epochs: int = setting(0, min=0, since="0.1.0+warmup", help="linear warm-up epochs, then the cosine")
    lr_restarts: int = setting(0, min=0, since="0.1.0+restarts", help="cosine restarts: equal cycles after the warm-up")
    equal_compute: bool = setting(False, help="epochs count SPOS-equivalent path passes")
    # -- validation during training (the seed paper's PTB trainer: its ASGD trigger and best weights) ----
    validate_every: int = setting(0, min=0, since="0.2.0", help="epochs between validation passes (0: none)")
    validate_archs: int = setting(10, min=1, since="0.2.0", help="fixed architectures a validation pass averages over")
    asgd_patience: int = setting(5, min=1, since="0.2.0", help="nt-asgd: validations without improvement before ASGD")
    restore_best: bool = setting(False, since="0.2.0", help="score and keep the weights of the best validation")
    # -- scoring --------------------------------------------------------------------------------------
    snapshot_epochs: tuple[int, ...] = setting((250,), min=1, help="epochs (1-based) after which the archset is scored")
    bn_mode: str = setting("recalibrate", choices=BN_MODES, help="BN statistics when scoring")
    score_autocast: str | None = setting(
        None, choices=SCORE_PRECISIONS, since="0.2.0+score_autocast", help="scoring precision: bf16 | fp32 (unset: as autocast)"
    )
    calib_batches: int = setting(25, min=0, help="batches of BN recalibration per architecture")
    calib_batch_size: int = setting(400, min=1, help="images per recalibration batch")
    eval_images: int | None = setting(None, min=1, help="held-out images scored (unset: the whole part)")
    eval_batch_size: int = setting(1000, min=1, help="scoring batch size")
    # -- the fixed architecture set shared by every cell of a space -----------------------------------
    archset: str = setting("unique", choices=ARCHSET_KINDS, help="which architectures are scored")
    archset_n: int | None = setting(None, min=1, help="sample size of the sampled archsets")
    archset_seed: int = setting(0, min=0, help="seed of the archset sample (not the run seed)")
    archset_source: str | None = setting(None, help="ground-truth archsets: which source's cells (unset: the default)")
    notes: str = setting("", help="where the values come from, and what is ours")
    references: tuple[str, ...] = setting(factory=tuple, help="papers the protocol follows")

    def __post_init__(self) -> None:
        for key in MAPPINGS:
            object.__setattr__(self, key, dict(getattr(self, key)))
        check_protocol(self)

    def replace(self, **changes: Any) -> Protocol:
        """A copy with some fields changed (validated again; ``network`` and ``task_options`` are replaced whole)."""
        unknown_keys = sorted(set(changes) - set(FIELDS))
        if unknown_keys:
            raise WsbenchError(unknown_field(unknown_keys[0], f"protocol {self.name!r}"))
        return dataclasses.replace(self, **changes)

    def to_dict(self, space: Any = None, task: Any = None) -> dict[str, Any]:
        """Plain dict for provenance and hashing (``hash_dict``); with ``space`` its network is resolved,
        with ``task`` the former data fields it leaves unset take the task's defaults."""
        network = self.network_for(space) if space is not None else dict(self.network)
        defaults = {k: o.default for k, o in getattr(task, "option_specs", {}).items()}
        return hash_dict(self, network, defaults)

    def network_for(self, space: Any) -> dict[str, Any]:
        """The network config checked by ``space``, its defaults filled in."""
        return space.network_config(self.network, where=f"protocol {self.name!r}: network")

    def task_name(self, space: Any) -> str:
        """The task this protocol runs on ``space``."""
        return self.task if self.task is not None else space.default_task


def _field_options() -> dict[str, Option]:
    """Each field's Option, its type filled in from the annotation (declared once, above)."""
    hints = typing.get_type_hints(Protocol)
    out = {}
    for f in dataclasses.fields(Protocol):
        hint, nullable = hints[f.name], False
        args = typing.get_args(hint)
        if type(None) in args:
            nullable, hint = True, next(a for a in args if a is not type(None))
        origin = typing.get_origin(hint) or hint
        kind = {Mapping: dict, tuple: tuple}.get(origin, origin)
        item = typing.get_args(hint)[0] if kind is tuple else None
        option = f.metadata["option"]
        if f.default is not dataclasses.MISSING:
            default = f.default
        else:
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
        out[f.name] = dataclasses.replace(option.with_kind(kind, item, nullable or option.nullable), default=default)
    return out


#: Field name -> its Option (type, bounds, choices, since).
FIELDS: dict[str, Option] = _field_options()
MAPPINGS = ("network", "task_options")
#: Fields that hold prose, not settings: left out of a protocol's settings fingerprint.
PROSE = ("name", "description", "notes", "references")
#: Data fields that were Protocol fields until the task owned them. Cells hashed them at the top
#: level with these defaults, whatever their task, so ``hash_dict`` still does (their hashes stay).
LEGACY_DATA_FIELDS: dict[str, Any] = {
    "split": "nb201-cifar10-valid",
    "train_part": "train",
    "eval_part": "valid",
    "subset": None,
    "augment": True,
}
#: ... and those that were hashed only when set (added later than the first cells).
LEGACY_LATER_DATA_FIELDS: dict[str, Any] = {"cutout": 0}


def unknown_field(key: str, where: str) -> str:
    """Why ``key`` (given in ``where``) is not a protocol field, with the fix."""
    from harness.api.errors import did_you_mean

    if key in LEGACY_DATA_FIELDS or key in LEGACY_LATER_DATA_FIELDS:
        return f"{where}: {key} is a task option now: write task_options = {{ {key} = ... }}"
    if key in ("C", "N"):
        return f"unknown protocol field {key!r} in {where} (network keys go in {where}.network, e.g. network = {{ {key} = ... }})"
    return f"unknown protocol field {key!r} in {where}{did_you_mean(key, FIELDS)}; known: {', '.join(FIELDS)}"


def hash_dict(p: Protocol, network: Mapping[str, Any], task_defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The dict a cell hashes and records: every field, in the shape cells have always hashed.

    Fields added after cells existed appear only when set, so an existing cell keeps its hash (and
    its results) as long as it does not use them. Network keys sit at the top level, where C and N
    were fields in 0.1.0. Former data fields sit at the top level too: the task option as given, else
    the task's default (``task_defaults``), else the field's old default (a task that never read it).
    """
    task_defaults = task_defaults or {}
    d = dataclasses.asdict(p)
    for name, option in FIELDS.items():
        if option.since is not None and d[name] == option.default:
            del d[name]
    options = dict(d.pop("task_options", {}))
    for key, default in LEGACY_DATA_FIELDS.items():
        d[key] = options.pop(key, task_defaults.get(key, default))
    for key, default in LEGACY_LATER_DATA_FIELDS.items():
        value = options.pop(key, task_defaults.get(key, default))
        if value != default:
            d[key] = value
    if options:
        d["task_options"] = options
    del d["network"]
    d.update(network)
    return d


def check_protocol(p: Protocol) -> None:
    """Every field's type and range, then the rules between fields, so a bad value fails when the protocol loads."""
    if not isinstance(p.name, str) or not NAME_PATTERN.fullmatch(p.name) or ".." in p.name:
        raise WsbenchError(
            f"protocol name {p.name!r} must be 1-120 letters, digits and _ . + = , - without '..' (it names the run folder)"
        )
    for key, option in FIELDS.items():
        value = getattr(p, key)
        ok, coerced = option.coerce(value)
        if not ok:
            raise WsbenchError(f"protocol {p.name!r}: {key} must be {option.describe()}, got {value!r}")
        if coerced != value or type(coerced) is not type(value):
            object.__setattr__(p, key, coerced)
    _check_relations(p)


def _check_relations(p: Protocol) -> None:
    """The rules that tie fields together."""

    def fail(key: str, problem: str) -> WsbenchError:
        return WsbenchError(f"protocol {p.name!r}: {key} {problem}")

    if p.lr_min > p.lr:
        raise fail("lr_min", f"must be <= lr ({p.lr}), got {p.lr_min}")
    if p.optimizer == "asgd" and (p.momentum or p.nesterov):
        raise fail("optimizer", "asgd takes plain SGD steps: set momentum = 0 and nesterov = false")
    if (p.optimizer == "nt-asgd" or p.restore_best) and not p.validate_every:
        what = "optimizer nt-asgd" if p.optimizer == "nt-asgd" else "restore_best"
        raise fail("validate_every", f"must be >= 1 with {what} (it needs validation passes during training)")
    if p.step == "static" and p.optimizer != "sgd":
        raise fail("step", f"static needs optimizer sgd (it puts back the update of ops off the path), got {p.optimizer!r}")
    if p.asgd_start_epoch >= p.epochs:
        raise fail("asgd_start_epoch", f"must be an integer in 0..{p.epochs - 1}, got {p.asgd_start_epoch!r}")
    if p.warmup_epochs >= p.epochs:
        raise fail("warmup_epochs", f"must be below epochs ({p.epochs}), got {p.warmup_epochs}")
    if p.lr_restarts >= p.epochs - p.warmup_epochs:
        raise fail(
            "lr_restarts", f"must leave every cycle at least one epoch: below {p.epochs - p.warmup_epochs}, got {p.lr_restarts}"
        )
    if p.bn_mode == "recalibrate" and p.calib_batches < 1:
        raise fail("calib_batches", "must be >= 1 with bn_mode 'recalibrate' (or set bn_mode to batch or running)")
    if p.archset in ("sample", "ground-truth-sample") and not p.archset_n:
        raise fail("archset_n", f"is needed by archset {p.archset!r} (how many architectures to sample)")
    snaps = p.snapshot_epochs
    if not snaps or any(not 1 <= e <= p.epochs for e in snaps):
        raise fail("snapshot_epochs", f"{list(snaps)} must be non-empty and within 1..{p.epochs}")
    if len(set(snaps)) != len(snaps):
        raise fail("snapshot_epochs", f"{list(snaps)} repeats an epoch")


def coerce_changes(changes: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Values from a protocol file or a matrix's overrides, type-checked against the fields (lists become
    tuples); their ranges and the rules between them are the Protocol's own checks."""
    out = {}
    for key, value in changes.items():
        if key not in FIELDS:
            legacy = key in LEGACY_DATA_FIELDS or key in LEGACY_LATER_DATA_FIELDS
            raise (WsbenchError if legacy else UnknownNameError)(unknown_field(key, where))
        option = FIELDS[key]
        ok, v = option.typed(value)
        if not ok:
            raise WsbenchError(f"{where}.{key}: must be {option.describe(bounds=False)}, got {value!r} ({_toml_type(value)})")
        out[key] = v
    return out


def merged(base: Protocol, changes: Mapping[str, Any]) -> dict[str, Any]:
    """``changes`` with ``network`` and ``task_options`` merged onto ``base``'s (inheritance and overrides merge)."""
    out = dict(changes)
    for key in MAPPINGS:
        if key in out:
            out[key] = {**getattr(base, key), **out[key]}
    return out


def _toml_type(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "float", str: "string", list: "array", dict: "table"}.get(
        type(value), type(value).__name__
    )
