"""Markdown cells and tables in the house style: numbers to 3 digits, "n/a" where undefined."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, TypeVar

import numpy as np

from harness.analysis.groups import GroupScores


class OfGroup(Protocol):
    """An analysis's finding about one strategy group."""

    @property
    def group(self) -> GroupScores:
        """The group the finding is about."""
        ...


E = TypeVar("E", bound=OfGroup)


class Spread(Protocol):
    """A statistic over runs: its mean and sd (``harness.analysis.bias.OverRuns``)."""

    @property
    def mean(self) -> float:
        """Mean over runs."""
        ...

    @property
    def sd(self) -> float:
        """Sample sd over runs."""
        ...


def num(x: float | None, digits: int = 3) -> str:
    """A number, or "n/a" when it is missing or not finite."""
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def mean_pm(mean: float | None, sd: float | None, digits: int = 3) -> str:
    """``mean ± sd``; the mean alone where the sd is undefined (one seed); "n/a" where the mean is."""
    if mean is None or not np.isfinite(mean):
        return "n/a"
    return f"{mean:.{digits}f}" if sd is None or not np.isfinite(sd) else f"{mean:.{digits}f} ± {sd:.{digits}f}"


def over_runs(v: Spread | None, digits: int = 3) -> str:
    """mean ± sd over seeds of a statistic over runs, or the mean alone for one run; n/a when undefined."""
    return "n/a" if v is None else mean_pm(v.mean, v.sd, digits)


def pct(rank: float | None) -> str:
    """A normalized true rank as the share of architectures truly better."""
    return "n/a" if rank is None or not np.isfinite(rank) else f"{100 * rank:.1f} %"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], names: int = 2, pad: bool = False) -> list[str]:
    """A Markdown table: the first ``names`` columns left-aligned, the rest (numbers) right-aligned.

    ``pad``: cells padded to their column's width, so that the table also reads as one in a terminal.
    """
    if not pad:
        align = ["---" if i < names else "---:" for i in range(len(header))]
        return ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|", *("| " + " | ".join(r) + " |" for r in rows)]
    widths = [max(3, len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) if i < names else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))) + " |"

    align = ["-" * (w + 2) if i < names else "-" * (w + 1) + ":" for i, w in enumerate(widths)]
    return [line(header), "|" + "|".join(align) + "|", *(line(r) for r in rows)]


def blocks(entries: Sequence[E]) -> Iterator[tuple[str, list[E]]]:
    """(heading, entries) per (space, protocol) of the entries' groups, in sorted order; entries keep their order."""
    keys = sorted({(e.group.space, e.group.protocol) for e in entries})
    for space, protocol in keys:
        members = [e for e in entries if (e.group.space, e.group.protocol) == (space, protocol)]
        yield f"#### {space} · protocol `{protocol}` ({len(members[0].group.archs)} architectures)", members


def notes(found: Sequence[str]) -> list[str]:
    """The notes of a section, each once, after a blank line; nothing when there are none."""
    return ["", *(f"- note: {n}" for n in dict.fromkeys(found))] if found else []
