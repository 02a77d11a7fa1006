"""``wsbench train``: train and score one matrix cell (resumes if interrupted).

The cell's protocol is the named one with the command line's changes (``train_protocol``):
``--epochs``, ``--C``, ``--N``, ``--archset`` and any number of ``--set FIELD=VALUE``, where FIELD
is a protocol field or one key of its network or task options (``network.C``,
``task_options.subset``). A changed protocol is named ``<name>+k=v,...``, so its run folder says
what changed.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from harness.api.errors import WsbenchError
from harness.cli.arguments import NON_NEGATIVE, POSITIVE, Subparsers, device, key_value
from harness.cli.arguments import archset as archset_type

if TYPE_CHECKING:
    from harness.api.options import Option
    from harness.api.protocol import Protocol

#: The flags that change the protocol, by the key they change (``--set`` may not change it too).
FLAG_KEYS = {"epochs": "--epochs", "network.C": "--C", "network.N": "--N", "archset": "--archset", "archset_n": "--archset"}


def add_parser(sub: Subparsers) -> None:
    t = sub.add_parser("train", help="train and score one matrix cell (resumes if interrupted)")
    t.add_argument("--space", default="nb201", help="search space (wsbench list shows them); default nb201")
    t.add_argument("--strategy", default="spos", help="weight-sharing strategy (wsbench list --pairs: which run where)")
    t.add_argument("--protocol", default="quick", help="training + scoring protocol (wsbench list); default quick")
    t.add_argument("--seed", type=NON_NEGATIVE, default=0, help="run seed (data order, init, path sampling)")
    t.add_argument("--device", type=device, default="cpu", help="cpu, cuda, cuda:N or mps; default cpu")
    t.add_argument("--epochs", type=POSITIVE, default=None, help="override the protocol's epochs")
    t.add_argument("--C", type=POSITIVE, default=None, help="override the network's channels")
    t.add_argument("--N", type=POSITIVE, default=None, help="override the network's cells per stage")
    t.add_argument("--archset", type=archset_type, default=None, help="architectures scored: all, unique, sample:N, ...")
    t.add_argument("--option", type=key_value, action="append", default=[], help="strategy option key=value (repeatable)")
    t.add_argument(
        "--set",
        dest="sets",
        type=setting,
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a protocol field (wsbench protocol show lists them), or one key of its network or task "
        "options (repeatable), e.g. lr=0.1, network.C=8, task_options.subset=600",
    )
    t.add_argument(
        "--redo-stale-data",
        action="store_true",
        help="when the cell was trained on other data than it would read now, move its outputs into "
        "<cell>/.stale-<data>/ and train it again (without: a one-line error, nothing changed)",
    )
    t.set_defaults(func=run)


def setting(text: str) -> tuple[str, str]:
    """An argument type: ``FIELD=VALUE`` as (field, value text); the field's declared option types the value."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"must be FIELD=VALUE (e.g. lr=0.1 or task_options.subset=600), got {text!r}")
    return key, value


def run(args: argparse.Namespace) -> int:
    import json

    from harness.api.options import parse_options
    from harness.catalog import PROTOCOLS, STRATEGIES
    from harness.engine.cell import CellSpec
    from harness.engine.loop import run_cell

    protocol = train_protocol(
        PROTOCOLS.get(args.protocol), args.space, epochs=args.epochs, C=args.C, N=args.N, archset=args.archset, sets=args.sets
    )
    # Command-line values are text: each becomes its option's type (k=2 the integer 2). An unknown
    # strategy is left to the cell, which names it with the other registries' errors.
    declared = STRATEGIES.get(args.strategy).option_specs if args.strategy in STRATEGIES else {}
    options = parse_options(dict(args.option), declared)
    spec = CellSpec(args.space, args.strategy, protocol, args.seed, options, device=args.device)
    result = run_cell(spec, progress=not _ci(), redo_stale_data=args.redo_stale_data)
    print(json.dumps({k: v for k, v in result.items() if k != "metrics"}, indent=2))
    return 0


