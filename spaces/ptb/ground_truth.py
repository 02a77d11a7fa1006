"""The seed paper's DARTS-PTB ground truth: 137 recurrent cells trained from scratch, 93 of them twice.

Files (under ``$WSBENCH_DATA``): ``seedpaper/ptb.csv`` (seed 42, 137 rows) and
``seedpaper/ptb-seed43.csv`` (seed 43, 93 rows), released with "How Does Supernet Help in Neural
Architecture Search?" (matluster/anonymous-2102, Apache-2.0). Columns: ``architecture`` (the JSON
object ``encoding.from_json`` reads), ``valid_ppl``, ``test_ppl``.

What is asked must be said (``harness.api.ground_truth``):

- dataset ``ptb``, split ``valid`` or ``test``: perplexity of the stand-alone cell (hidden 850)
  on Penn Treebank's validation / test text;
- metric ``perplexity``: **lower is better** (the tables say so, and every metric orients by it);
- seed reductions ``seed:42`` (137 cells), ``seed:43`` (93), ``mean-of-seeds`` (the arithmetic mean
  of the two perplexities, only on the 93 cells that have both).

The two seeds agree at Kendall tau ~0.72 (``wsbench gt ptb``): the ceiling for one run.
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
from spaces.ptb import encoding

SPACE = "ptb"
FILES = {42: "seedpaper/ptb.csv", 43: "seedpaper/ptb-seed43.csv"}
SPLITS = ("valid", "test")
REDUCTIONS = ("seed:42", "seed:43", "mean-of-seeds")


def _path(seed: int) -> Path:
    root = data_root(required=True)
    assert root is not None
    p = root / FILES[seed]
    if not p.is_file():
        raise DataMissingError(
            f"PTB ground truth (seed {seed}) not found at {p}; copy {FILES[seed]} there or point {DATA_ENV} at a folder holding it"
        )
    return p


@lru_cache(maxsize=4)
def _read(path: str, size: int, mtime: int, relative: str) -> tuple[dict[str, dict[str, float]], str, str]:
    """split -> arch id -> perplexity, the file's sha256 and how it was checked."""
    import pandas as pd

    p = Path(path)
    status = data_checksum_status(p, relative, f"PTB ground truth {relative}")
    try:
        frame = pd.read_csv(p)
        archs = [encoding.from_json(json.loads(text)) for text in frame["architecture"]]
        values = {split: frame[f"{split}_ppl"].to_numpy(dtype=np.float64) for split in SPLITS}
    except (KeyError, ValueError, TypeError, json.JSONDecodeError, pd.errors.ParserError, WsbenchError) as e:
        raise CorruptDataError(
            f"{p} is not the seed paper's PTB table (architecture JSON, valid_ppl, test_ppl): {type(e).__name__}: {e}"
        ) from None
    ids = [encoding.arch_id(a) for a in archs]
    if len(set(ids)) != len(ids):
        raise CorruptDataError(f"{p} lists a cell twice; the file is damaged")
    for split, v in values.items():
        if len(v) and not (np.all(np.isfinite(v)) and v.min() >= 1.0):
            raise CorruptDataError(f"{p}: {split}_ppl must be finite perplexities >= 1; the file is damaged")
    return {s: dict(zip(ids, v.tolist())) for s, v in values.items()}, sha256_file(p), status


def seed_table(seed: int) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """One seed's split -> arch id -> perplexity, and the file's provenance."""
    p = _path(seed)
    st = p.stat()
    values, sha, status = _read(str(p.resolve()), st.st_size, st.st_mtime_ns, FILES[seed])
    return values, {"file": str(p), "sha256": sha, "checksum": status}


class SeedPaperSource(GroundTruthSource):
    """DARTS-PTB cells trained from scratch by the seed paper (seed 42: 137, seed 43: 93)."""

    space = SPACE
    source = "seedpaper"
    description = (
        "seed paper (Zhang et al.): 137 DARTS recurrent cells, hidden 850, PTB valid/test perplexity; 93 re-trained with seed 43"
    )
    options = {("ptb", "valid"): ("perplexity",), ("ptb", "test"): ("perplexity",)}
    seed_reductions = REDUCTIONS
    #: ``wsbench gt`` compares these tables with each other: the two training runs.
    report_reductions = ("seed:42", "seed:43")
    higher_is_better = {"perplexity": False}

    def available(self) -> tuple[bool, str]:
        """(True, paths) when both files are present, else (False, why)."""
        try:
            return True, ", ".join(str(_path(s)) for s in FILES)
        except WsbenchError as e:
            return False, str(e)

    def _load(self, query: GroundTruthQuery) -> GroundTruthTable:
        split = query.split
        if query.seed_reduction.startswith("seed:"):
            seed = int(query.seed_reduction.split(":")[1])
            values, prov = seed_table(seed)
            ids = sorted(values[split])
            vals = [values[split][a] for a in ids]
            provenance = {**prov, "reduction": f"one training run (seed {seed})", "runs": [f"seed{seed}"]}
        else:
            (a, pa), (b, pb) = seed_table(42), seed_table(43)
            ids = sorted(set(a[split]) & set(b[split]))
            vals = [(a[split][i] + b[split][i]) / 2 for i in ids]
            provenance = {
                "files": [pa, pb],
                "reduction": "arithmetic mean of the seed-42 and seed-43 perplexities, on the cells both trained",
                "runs": ["seed42", "seed43"],
            }
        provenance.update(n_archs=len(ids), unit="perplexity (lower is better)", complete=True)
        return GroundTruthTable(query=query, arch_ids=ids, values=np.asarray(vals), higher_is_better=False, provenance=provenance)


SOURCES: dict[str, str] = {"ptb/seedpaper": "spaces.ptb.ground_truth:SeedPaperSource"}


def register_ground_truths(registry: Registry = GROUND_TRUTHS) -> None:
    """Register the PTB source lazily (skipping names already registered)."""
    for name, target in SOURCES.items():
        if name not in registry:
            registry.add_lazy(name, target)
