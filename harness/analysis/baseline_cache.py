"""Training-free baseline scores cached under ``<root>/baselines/``: proxies cost seconds per architecture."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from harness.fileio import atomic_write_text


def cache_path(root: Path | None, space: str, name: str, archs: list[str], seed: int) -> Path | None:
    """Where one baseline's scores on ``archs`` are kept (None: no results folder, no cache)."""
    from harness.baselines import PROXIES

    text = "\n".join(archs)
    if name in PROXIES:  # proxies are built at the space's proxy network: a new one must not reuse old scores
        from harness.catalog import SPACES

        network = SPACES.get(space).proxy_network
        text += ("\n" + json.dumps(dict(network), sort_keys=True)) if network else ""
    key = hashlib.sha256(text.encode()).hexdigest()[:12]
    return (root / "baselines" / f"{space}-{name}-seed{seed}-{key}.csv") if root is not None else None


def cached_baseline(
    root: Path | None, space: str, name: str, archs: list[str], seed: int, fn: Callable[..., np.ndarray]
) -> np.ndarray:
    """Baseline ``name``'s scores of ``archs`` at ``seed``: from the cache when it holds them, else ``fn`` (then cached)."""
    path = cache_path(root, space, name, archs, seed)
    if path is not None and path.exists():
        cached = pd.read_csv(path, dtype={"arch": str}, keep_default_na=False)
        if cached["arch"].tolist() == archs:
            return cached["score"].to_numpy(dtype=np.float64)
    scores = fn(name, space, archs, seed=seed)
    if path is not None:
        atomic_write_text(path, pd.DataFrame({"arch": archs, "score": scores}).to_csv(index=False))
    return scores
