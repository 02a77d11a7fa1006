"""The seed paper's ProxylessNAS ground truth: 36 architectures trained from scratch on ImageNet.

File (under ``$WSBENCH_DATA``): ``seedpaper/proxylessnas.csv``, released with "How Does Supernet
Help in Neural Architecture Search?" (matluster/anonymous-2102, Apache-2.0). Columns:
``architecture`` (the JSON ``encoding.from_json`` reads), ``accuracy``, ``accuracy_top5``,
``flops``, ``params``.

What is asked must be said (``harness.api.ground_truth``):

- dataset ``imagenet``, split ``val``: ImageNet-1k networks at width 1.35 and resolution 224,
  evaluated on the 50k validation images (the file names no split; the paper follows the
  ProxylessNAS evaluation protocol, whose reported numbers are on the validation set).
- metrics ``top1`` and ``top5`` in **percent**: the file stores fractions; the adapter multiplies
  by 100, explicitly, and says so in the provenance.
- seed reduction ``as-published``: one training run per architecture. There is no second seed, so
  no noise ceiling can be measured here (``wsbench gt proxyless`` says so).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from harness.api.errors import CorruptDataError, DataMissingError, WsbenchError
from harness.api.ground_truth import GroundTruthQuery, GroundTruthSource, GroundTruthTable
from harness.fileio import sha256_file
from harness.settings import DATA_ENV, data_checksum_status, data_root
from spaces.proxyless import encoding

FILE = "seedpaper/proxylessnas.csv"
COLUMNS = {"top1": "accuracy", "top5": "accuracy_top5"}


def _path() -> Path:
    root = data_root(required=True)
    assert root is not None
    p = root / FILE
    if not p.is_file():
        raise DataMissingError(
            f"ProxylessNAS ground truth not found at {p}; copy {FILE} there or point {DATA_ENV} at a folder holding it"
        )
    return p


@lru_cache(maxsize=2)
def _read(path: str, size: int, mtime: int) -> tuple[dict[str, dict[str, float]], str, str]:
    """arch id -> {top1, top5 (percent), flops, params}, the file's sha256 and how it was checked."""
    import pandas as pd

    p = Path(path)
    status = data_checksum_status(p, FILE, f"ProxylessNAS ground truth {FILE}")
    try:
        frame = pd.read_csv(p)
        ids = [encoding.arch_id(encoding.from_json(json.loads(text))) for text in frame["architecture"]]
        columns = {name: frame[col].to_numpy(dtype=np.float64) for name, col in COLUMNS.items()}
        flops, params = frame["flops"].to_numpy(dtype=np.int64), frame["params"].to_numpy(dtype=np.int64)
    except (KeyError, ValueError, TypeError, json.JSONDecodeError, pd.errors.ParserError, WsbenchError) as e:
        raise CorruptDataError(
            f"{p} is not the seed paper's ProxylessNAS table (architecture JSON, accuracy, accuracy_top5, flops, params): "
            f"{type(e).__name__}: {e}"
        ) from None
    if len(set(ids)) != len(ids):
        raise CorruptDataError(f"{p} lists an architecture twice; the file is damaged")
    for name, values in columns.items():
        if len(values) and not (0 <= values.min() and values.max() <= 1):
            raise CorruptDataError(
                f"{p}: {COLUMNS[name]} must be fractions in [0, 1] as the paper stores them; the file is damaged"
            )
    rows = {
        a: {
            "top1": 100.0 * columns["top1"][i],
            "top5": 100.0 * columns["top5"][i],
            "flops": int(flops[i]),
            "params": int(params[i]),
        }
        for i, a in enumerate(ids)
    }
    return rows, sha256_file(p), status


def table() -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """arch id -> its row (top1, top5 in percent; flops, params as published), and the file's provenance."""
    p = _path()
    st = p.stat()
    rows, sha, status = _read(str(p.resolve()), st.st_size, st.st_mtime_ns)
    return rows, {"file": str(p), "sha256": sha, "checksum": status}


class SeedPaperSource(GroundTruthSource):
    """36 ProxylessNAS architectures (width 1.35) trained from scratch on ImageNet by the seed paper, one run each."""

    space = "proxyless"
    source = "seedpaper"
    description = "seed paper (Zhang et al.): 36 ProxylessNAS networks, width 1.35, ImageNet val top-1/top-5, one run each"
    options = {("imagenet", "val"): ("top1", "top5")}
    seed_reductions = ("as-published",)
    higher_is_better = {"top1": True, "top5": True}

    def available(self) -> tuple[bool, str]:
        """(True, path) when the file is present, else (False, why)."""
        try:
            return True, str(_path())
        except WsbenchError as e:
            return False, str(e)

    def _load(self, query: GroundTruthQuery) -> GroundTruthTable:
        rows, prov = table()
        ids = sorted(rows)
        provenance = {
            **prov,
            "reduction": "one training run per architecture, as published",
            "runs": ["seedpaper"],
            "n_archs": len(ids),
            "unit": "percent (the file stores fractions; multiplied by 100)",
            "complete": True,
        }
        values = np.asarray([rows[a][query.metric] for a in ids])
        return GroundTruthTable(query=query, arch_ids=ids, values=values, higher_is_better=True, provenance=provenance)
