"""The seed paper's DARTS-CIFAR10 ground truth: 377 architectures trained from scratch, 101 of them twice.

Files (under ``$WSBENCH_DATA``): ``seedpaper/darts-cifar10.csv`` (seed 42, 377 rows) and
``seedpaper/darts-cifar10-seed43.csv`` (seed 43, 101 rows), released with "How Does Supernet Help
in Neural Architecture Search?" (matluster/anonymous-2102, Apache-2.0). Columns: ``architecture``
(the JSON object ``encoding.from_json`` reads), ``accuracy``, ``flops``, ``params``.

What is asked must be said (``harness.api.ground_truth``):

- dataset ``cifar10``, split ``test``: the networks (20 cells, C=36) were trained on the 50k
  CIFAR-10 training images and evaluated on the 10k test images, the DARTS evaluation protocol the
  paper follows; the file itself names no split.
- metric ``accuracy``, top-1 in **percent**: the file stores fractions (0.9725); the adapter
  multiplies by 100, explicitly, and says so in the table's provenance.
- seed reductions: ``seed:42`` (377 archs), ``seed:43`` (101), ``mean-of-seeds`` (the mean of the two,
  only on the 101 archs that have both -- never a mix of one-run and two-run values).

The two seeds agree only at Kendall tau ~0.58 (``wsbench gt darts``): the ceiling any estimator
scored against one run of this ground truth must be read against.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from harness.api.errors import CorruptDataError, DataMissingError, WsbenchError
from harness.api.ground_truth import GROUND_TRUTHS, GroundTruthQuery, GroundTruthSource, GroundTruthTable
from harness.api.registry import Registry
from harness.fileio import sha256_file
from harness.settings import DATA_ENV, data_checksum_status, data_root
from spaces.darts import encoding

SPACE = "darts"
FILES = {42: "seedpaper/darts-cifar10.csv", 43: "seedpaper/darts-cifar10-seed43.csv"}
REDUCTIONS = ("seed:42", "seed:43", "mean-of-seeds")


def _path(seed: int) -> Path:
    root = data_root(required=True)
    assert root is not None
    p = root / FILES[seed]
    if not p.is_file():
        raise DataMissingError(
            f"DARTS ground truth (seed {seed}) not found at {p}; copy {FILES[seed]} there or point {DATA_ENV} at a folder holding it"
        )
    return p


@lru_cache(maxsize=4)
def _read(path: str, size: int, mtime: int, relative: str) -> tuple[dict[str, float], str, str]:
    """arch id -> accuracy in percent, the file's sha256 and how it was checked."""
    import pandas as pd

    p = Path(path)
    status = data_checksum_status(p, relative, f"DARTS ground truth {relative}")
    try:
        frame = pd.read_csv(p)
        archs = [encoding.from_json(json.loads(text)) for text in frame["architecture"]]
        fractions = frame["accuracy"].to_numpy(dtype=np.float64)
    except (KeyError, ValueError, TypeError, json.JSONDecodeError, pd.errors.ParserError, WsbenchError) as e:
        raise CorruptDataError(
            f"{p} is not the seed paper's DARTS table (architecture JSON, accuracy, flops, params): {type(e).__name__}: {e}"
        ) from None
    ids = [encoding.arch_id(a) for a in archs]
    if len(set(ids)) != len(ids):
        raise CorruptDataError(f"{p} lists an architecture twice; the file is damaged")
    if len(fractions) and not (0 <= fractions.min() and fractions.max() <= 1):
        raise CorruptDataError(f"{p}: accuracies must be fractions in [0, 1] as the paper stores them; the file is damaged")
    return dict(zip(ids, (100.0 * fractions).tolist())), sha256_file(p), status


def seed_table(seed: int) -> tuple[dict[str, float], dict[str, Any]]:
    """One seed's arch id -> accuracy (percent), and the file's provenance."""
    p = _path(seed)
    st = p.stat()
    values, sha, status = _read(str(p.resolve()), st.st_size, st.st_mtime_ns, FILES[seed])
    return values, {"file": str(p), "sha256": sha, "checksum": status}


class SeedPaperSource(GroundTruthSource):
    """DARTS-CIFAR10 architectures trained from scratch by the seed paper (seed 42: 377, seed 43: 101)."""

    space = SPACE
    source = "seedpaper"
    description = "seed paper (Zhang et al.): 377 DARTS cells, 20 cells C=36, CIFAR-10 test top-1; 101 re-trained with seed 43"
    options = {("cifar10", "test"): ("accuracy",)}
    seed_reductions = REDUCTIONS
    #: ``wsbench gt`` compares these tables with each other: the two training runs.
    report_reductions = ("seed:42", "seed:43")
    higher_is_better = {"accuracy": True}

    def available(self) -> tuple[bool, str]:
        """(True, paths) when both files are present, else (False, why)."""
        try:
            return True, ", ".join(str(_path(s)) for s in FILES)
        except WsbenchError as e:
            return False, str(e)

    def _load(self, query: GroundTruthQuery) -> GroundTruthTable:
        if query.seed_reduction.startswith("seed:"):
            seed = int(query.seed_reduction.split(":")[1])
            values, prov = seed_table(seed)
            ids = sorted(values)
            vals = [values[a] for a in ids]
            provenance = {**prov, "reduction": f"one training run (seed {seed})", "runs": [f"seed{seed}"]}
        else:
            (a, pa), (b, pb) = seed_table(42), seed_table(43)
            ids = sorted(set(a) & set(b))
            vals = [(a[i] + b[i]) / 2 for i in ids]
            provenance = {
                "files": [pa, pb],
                "reduction": "mean of seeds 42 and 43, on the architectures both trained",
                "runs": ["seed42", "seed43"],
            }
        # complete: the files are read whole (the space itself is only sampled, by design).
        provenance.update(n_archs=len(ids), unit="percent (the files store fractions; multiplied by 100)", complete=True)
        return GroundTruthTable(query=query, arch_ids=ids, values=np.asarray(vals), higher_is_better=True, provenance=provenance)


SOURCES: dict[str, str] = {"darts/seedpaper": "spaces.darts.ground_truth:SeedPaperSource"}


def register_ground_truths(registry: Registry = GROUND_TRUTHS) -> None:
    """Register the DARTS sources lazily (skipping names already registered)."""
    for name, target in SOURCES.items():
        if name not in registry:
            registry.add_lazy(name, target)
