"""Protocol files: protocols as data, read as strictly as matrix files.

A space folder keeps its protocols in ``protocols.toml``, one table per protocol::

    [quick]                       # the protocol's name
    description = "..."           # required
    network = { C = 8, N = 1 }
    task_options = { subset = 10000 }
    epochs = 20
    ...

    [quick-long]
    base = "quick"                # inherit every value of another protocol (any file)
    description = "..."
    epochs = 40                   # network and task_options merge onto the base's

A setting that may be unset is unset with the string ``"unset"`` (TOML has no null), e.g.
``grad_clip = "unset"`` for no clipping. Every key is a ``Protocol`` field (checked with its declared rule), ``base`` or ``sources`` (per
field, where its value was read: repository, file and value; kept as provenance, not hashed).
An unknown key, a bad value, an unknown or circular base, or a name used twice is a one-line
error naming the file and the protocol.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from harness.api.errors import WsbenchError, did_you_mean
from harness.api.protocol import Protocol, coerce_changes, merged


@dataclass(frozen=True)
class ProtocolEntry:
    """A protocol read from a file: the protocol, the file, its base, and each field's source."""

    protocol: Protocol
    path: Path
    base: str | None = None
    sources: Mapping[str, str] = field(default_factory=dict)


def read_toml(path: Path, kind: str = "a protocol file is TOML") -> dict[str, Any]:
    """A TOML file's tables, or a one-line error naming the file (and line) and what is wrong
    (``kind``: what the file should be, said when it is not text)."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = re.search(r"at line (\d+)", msg)
        where = f"{path}:{m.group(1)}" if m else str(path)
        hint = "; a key or table is set twice" if "overwrite" in msg or "twice" in msg or "Duplicate" in msg else ""
        raise WsbenchError(f"{where}: invalid TOML: {msg}{hint}") from None
    except UnicodeDecodeError:
        raise WsbenchError(f"{path}: not a UTF-8 text file; {kind}") from None


def read_protocol_files(paths: Sequence[Path]) -> dict[str, ProtocolEntry]:
    """Every protocol of ``paths``, bases resolved across files, each validated."""
    tables: dict[str, tuple[dict[str, Any], Path]] = {}
    for path in paths:
        for name, table in read_toml(path).items():
            if not isinstance(table, dict):
                raise WsbenchError(f"{path}: {name!r} must be a [{name}] table of protocol fields, got {table!r}")
            if name in tables:
                raise WsbenchError(f"{path}: protocol {name!r} is defined again (first in {tables[name][1]}); rename one")
            tables[name] = (table, path)
    built: dict[str, ProtocolEntry] = {}
    for name in tables:
        _build(name, tables, built, ())
    return built


def _build(
    name: str, tables: dict[str, tuple[dict[str, Any], Path]], built: dict[str, ProtocolEntry], chain: tuple[str, ...]
) -> ProtocolEntry:
    """One protocol (its base first), memoised in ``built``."""
    if name in built:
        return built[name]
    table, path = tables[name]
    where = f"{path}: [{name}]"
    values = dict(table)
    base_name, sources = values.pop("base", None), values.pop("sources", {})
    if not isinstance(sources, dict) or not all(isinstance(v, str) for v in sources.values()):
        raise WsbenchError(f'{where}.sources: must be a table of field = "repository, file, value" strings')
    if "description" not in values:
        raise WsbenchError(f'{where}: description missing; say in one line what the protocol is for, e.g. description = "..."')
    changes = {"name": name, **coerce_changes(values, where)}
    try:
        if base_name is None:
            protocol = Protocol(**changes)
        else:
            base = _base(base_name, name, tables, built, chain, where).protocol
            protocol = base.replace(**merged(base, changes))
    except WsbenchError as e:
        raise WsbenchError(f"{where}: {e}") from None
    # A source cites a value this table sets: a field, or one key of network / task_options.
    for key in sorted(sources):
        if key.split(".")[0] not in changes:
            raise WsbenchError(f"{where}.sources: {key!r} names no field set in this protocol")
    built[name] = ProtocolEntry(protocol, path, base_name, dict(sources))
    return built[name]


def _base(
    base_name: Any,
    name: str,
    tables: dict[str, tuple[dict[str, Any], Path]],
    built: dict[str, ProtocolEntry],
    chain: tuple[str, ...],
    where: str,
) -> ProtocolEntry:
    if not isinstance(base_name, str) or base_name not in tables:
        raise WsbenchError(
            f"{where}.base: unknown protocol {base_name!r}{did_you_mean(str(base_name), tables)}; known: {', '.join(sorted(tables))}"
        )
    if base_name in chain or base_name == name:
        raise WsbenchError(f"{where}.base: circular: {' -> '.join((*chain, name, base_name))}")
    return _build(base_name, tables, built, (*chain, name))
