"""Typed settings declared once: protocol fields, task options and strategy options share this.

An ``Option`` holds a setting's default, its type, its bounds or choices, and the version that
added it. The one declaration drives validation (a one-line error naming the setting, the rule and
the value), coercion of TOML values and of command-line text (``--option k=2`` is the integer 2),
and hash compatibility (a setting added later is left out of an older cell's hash while it keeps
its default).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from harness.api.errors import WsbenchError, did_you_mean

#: How a file or a command line unsets a setting that may be unset (TOML has no null).
UNSET = "unset"

_TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string", tuple: "a list", dict: "a table"}


@dataclass(frozen=True)
class Option:
    """One setting: default, type, bounds, choices, and when it was added."""

    default: Any = None
    #: bool, int, float, str, tuple (a list of ``item``s) or dict (a table); None: any value.
    kind: type | None = None
    item: type | None = None
    min: float | None = None  # least value, inclusive
    above: float | None = None  # least value, exclusive
    below: float | None = None  # largest value, exclusive
    choices: tuple[Any, ...] | None = None
    nullable: bool = False  # None (unset) is allowed
    #: The version that added the setting: cells hashed before it leave it out while it has its default.
    since: str | None = None
    help: str = ""

    def with_kind(self, kind: type, item: type | None = None, nullable: bool | None = None) -> Option:
        """A copy with the type filled in (from a dataclass annotation)."""
        return replace(self, kind=kind, item=item, nullable=self.nullable if nullable is None else nullable)

    def check(self, value: Any, what: str) -> Any:
        """``value`` coerced to this option's type, or a one-line error naming ``what``."""
        ok, v = self.coerce(value)
        if not ok:
            raise WsbenchError(f"{what} must be {self.describe()}, got {value!r}")
        return v

    def coerce(self, value: Any) -> tuple[bool, Any]:
        """(True, the value in this option's type and within its bounds) or (False, None)."""
        if value is None or (self.nullable and value == UNSET):
            return (True, None) if self.nullable else (False, None)
        ok, v = _typed(value, self.kind, self.item)
        if not ok:
            return False, None
        if self.choices is not None and v not in self.choices:
            return False, None
        if isinstance(v, (int, float)) and not isinstance(v, bool) and not self._in_bounds(v):
            return False, None
        return True, v

    def typed(self, value: Any) -> tuple[bool, Any]:
        """(True, ``value`` in this option's type) or (False, None); bounds are not checked."""
        if value is None or (self.nullable and value == UNSET):
            return (True, None) if self.nullable else (False, None)
        return _typed(value, self.kind, self.item)

    def _in_bounds(self, v: float) -> bool:
        if isinstance(v, float) and not math.isfinite(v):
            return False
        return (
            (self.min is None or v >= self.min)
            and (self.above is None or v > self.above)
            and (self.below is None or v < self.below)
        )

    def parse(self, text: str) -> Any:
        """The value a command-line ``key=text`` means (``2`` an int, ``true`` a bool, ``a,b`` a list), unchecked."""
        kind = self.kind
        if self.nullable and text.lower() in ("none", "null", "", UNSET):
            return None
        if kind is bool:
            return {"true": True, "false": False, "1": True, "0": False}.get(text.lower(), text)
        if kind in (int, float):
            try:
                return int(text) if kind is int else float(text)
            except ValueError:
                return text
        if kind is tuple:
            item = Option(kind=self.item)
            return tuple(item.parse(t.strip()) for t in text.split(",") if t.strip())
        return text

    def describe(self, bounds: bool = True) -> str:
        """The rule in words, e.g. ``an integer >= 1``, ``one of sgd, asgd`` (``bounds=False``: the type only)."""
        if self.choices is not None:
            return "one of " + ", ".join("unset" if c is None else str(c) for c in self.choices)
        words = _TYPE_NAMES.get(self.kind, "a value") if self.kind is not None else "a value"
        if self.kind is tuple and self.item is not None:
            words = f"a list of {_TYPE_NAMES.get(self.item, 'values').removeprefix('an ').removeprefix('a ')}s"
        if not bounds:
            return words
        if self.kind is float and (self.min is not None or self.above is not None):
            words = "a finite number"
        shown: Callable[[Any], str] = repr if self.kind is float else (lambda x: f"{x:g}")
        rule = [
            f">= {shown(self.min)}" if self.min is not None else "",
            f"> {shown(self.above)}" if self.above is not None else "",
        ]
        rule.append(f"< {shown(self.below)}" if self.below is not None else "")
        return f"{words} {' and '.join(r for r in rule if r)}".strip()


def _typed(value: Any, kind: type | None, item: type | None) -> tuple[bool, Any]:
    """(True, value as ``kind``) when it is one (ints are numbers; lists become tuples), else (False, None)."""
    if kind is None:
        return True, value
    if kind is bool:
        return (True, value) if isinstance(value, bool) else (False, None)
    if kind is int:
        return (True, value) if type(value) is int else (False, None)
    if kind is float:
        return (True, float(value)) if type(value) in (int, float) else (False, None)
    if kind is str:
        return (True, value) if isinstance(value, str) else (False, None)
    if kind is tuple:
        if not isinstance(value, (list, tuple)):
            return False, None
        items = [_typed(v, item, None) for v in value]
        return (True, tuple(v for _, v in items)) if all(ok for ok, _ in items) else (False, None)
    if kind is dict:
        return (True, dict(value)) if isinstance(value, Mapping) else (False, None)
    return (True, value) if isinstance(value, kind) else (False, None)


def check_options(given: Mapping[str, Any], declared: Mapping[str, Option], where: str, label: str, owner: str) -> dict[str, Any]:
    """``given`` checked against ``declared`` (unknown names, types, bounds), defaults filled in.

    Errors read ``<where>: unknown <label>(s) x for <owner>; known: ...`` and ``<where>: <label> x must
    be ..., got ...`` (e.g. where ``protocol 'quick'``, label ``task option``, owner ``task 'cifar10'``).
    """
    unknown_keys = sorted(set(given) - set(declared))
    if unknown_keys:
        hint = did_you_mean(unknown_keys[0], declared)
        raise WsbenchError(
            f"{where}: unknown {label}(s) {', '.join(unknown_keys)} for {owner}{hint}; "
            f"known: {', '.join(sorted(declared)) or 'none'}"
        )
    out = {name: opt.default for name, opt in declared.items()}
    for name, value in given.items():
        out[name] = declared[name].check(value, f"{where}: {label} {name}")
    return out


def parse_options(texts: Mapping[str, str], declared: Mapping[str, Option]) -> dict[str, Any]:
    """Command-line ``key=value`` texts turned into typed values (checked later, with the rest)."""
    return {k: declared[k].parse(v) if k in declared else v for k, v in texts.items()}
