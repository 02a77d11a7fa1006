"""NAS-Bench-101 ground-truth adapters. Every table is keyed by the official module hash.

Accuracies are in percent (the 1k/20k exports and the official file store fractions; they are
multiplied by 100 so NB101 tables read like NB201's and the 500-cell file).

================  ====================================  ==========================  =============================
source            file (under ``$WSBENCH_DATA``)        metrics (cifar10)           seed reduction
================  ====================================  ==========================  =============================
``naslib500``     nb101/nb101-500-cifar10-val.json      valid: accuracy@108         ``mean-of-rows``
``curves1k``      nb101/nb101-1k-curves.json            valid: accuracy@{4,...}     ``one-run``
``hash20k``       nb101/nb101-20k-by-hash.json          valid: accuracy@{4,...}     ``one-run``
``tfrecord``      nasbench_full.tfrecord /              train, valid, test:         ``mean``, ``repeat:<i>``
                  nasbench_only108.tfrecord             accuracy@{4,12,36,108}
================  ====================================  ==========================  =============================

``accuracy@E`` is the accuracy at the end of a run trained with an E-epoch budget (each budget is
a separate run with its own schedule, not a point on the 108-epoch curve).
"""

from __future__ import annotations

import ast
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from harness.api.errors import CorruptDataError, DataMissingError, WsbenchError
from harness.api.ground_truth import GROUND_TRUTHS, GroundTruthQuery, GroundTruthSource, GroundTruthTable
from harness.api.registry import Registry
from harness.fileio import read_sha256sums, sha256_file, verify_sha256
from harness.settings import DATA_ENV, data_root
from spaces.nb101.encoding import CellError, from_naslib_tuple, from_padded, is_module_hash

SPACE = "nb101"
EPOCHS = (4, 12, 36, 108)
ACCURACY_METRICS = tuple(f"accuracy@{e}" for e in EPOCHS)
NUM_REPEATS = 3

_TABLES: dict[tuple[Any, ...], GroundTruthTable] = {}


def clear_cache() -> None:
    """Forget every table and file read in this process."""
    _TABLES.clear()
    _read_json.cache_clear()
    _read_tfrecord.cache_clear()


def _identity(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=4)
def _read_json(path: str, size: int, mtime: int, relative: str) -> tuple[Any, str, str]:
    """Parsed JSON, its sha256, and how it was checked (against SHA256SUMS beside the data)."""
    p = Path(path)
    root = data_root(required=True)
    assert root is not None
    sums = root / "SHA256SUMS"
    status = "no SHA256SUMS beside the data"
    if sums.is_file():
        listed = read_sha256sums(sums)
        if relative in listed:
            verify_sha256(p, listed[relative], f"NB101 ground truth {relative}")
            status = f"verified against {sums}"
        else:
            status = f"not listed in {sums}"
    try:
        obj = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CorruptDataError(f"{p} is not valid JSON ({e}); copy it again") from None
    return obj, sha256_file(p), status


class _JsonSource(GroundTruthSource):
    """A ground truth read from one JSON file under ``$WSBENCH_DATA``."""

    space = SPACE
    RELATIVE = ""
    higher_is_better = {m: True for m in ACCURACY_METRICS}

    def path(self) -> Path:
        """The file; a one-line error naming the setting when absent."""
        root = data_root(required=True)
        assert root is not None
        p = root / self.RELATIVE
        if not p.is_file():
            raise DataMissingError(
                f"NB101 ground truth not found at {p}; copy {self.RELATIVE} there or point {DATA_ENV} at a folder holding it"
            )
        return p

    def available(self) -> tuple[bool, str]:
        """(True, path) when the file is present, else (False, why)."""
        try:
            return True, str(self.path())
        except WsbenchError as e:
            return False, str(e)

    def _load(self, query: GroundTruthQuery) -> GroundTruthTable:
        p = self.path()
        key = (self.source, query, _identity(p))
        if key not in _TABLES:
            obj, sha, status = _read_json(*_identity(p), self.RELATIVE)
            ids, values, extra = self._table(obj, query, p)
            _TABLES[key] = GroundTruthTable(
                query=query,
                arch_ids=ids,
                values=values,
                higher_is_better=self.higher_is_better[query.metric],
                provenance={"file": str(p), "sha256": sha, "checksum": status, "n_archs": len(ids), "unit": "percent", **extra},
            )
        return _TABLES[key]

    def _table(self, obj: Any, query: GroundTruthQuery, path: Path) -> tuple[list[str], np.ndarray, dict[str, Any]]:
        raise NotImplementedError


