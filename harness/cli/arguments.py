"""What the commands share: the parser with one-line usage errors, and the argument types
(bounded integers, devices, ``key=value``, archsets, comma lists)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import NoReturn, TypeAlias

from harness.api.errors import WsbenchError


class Parser(argparse.ArgumentParser):
    """argparse, with its usage errors on one line (the usage itself is one ``--help`` away).

    Every user error of wsbench reads ``wsbench: error: ...`` (exit 2), usage errors included;
    the command that refused stays in the pointer to its help.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"wsbench: error: {message} (see {self.prog} --help)\n")


#: What each command module's ``add_parser`` adds its parser to.
Subparsers: TypeAlias = "argparse._SubParsersAction[Parser]"


def int_at_least(least: int) -> Callable[[str], int]:
    """An argument type: an integer >= ``least``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {least}, got {text!r}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"must be an integer >= {least}, got {value}")
        return value

    parse.__name__ = f"integer >= {least}"
    return parse


POSITIVE, NON_NEGATIVE = int_at_least(1), int_at_least(0)


def int_in(least: int, most: int) -> Callable[[str], int]:
    """An argument type: an integer in ``least..most`` (the upper bound where work grows with the value)."""
    at_least = int_at_least(least)

    def parse(text: str) -> int:
        value = at_least(text)
        if value > most:
            raise argparse.ArgumentTypeError(f"must be an integer <= {most}, got {value}")
        return value

    parse.__name__ = f"integer in {least}..{most}"
    return parse


def number_in(least: float, most: float) -> Callable[[str], float]:
    """An argument type: a finite number in ``least..most`` (``nan`` and ``inf`` are refused)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or not least <= value <= most:
            raise argparse.ArgumentTypeError(f"must be a number in {least:g}..{most:g}, got {text!r}")
        return value

    parse.__name__ = f"number in {least:g}..{most:g}"
    return parse


def device(text: str) -> str:
    """An argument type: a torch device the engine accepts (cpu, cuda, cuda:N, mps)."""
    from harness.engine.cell import check_device

    try:
        return check_device(text)
    except WsbenchError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def key_value(text: str) -> tuple[str, str]:
    """``key=value`` as (key, value text); the strategy's declared option types the value later."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"must be key=value (e.g. sampling=deisomorphic), got {text!r}")
    return key, value


def archset(text: str) -> tuple[str, int | None]:
    """An argument type: an archset kind, with its size where it samples (``sample:200``)."""
    from harness.api.protocol import ARCHSET_KINDS

    kind, sep, n = text.partition(":")
    if kind not in ARCHSET_KINDS:
        raise argparse.ArgumentTypeError(f"must be all, unique, ground-truth, sample:N or ground-truth-sample:N, got {text!r}")
    if sep or kind.endswith("sample"):
        if not n.isdigit() or int(n) < 1:
            raise argparse.ArgumentTypeError(f"{kind} needs a size >= 1, e.g. {kind}:200, got {text!r}")
        return kind, int(n)
    return kind, None


def int_list(text: str) -> str:
    """An argument type: a comma list of integers >= 1, kept as text."""
    parts = text.split(",")
    if not all(p.strip().isdigit() and int(p) >= 1 for p in parts):
        raise argparse.ArgumentTypeError(f"must be a comma list of integers >= 1 (e.g. 1,4), got {text!r}")
    return text