def train_protocol(
    base: Protocol,
    space: str,
    *,
    epochs: int | None = None,
    C: int | None = None,
    N: int | None = None,
    archset: tuple[str, int | None] | None = None,
    sets: Sequence[tuple[str, str]] = (),
) -> Protocol:
    """``base`` with the command line's changes, renamed ``<name>+k=v,...`` (unchanged without any).

    ``sets`` are ``(FIELD, text)`` pairs: a protocol field, typed by its declared ``Option``, or
    ``network.KEY`` (an integer where the text is one, else a number, else the text: the space
    checks it) or ``task_options.KEY`` (typed by the task's ``option_specs``, for ``space``'s task
    or the one set). A repeated ``--set`` wins over the one before; one that changes what a flag
    changes is refused. A new ``epochs`` moves the snapshots to the run's last epochs (as many as
    the protocol's) unless ``snapshot_epochs`` is set too. ``--set name=...`` names the protocol
    itself; prose fields (description, notes, references) are left out of the derived name.
    """
    changes = _flag_changes(epochs, C, N, archset)
    changes.update(_parsed_sets(base, space, sets, flagged=changes))
    if not changes:
        return base
    derived: set[str] = set()
    if "epochs" in changes and "snapshot_epochs" not in changes:
        # A shorter run snapshots at its own last epochs (same count as the protocol).
        k = len(base.snapshot_epochs)
        changes["snapshot_epochs"] = tuple(range(max(1, changes["epochs"] - k + 1), changes["epochs"] + 1))
        derived.add("snapshot_epochs")
    return base.replace(**_replacements(base, changes, derived))


def _flag_changes(epochs: int | None, C: int | None, N: int | None, archset: tuple[str, int | None] | None) -> dict[str, Any]:
    """The changes of the dedicated flags, keyed as ``--set`` keys them."""
    changes: dict[str, Any] = {k: v for k, v in (("epochs", epochs), ("network.C", C), ("network.N", N)) if v is not None}
    if archset:
        changes["archset"], changes["archset_n"] = archset
    return changes


def _parsed_sets(base: Protocol, space: str, sets: Sequence[tuple[str, str]], flagged: Mapping[str, Any]) -> dict[str, Any]:
    """Each ``--set`` value in its declared type; the fields first, so a new ``task`` types the task options."""
    from harness.api.protocol import FIELDS, MAPPINGS, unknown_field

    out: dict[str, Any] = {}
    for key, text in sorted(sets, key=lambda kv: "." in kv[0]):  # stable: a repeated key keeps its order
        if key in flagged:
            raise WsbenchError(f"--set {key}={text}: {FLAG_KEYS[key]} changes {key} too; give one of them")
        head, _, sub_key = key.partition(".")
        if head in MAPPINGS and sub_key:
            if head == "network":
                out[key] = _number(text)
            else:
                specs = _task_specs(space, out.get("task", base.task))
                out[key] = specs[sub_key].parse(text) if sub_key in specs else text
        elif key in MAPPINGS:
            raise WsbenchError(f"--set {key}={text}: set one key at a time, e.g. --set {key}.KEY=VALUE")
        elif key in FIELDS:
            out[key] = FIELDS[key].parse(text)
        else:
            raise WsbenchError(unknown_field(key, "--set"))
    return out


def _replacements(base: Protocol, changes: Mapping[str, Any], derived: set[str]) -> dict[str, Any]:
    """``changes`` as ``Protocol.replace`` keywords: network and task options merged onto ``base``'s, the new name."""
    from harness.api.protocol import MAPPINGS, PROSE

    out = {k: v for k, v in changes.items() if "." not in k}
    for mapping in MAPPINGS:
        keys = {k.partition(".")[2]: v for k, v in changes.items() if k.startswith(f"{mapping}.")}
        if keys:
            out[mapping] = {**getattr(base, mapping), **keys}
    if "name" not in out:
        # Keys as the folder shows them: a field by its name, a network key or task option by its own (C=8).
        shown = [(k.partition(".")[2] or k, v) for k, v in changes.items() if k not in PROSE and k not in derived]
        if shown:
            out["name"] = f"{base.name}+" + ",".join(f"{k}={_text(v)}" for k, v in sorted(shown, key=lambda kv: kv[0]))
    return out


def _task_specs(space: str, task: str | None) -> Mapping[str, Option]:
    """The option specs of ``task`` (None: ``space``'s default task); none where either is unknown (the cell says so)."""
    from harness.catalog import SPACES, TASKS

    if task is None:
        if space not in SPACES:
            return {}
        task = SPACES.get(space).default_task
    return TASKS.get(task).option_specs if task in TASKS else {}


def _number(text: str) -> int | float | str:
    """A network value: an integer where the text is one, else a number, else the text (the space checks it)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _text(value: Any) -> str:
    """A value as the protocol's name shows it (a list as ``1,2``)."""
    return ",".join(str(v) for v in value) if isinstance(value, tuple) else str(value)


def _ci() -> bool:
    import os

    return bool(os.environ.get("CI"))