class NasLib500Source(_JsonSource):
    """500 rows of NASLib's NAS-Bench-Suite-Zero NB101 data: 108-epoch CIFAR-10 validation accuracy.

    Each row holds one run drawn at random from the benchmark's three, and rows are unpruned cells:
    the 500 rows are only 292 distinct cells (module hashes), one of them written 55 times. Seed
    reduction ``mean-of-rows`` averages the rows of each cell (so cells with several rows
    approach the 3-run mean, single-row cells are one run); provenance counts the rows.
    """

    source = "naslib500"
    description = "NASLib NAS-Bench-Suite-Zero: 500 rows (292 cells), 108-epoch CIFAR-10 validation accuracy"
    RELATIVE = "nb101/nb101-500-cifar10-val.json"
    options = {("cifar10", "valid"): ("accuracy@108",)}
    seed_reductions = ("mean-of-rows",)

    def _table(self, obj: Any, query: GroundTruthQuery, path: Path) -> tuple[list[str], np.ndarray, dict[str, Any]]:
        sums: dict[str, list[float]] = {}
        try:
            for key, row in obj.items():
                h = from_naslib_tuple(ast.literal_eval(key)).module_hash
                sums.setdefault(h, []).append(float(row["val_accuracy"]))
        except (AttributeError, ValueError, SyntaxError, KeyError, TypeError, CellError) as e:
            raise CorruptDataError(
                f"{path} is not NASLib's NB101 key -> {{val_accuracy}} mapping ({type(e).__name__}: {e})"
            ) from None
        ids = sorted(sums)
        return (
            ids,
            np.array([np.mean(sums[h]) for h in ids]),
            {"n_rows": sum(map(len, sums.values())), "reduction": "mean over the file's rows per module hash"},
        )


