"""Per-architecture scores of one strategy group, aligned with its ground truths: what analyses read.

The summary table holds one number per metric; the bias, picking-vs-pruning and variance analyses
need the vectors behind them. ``stability.analyse`` builds one ``GroupScores`` per (space,
protocol, label): every run's every snapshot over the architectures all runs scored, and every
ground truth that covers all of them, both oriented so that higher is better.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Schedule:
    """Where each snapshot sits in its run's learning-rate schedule."""

    epochs: int  # the run's (effective) epochs
    lr: float  # peak learning rate
    lr_min: float  # the rate a cosine anneals to
    at: dict[int, float]  # snapshot epoch -> the learning rate after that epoch's last step

    def annealed(self, epoch: int) -> bool:
        """Whether the snapshot at ``epoch`` was taken at the end of an annealed schedule (lr at its minimum)."""
        lr = self.at.get(epoch)
        return lr is not None and self.lr > self.lr_min and abs(lr - self.lr_min) <= 1e-9 * max(1.0, self.lr_min)

    def position(self, epoch: int) -> str:
        """``annealed``, ``constant lr`` or ``mid-schedule (x % of the run, lr y)``."""
        if self.lr <= self.lr_min:
            return "constant lr"
        if self.annealed(epoch):
            return "annealed"
        lr = self.at.get(epoch)
        shown = f", lr {lr:.3g} of {self.lr:.3g}" if lr is not None else ""
        return f"mid-schedule ({100.0 * epoch / self.epochs:.0f} % of the run{shown})"


@dataclass
class RunScores:
    """One run (cell) of a group: its seed and each snapshot's estimator values over the group's archs."""

    seed: int
    cell_hash: str
    snapshots: dict[int, np.ndarray]  # epoch -> oriented estimator values, in ``GroupScores.archs`` order
    #: The learning-rate schedule behind the snapshots (none for imported scores or unlogged cells).
    schedule: Schedule | None = None

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
    #: Scores imported from a file (``wsbench score``): a reference, not a trained run.
    imported: bool = False

    @property
    def where(self) -> str:
        """``space/label/protocol``, for notes."""
        return f"{self.space}/{self.label}/{self.protocol}"
