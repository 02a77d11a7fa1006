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
from pathlib import Path
from typing import Any

import numpy as np

from harness.api.errors import CorruptDataError, WsbenchError
from harness.api.ground_truth import GroundTruthQuery, GroundTruthTable
from harness.data.ground_truth_files import FileBackedSource, example_archs, write_example_csv
from spaces.proxyless import encoding

FILE = "seedpaper/proxylessnas.csv"
COLUMNS = {"top1": "accuracy", "top5": "accuracy_top5"}
#: Architectures in the example file (``write_example``).
EXAMPLE_ARCHS = 12


class SeedPaperSource(FileBackedSource):
    """36 ProxylessNAS architectures (width 1.35) trained from scratch on ImageNet by the seed paper, one run each."""

    space = "proxyless"
    source = "seedpaper"
    description = "seed paper (Zhang et al.): 36 ProxylessNAS networks, width 1.35, ImageNet val top-1/top-5, one run each"
    options = {("imagenet", "val"): ("top1", "top5")}
    seed_reductions = ("as-published",)
    higher_is_better = {"top1": True, "top5": True}
    files = {None: FILE}
    missing_label = "ProxylessNAS ground truth"
    checksum_label = "ProxylessNAS ground truth {relative}"

    def parse(self, path: Path) -> dict[str, dict[str, Any]]:
        """Arch id -> {top1, top5 (percent), flops, params (as published)}."""
        import pandas as pd

        try:
            frame = pd.read_csv(path)
            ids = [encoding.arch_id(encoding.from_json(json.loads(text))) for text in frame["architecture"]]
            columns = {name: frame[col].to_numpy(dtype=np.float64) for name, col in COLUMNS.items()}
            counts = {name: frame[name].to_numpy(dtype=np.float64) for name in ("flops", "params")}
        except (KeyError, ValueError, TypeError, json.JSONDecodeError, pd.errors.ParserError, WsbenchError) as e:
            raise CorruptDataError(
                f"{path} is not the seed paper's ProxylessNAS table (architecture JSON, accuracy, accuracy_top5, flops, params): "
                f"{type(e).__name__}: {e}"
            ) from None
        if len(set(ids)) != len(ids):
            raise CorruptDataError(f"{path} lists an architecture twice; the file is damaged")
        for name, values in columns.items():
            if len(values) and not (0 <= values.min() and values.max() <= 1):
                raise CorruptDataError(
                    f"{path}: {COLUMNS[name]} must be fractions in [0, 1] as the paper stores them; the file is damaged"
                )
        _check_top5(path, columns["top1"], columns["top5"])
        flops, params = (_counts(path, name, values) for name, values in counts.items())
        return {
            a: {
                "top1": 100.0 * columns["top1"][i],
                "top5": 100.0 * columns["top5"][i],
                "flops": int(flops[i]),
                "params": int(params[i]),
            }
            for i, a in enumerate(ids)
        }

    def _load(self, query: GroundTruthQuery) -> GroundTruthTable:
        rows, prov = self.read()
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

    @classmethod
    def write_example(cls, root: Path, rng: np.random.Generator) -> None:
        """The CSV over 12 sampled architectures, top-1/top-5 as fractions like the paper's."""
        archs = example_archs(rng, _sample, encoding.arch_id, EXAMPLE_ARCHS)
        top1 = np.round(rng.uniform(0.745, 0.775, size=len(archs)), 5)
        # Top-5 follows top-1 (the same network), about 17 points higher.
        top5 = np.round(np.clip(top1 + 0.17 + rng.normal(0, 0.002, size=len(archs)), 0, 1), 5)
        flops, params = (
            rng.integers(450_000_000, 650_000_000, size=len(archs)),
            rng.integers(5_000_000, 7_500_000, size=len(archs)),
        )
        rows = (
            [json.dumps(json.loads(encoding.to_json(a)), separators=(",", ":")), t1, t5, int(f), int(p)]
            for a, t1, t5, f, p in zip(archs, top1.tolist(), top5.tolist(), flops, params)
        )
        write_example_csv(root, FILE, ("architecture", *COLUMNS.values(), "flops", "params"), rows)


def _counts(path: Path, column: str, values: np.ndarray) -> np.ndarray:
    """A FLOPs or parameter column as integers; a fractional or negative count is damage, not something to truncate."""
    bad = ~np.isfinite(values) | (values < 0) | (values != np.floor(values))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise CorruptDataError(
            f"{path} line {i + 2}: {column} is {float(values[i])}, not a whole count (a float would be truncated); the file is damaged"
        )
    return values.astype(np.int64)


def _check_top5(path: Path, top1: np.ndarray, top5: np.ndarray) -> None:
    """Top-5 accuracy is never below top-1 (the right class in the first guess is in the first five): row by row."""
    below = np.flatnonzero(top5 < top1)
    if below.size:
        i = int(below[0])
        raise CorruptDataError(
            f"{path} line {i + 2}: {COLUMNS['top5']} {top5[i]:g} is below {COLUMNS['top1']} {top1[i]:g} "
            f"({below.size} such rows); the two columns are swapped or the file is damaged"
        )


def _sample(rng: np.random.Generator) -> encoding.Arch:
    """A uniform architecture: one option per layer (zero only where a shortcut exists)."""
    return encoding.check(tuple(int(rng.integers(encoding.options_at(i))) for i in range(encoding.NUM_LAYERS)))
