"""Shared plot helpers in the house style (matplotlib Agg, dpi 100); imports no analysis."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.fileio import atomic_write_bytes

DPI = 100


def pyplot() -> Any:
    """pyplot on the non-interactive Agg backend (chosen before pyplot is imported: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def grid(plt: Any, n: int, width: float = 4.2, height: float = 3.2) -> tuple[Any, list[Any]]:
    """A figure of ``n`` panels, at most three a row; the unused cells of the last row hidden."""
    cols = min(3, max(1, n))
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def save(fig: Any, plt: Any, path: Path) -> Path:
    """Write ``fig`` as a PNG at ``path`` (atomically) and close it."""
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path


def band(ax: Any, x: np.ndarray, values: Sequence[Any], label: str, color: str) -> None:
    """Mean over seeds with a min-max band (``values``: statistics over runs, e.g. ``OverRuns``)."""
    mean = np.array([v.mean for v in values])
    low = np.array([v.finite.min() if v.finite.size else np.nan for v in values])
    high = np.array([v.finite.max() if v.finite.size else np.nan for v in values])
    ax.plot(x, mean, marker="o", ms=3, color=color, label=label)
    ax.fill_between(x, low, high, color=color, alpha=0.2)
