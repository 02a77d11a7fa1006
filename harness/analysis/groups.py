"""Per-architecture scores of one strategy group, aligned with its ground truths: what analyses read.

The summary table holds one number per metric; the bias, picking-vs-pruning and variance analyses
need the vectors behind them. ``stability.analyse`` builds one ``GroupScores`` per (space,
protocol, label): every run's every snapshot over the architectures all runs scored, and every
ground truth that covers all of them, both oriented so that higher is better.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class RunScores:
    """One run (cell) of a group: its seed and each snapshot's estimator values over the group's archs."""

    seed: int
    cell_hash: str
    snapshots: dict[int, np.ndarray]  # epoch -> oriented estimator values, in ``GroupScores.archs`` order

    @property
    def final_epoch(self) -> int:
        """The last snapshot epoch."""
        return max(self.snapshots)

    @property
    def final(self) -> np.ndarray:
        """The last snapshot's values."""
        return self.snapshots[self.final_epoch]


@dataclass
class GroupScores:
    """A strategy group's score vectors and the true values they are compared with."""

    space: str
    protocol: str
    label: str
    estimator: str  # e.g. accuracy, neg_perplexity, score
    archs: list[str]  # the architecture ids every run scored at its final snapshot, sorted
    runs: list[RunScores] = field(default_factory=list)  # ordered by seed
    #: ground-truth label -> oriented true values over ``archs`` (only tables covering every arch)
    truths: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def where(self) -> str:
        """``space/label/protocol``, for notes."""
        return f"{self.space}/{self.label}/{self.protocol}"
