"""The contract of a report analysis: ``compute(groups) -> result``, then ``render(result, name) -> Rendered``.

An analysis reads the report's strategy groups (``Groups``: per group every run's snapshot vectors
and the covering ground truths, see ``harness.analysis.groups``) and returns a result of its own
type; ``render`` turns that result into Markdown lines, CSV frames and figures, without writing
anything (the report writes the frames as ``<name>-<suffix>.csv`` and draws each ``Figure`` at
``<name>-<suffix>.png``). Compute never formats and render never computes a statistic, so either can
be tested alone. An analysis that cannot run for a group says why in a note of its section, never
by raising; with no groups at all it renders nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Generic, TypeVar

import pandas as pd

from harness.analysis.groups import GroupScores
from harness.api.errors import WsbenchError

R = TypeVar("R")
T = TypeVar("T")


@dataclass(frozen=True)
class Groups:
    """What every analysis computes from: a report's strategy groups, its fixed-estimator groups and options."""

    strategies: Sequence[GroupScores]  # one per (space, protocol, strategy label), runs ordered by seed
    references: Sequence[GroupScores] = ()  # fixed estimators as one-run groups (the params baseline per block)
    bootstrap: int = 500  # resamples behind each interval (0: no intervals)

    @property
    def estimators(self) -> list[GroupScores]:
        """The strategy groups, then the fixed estimators' (for analyses that compare them all)."""
        return [*self.strategies, *self.references]


@dataclass(frozen=True)
class Figure:
    """A figure an analysis asks for: its file suffix and how to draw it at a path."""

    suffix: str
    draw: Callable[[Path], Path]

    def file(self, name: str) -> str:
        """Its file name in a report called ``name``."""
        return f"{name}-{self.suffix}.png"

    def link(self, name: str) -> list[str]:
        """The Markdown lines embedding it (a blank line, then the image by its relative name)."""
        rel = PurePath(self.file(name))
        return ["", f"![{rel.stem}]({rel})"]


@dataclass
class Rendered:
    """An analysis's contribution to a report: its Markdown lines, CSV frames by suffix, and figures."""

    lines: list[str] = field(default_factory=list)
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)


@dataclass(frozen=True)
class AnalysisPlugin(Generic[R]):
    """A registered analysis: where it goes in the report and its two halves."""

    order: int  # the report shows analyses by ascending order (then name)
    compute: Callable[[Groups], R]
    render: Callable[[R, str], Rendered]

    def run(self, groups: Groups, name: str) -> Rendered:
        """Compute, then render for a report called ``name``."""
        return self.render(self.compute(groups), name)


@dataclass
class Findings(Generic[T]):
    """Per-group findings of one analysis (in group order) and the notes of groups it could not analyse."""

    entries: list[T] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def attempt(notes: list[str], group: GroupScores, what: str, fn: Callable[[], T], default: T) -> T:
    """``fn()``, or ``default`` with a note naming the group and the reason when it cannot run."""
    try:
        return fn()
    except WsbenchError as exc:
        notes.append(f"{group.where}: {what}: {exc}")
        return default
