"""Channel-Bench-Macro ground truth: every width configuration of a backbone trained 3 times on CIFAR-10.

Files (under ``$WSBENCH_DATA``): ``cbm/Results_MobileNet.json`` and ``cbm/Results_ResNet.json``
(public repository xiusu/Channel-Bench-Macro; no license file: research use, never redistributed
here). Each maps a 7-digit key to ``acc`` (three test accuracies, percent), ``mean``, ``std``,
``params`` and ``flops``.

**Caveat, stated in every table's provenance:** each stored accuracy is the *best test accuracy
over the 60 training epochs* (SGD lr 0.1 cosine, wd 5e-4, batch 256), i.e. selected on the test
set. The metric is therefore named ``best-accuracy``, on split ``test``, never plain accuracy.

Seed reductions: ``mean`` (the file's mean of the three runs, checked against the runs), ``run:0``,
``run:1``, ``run:2`` (one training run). ``wsbench gt`` compares the single runs with each other:
the ceiling (Kendall tau about 0.61 MobileNet, 0.56 ResNet).
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
from spaces.cbm.encoding import NUM_ARCHS, from_key

FILES = {"mobilenet": "cbm/Results_MobileNet.json", "resnet": "cbm/Results_ResNet.json"}
RUNS = 3
CAVEAT = "best test accuracy over the 60 training epochs (selected on the test set)"


def _path(backbone: str) -> Path:
    root = data_root(required=True)
    assert root is not None
    p = root / FILES[backbone]
    if not p.is_file():
        raise DataMissingError(
            f"Channel-Bench-Macro {backbone} results not found at {p}; copy {FILES[backbone]} there or point {DATA_ENV} at a folder holding it"
        )
    return p


@lru_cache(maxsize=4)
def _read(path: str, size: int, mtime: int, relative: str) -> tuple[list[str], np.ndarray, np.ndarray, str, str]:
    """(keys, runs [n, 3], file means, sha256, checksum status) of one results file."""
    p = Path(path)
    status = data_checksum_status(p, relative, f"Channel-Bench-Macro {relative}")
    try:
        obj = json.loads(p.read_text())
        keys = sorted(obj)
        for k in keys:
            from_key(k)
        runs = np.array([[float(a) for a in obj[k]["acc"]] for k in keys])
        means = np.array([float(obj[k]["mean"]) for k in keys])
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError, WsbenchError) as e:
        raise CorruptDataError(
            f"{p} is not a Channel-Bench-Macro results file ({type(e).__name__}: {e}); copy it again"
        ) from None
    if runs.shape != (len(keys), RUNS):
        raise CorruptDataError(f"{p}: every key needs {RUNS} accuracies in 'acc', got shape {runs.shape}")
    if not np.allclose(runs.mean(axis=1), means, atol=1e-4):
        raise CorruptDataError(f"{p}: 'mean' does not equal the mean of 'acc'; the file is damaged")
    return keys, runs, means, sha256_file(p), status


class _CBMSource(GroundTruthSource):
    """One backbone's results file."""

    backbone = ""
    source = "cbm"
    options = {("cifar10", "test"): ("best-accuracy",)}
    seed_reductions = ("mean", *(f"run:{i}" for i in range(RUNS)))
    report_reductions = tuple(f"run:{i}" for i in range(RUNS))
    higher_is_better = {"best-accuracy": True}

    def available(self) -> tuple[bool, str]:
        """(True, path) when the file is present, else (False, why)."""
        try:
            return True, str(_path(self.backbone))
        except WsbenchError as e:
            return False, str(e)

    def _load(self, query: GroundTruthQuery) -> GroundTruthTable:
        p = _path(self.backbone)
        st = p.stat()
        keys, runs, means, sha, status = _read(str(p.resolve()), st.st_size, st.st_mtime_ns, FILES[self.backbone])
        if query.seed_reduction == "mean":
            values, reduction, run_ids = means, f"mean of the {RUNS} runs (the file's 'mean')", [f"run{i}" for i in range(RUNS)]
        else:
            run = int(query.seed_reduction.split(":")[1])
            values, reduction, run_ids = runs[:, run], f"training run {run} of {RUNS}", [f"run{run}"]
        provenance: dict[str, Any] = {
            "file": str(p),
            "sha256": sha,
            "checksum": status,
            "n_archs": len(keys),
            "unit": "percent",
            "reduction": reduction,
            "runs": run_ids,  # which training runs the values come from (a ceiling needs disjoint ones)
            "caveat": CAVEAT,
            "complete": len(keys) == NUM_ARCHS,
        }
        return GroundTruthTable(query=query, arch_ids=keys, values=values, higher_is_better=True, provenance=provenance)


class MobileNetSource(_CBMSource):
    """Channel-Bench-Macro, MobileNet-like backbone: 16,384 widths x 3 runs."""

    space = "cbm-mobilenet"
    backbone = "mobilenet"
    description = f"Channel-Bench-Macro MobileNet: 16,384 width configs x 3 CIFAR-10 runs; {CAVEAT}"


class ResNetSource(_CBMSource):
    """Channel-Bench-Macro, ResNet-like backbone: 16,384 widths x 3 runs."""

    space = "cbm-resnet"
    backbone = "resnet"
    description = f"Channel-Bench-Macro ResNet: 16,384 width configs x 3 CIFAR-10 runs; {CAVEAT}"


SOURCES: dict[str, str] = {
    "cbm-mobilenet/cbm": "spaces.cbm.ground_truth:MobileNetSource",
    "cbm-resnet/cbm": "spaces.cbm.ground_truth:ResNetSource",
}


def register_ground_truths(registry: Registry = GROUND_TRUTHS) -> None:
    """Register the Channel-Bench-Macro sources lazily (skipping names already registered)."""
    for name, target in SOURCES.items():
        if name not in registry:
            registry.add_lazy(name, target)