class _CurvesSource(_JsonSource):
    """Parallel-list exports (``key`` = module hash; ``<E>_final_validation_accuracy``), one run per cell."""

    options = {("cifar10", "valid"): ACCURACY_METRICS}
    seed_reductions = ("one-run",)

    def _table(self, obj: Any, query: GroundTruthQuery, path: Path) -> tuple[list[str], np.ndarray, dict[str, Any]]:
        column = f"{query.metric.split('@')[1]}_final_validation_accuracy"
        try:
            keys, vals = list(obj["key"]), np.asarray(obj[column], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as e:
            raise CorruptDataError(f"{path} lacks the parallel lists 'key' and {column!r} ({type(e).__name__}: {e})") from None
        if len(keys) != len(vals) or not all(is_module_hash(k) for k in keys):
            raise CorruptDataError(f"{path}: 'key' must list one 32-hex module hash per value")
        return keys, vals * 100.0, {"column": column}

    def cells(self) -> dict[str, Any]:
        """Module hash -> Cell, where the file stores the cell (the 1k file does; the 20k file does not)."""
        p = self.path()
        obj, _, _ = _read_json(*_identity(p), self.RELATIVE)
        if "adjacency" not in obj:
            raise WsbenchError(f"{p} stores only module hashes; map them with spaces.nb101.enumerate.cell_for_hash")
        return {k: from_padded(a, o) for k, a, o in zip(obj["key"], obj["adjacency"], obj["operations"])}


class Curves1kSource(_CurvesSource):
    """1,000 cells with their adjacency, ops and validation accuracy at 4/12/36/108 epochs (one run each)."""

    source = "curves1k"
    description = "nasbench-vis export: 1,000 cells, CIFAR-10 validation accuracy at 4/12/36/108 epochs, one run"
    RELATIVE = "nb101/nb101-1k-curves.json"


class Hash20kSource(_CurvesSource):
    """The first 20,001 cells in hash order (the 1k included), identified by module hash only.

    All 20,001 hashes are in our full enumeration (``spaces.nb101.enumerate``), so every row maps to a cell.
    """

    source = "hash20k"
    description = "nasbench-vis export: 20,001 cells by module hash, CIFAR-10 validation accuracy at 4/12/36/108 epochs, one run"
    RELATIVE = "nb101/nb101-20k-by-hash.json"


# --------------------------------------------------------------------------- official file

_SPLIT_FIELD = {"train": "train_accuracy", "valid": "validation_accuracy", "test": "test_accuracy"}


@lru_cache(maxsize=2)
def _read_tfrecord(
    path: str, size: int, mtime: int, verify_data: bool
) -> tuple[dict[str, dict[int, list[tuple[float, float, float]]]], dict[str, int]]:
    """hash -> epochs -> [(train, valid, test) accuracy at the end of training] per repeat; and params."""
    from spaces.nb101.tfrecord import read_benchmark

    runs: dict[str, dict[int, list[tuple[float, float, float]]]] = {}
    params: dict[str, int] = {}
    for rec in read_benchmark(Path(path), verify_data=verify_data):
        if len(rec.metrics.evaluation_data) < 3:
            raise CorruptDataError(f"{path}: cell {rec.module_hash} at {rec.epochs} epochs has no end-of-training evaluation")
        final = rec.metrics.evaluation_data[2]
        runs.setdefault(rec.module_hash, {}).setdefault(rec.epochs, []).append(
            (final.train_accuracy, final.validation_accuracy, final.test_accuracy)
        )
        params.setdefault(rec.module_hash, rec.metrics.trainable_parameters)
    return runs, params


class TFRecordSource(GroundTruthSource):
    """The official benchmark file (``nasbench_full.tfrecord`` or ``nasbench_only108.tfrecord``), read without TensorFlow.

    Found at ``$WSBENCH_NB101_TFRECORD`` or under ``$WSBENCH_DATA``. Splits: ``train`` (a fixed 10k
    of the training images), ``valid`` (10k held out of the training set), ``test`` (the 10k test
    set). Seed reductions: ``mean`` over a cell's repeats, or ``repeat:<i>`` for the i-th run in file
    order. ``only108`` files answer only ``accuracy@108``. Set ``WSBENCH_NB101_VERIFY_CRC=0`` to skip the
    pure-Python data checksums on the 2 GB full file.
    """

    space = SPACE
    source = "tfrecord"
    description = "official NAS-Bench-101 TFRecord (3 repeats; 4/12/36/108 epochs)"
    ENV = "WSBENCH_NB101_TFRECORD"
    FILES = (
        "nasbench_full.tfrecord",
        "nasbench_only108.tfrecord",
        "nb101/nasbench_full.tfrecord",
        "nb101/nasbench_only108.tfrecord",
    )
    options = {("cifar10", split): ACCURACY_METRICS for split in _SPLIT_FIELD}
    seed_reductions = ("mean",) + tuple(f"repeat:{i}" for i in range(NUM_REPEATS))
    higher_is_better = {m: True for m in ACCURACY_METRICS}

    def locate(self) -> Path:
        """The file from ``WSBENCH_NB101_TFRECORD`` or ``WSBENCH_DATA``; a one-line error when absent."""
        value = os.environ.get(self.ENV, "").strip()
        if value:
            p = Path(value).expanduser()
            if not p.is_file():
                raise DataMissingError(f"{self.ENV}={value} is not a file; point it at nasbench_full.tfrecord")
            return p
        root = data_root(required=False)
        for name in self.FILES:
            if root is not None and (root / name).is_file():
                return root / name
        raise DataMissingError(
            f"NB101 benchmark file not found: set {self.ENV}, or put {self.FILES[0]} or {self.FILES[1]} in ${DATA_ENV}"
        )

    def available(self) -> tuple[bool, str]:
        """(True, path) when the file is present, else (False, why)."""
        try:
            return True, str(self.locate())
        except WsbenchError as e:
            return False, str(e)

    def _load(self, query: GroundTruthQuery) -> GroundTruthTable:
        p = self.locate()
        key = (self.source, query, _identity(p))
        if key in _TABLES:
            return _TABLES[key]
        verify = os.environ.get("WSBENCH_NB101_VERIFY_CRC", "1").strip() != "0"
        runs, _ = _read_tfrecord(*_identity(p), verify)
        epochs = int(query.metric.split("@")[1])
        field = ("train", "valid", "test").index(query.split)
        have = sorted({e for per in runs.values() for e in per})
        if epochs not in have:
            raise WsbenchError(f"{p} has no {epochs}-epoch runs (it has {have}); use the full file nasbench_full.tfrecord")
        ids, values, skipped = [], [], 0
        for h in sorted(runs):
            reps = runs[h].get(epochs, [])
            if query.seed_reduction == "mean":
                if not reps:
                    skipped += 1
                    continue
                values.append(100.0 * float(np.mean([r[field] for r in reps])))
            else:
                i = int(query.seed_reduction.split(":")[1])
                if i >= len(reps):
                    skipped += 1
                    continue
                values.append(100.0 * reps[i][field])
            ids.append(h)
        table = GroundTruthTable(
            query=query,
            arch_ids=ids,
            values=np.array(values),
            higher_is_better=True,
            provenance={
                "file": str(p),
                "file_size": _identity(p)[1],
                "field": _SPLIT_FIELD[query.split],
                "evaluation": "evaluation_data[2] (end of training)",
                "n_archs": len(ids),
                "n_skipped_missing_run": skipped,
                "data_crc_verified": verify,
                "unit": "percent",
            },
        )
        _TABLES[key] = table
        return table


# --------------------------------------------------------------------------- registration

SOURCES: dict[str, str] = {
    "nb101/naslib500": "spaces.nb101.ground_truth:NasLib500Source",
    "nb101/curves1k": "spaces.nb101.ground_truth:Curves1kSource",
    "nb101/hash20k": "spaces.nb101.ground_truth:Hash20kSource",
    "nb101/tfrecord": "spaces.nb101.ground_truth:TFRecordSource",
}


def register_ground_truths(registry: Registry = GROUND_TRUTHS) -> None:
    """Register the NB101 sources lazily (skipping names already registered)."""
    for name, target in SOURCES.items():
        if name not in registry:
            registry.add_lazy(name, target)
