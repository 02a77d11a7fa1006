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

Every source's example (``write_example``) draws from one fixed set of cells (``example_cells``):
the curves1k example stores them all, so the other examples' module hashes resolve through it as the
space resolves real hashes through the 1k file -- never through the 423k-cell enumeration.
"""

from __future__ import annotations

import ast
import json
import math
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from harness.api.errors import CorruptDataError, DataMissingError, WsbenchError
from harness.api.ground_truth import GroundTruthQuery, GroundTruthSource, GroundTruthTable
from harness.data import ground_truth_files
from harness.data.ground_truth_files import FileBackedSource, example_archs, example_file, file_identity
from harness.settings import DATA_ENV, data_root
from spaces.nb101.encoding import (
    INPUT,
    MAX_VERTICES,
    OPS,
    OUTPUT,
    PAD_LABEL,
    Cell,
    CellError,
    from_naslib_tuple,
    from_padded,
    is_module_hash,
    make_cell,
)

SPACE = "nb101"
EPOCHS = (4, 12, 36, 108)
ACCURACY_METRICS = tuple(f"accuracy@{e}" for e in EPOCHS)
NUM_REPEATS = 3
#: The examples' cells: a fixed draw (not the writer's rng), so every source's example shares them.
EXAMPLE_SEED = 101
EXAMPLE_CELLS = 24

_TABLES: dict[tuple[Any, ...], GroundTruthTable] = {}


def clear_cache() -> None:
    """Forget every table and file read in this process."""
    _TABLES.clear()
    ground_truth_files.clear_cache()
    _read_tfrecord.cache_clear()


_identity = file_identity


def _read_json(path: str, size: int, mtime: int, relative: str) -> tuple[Any, str, str]:
    """The parsed JSON file at ``relative``, its sha256 and checksum status (``harness.analysis.learning_curves`` reads it so)."""
    source = next(cls for cls in (NasLib500Source, Curves1kSource, Hash20kSource) if cls.RELATIVE == relative)()
    obj, provenance = source.read()
    return obj, provenance["sha256"], provenance["checksum"]


class _JsonSource(FileBackedSource):
    """A ground truth read from one JSON file under ``$WSBENCH_DATA``."""

    space = SPACE
    RELATIVE = ""
    higher_is_better = {m: True for m in ACCURACY_METRICS}
    missing_label = "NB101 ground truth"
    checksum_label = "NB101 ground truth {relative}"

    def parse(self, path: Path) -> Any:
        """The file's JSON."""
        try:
            return json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise CorruptDataError(f"{path} is not valid JSON ({e}); copy it again") from None

    def _load(self, query: GroundTruthQuery) -> GroundTruthTable:
        p = self.path()
        key = (self.source, query, file_identity(p))
        if key not in _TABLES:
            obj, provenance = self.read()
            ids, values, extra = self._table(obj, query, p)
            _TABLES[key] = GroundTruthTable(
                query=query,
                arch_ids=ids,
                values=values,
                higher_is_better=self.higher_is_better[query.metric],
                provenance={**provenance, "n_archs": len(ids), "unit": "percent", **extra},
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
    files = {None: RELATIVE}
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

    @classmethod
    def write_example(cls, root: Path, rng: np.random.Generator) -> None:
        """NASLib's key -> {val_accuracy (percent), flops_m, params_m} over 16 example cells, some written twice."""
        from spaces.nb101.cost import arch_cost

        rows: dict[str, dict[str, float]] = {}
        for i in sorted(rng.choice(EXAMPLE_CELLS, size=16, replace=False)):
            cell = example_cells()[i]
            quality, params_m = rng.uniform(88.0, 94.5), arch_cost(cell).params / 1e6
            # Like the real file, some cells come twice: another spelling (a dead vertex's op changed), another run.
            for spelling in dict.fromkeys([cell, _respelled(cell, rng)]):
                rows[str(naslib_tuple(spelling))] = {
                    "val_accuracy": float(np.clip(quality + rng.normal(0, 0.3), 0, 100)),
                    "flops_m": round(float(rng.uniform(100, 1000)), 6),
                    "params_m": params_m,
                }
        example_file(root, cls.RELATIVE).write_text(json.dumps(rows, indent=0))


class _CurvesSource(_JsonSource):
    """Parallel-list exports (``key`` = module hash; ``<E>_final_validation_accuracy``), one run per cell."""

    options = {("cifar10", "valid"): ACCURACY_METRICS}
    seed_reductions = ("one-run",)
    #: Whether the export lists each cell's adjacency and ops (the 1k does), not only its hash.
    STORES_CELLS = False

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
        obj, provenance = self.read()
        if "adjacency" not in obj:
            raise WsbenchError(
                f"{provenance['file']} stores only module hashes; map them with spaces.nb101.enumerate.cell_for_hash"
            )
        return {k: from_padded(a, o) for k, a, o in zip(obj["key"], obj["adjacency"], obj["operations"])}

    @classmethod
    def write_example(cls, root: Path, rng: np.random.Generator) -> None:
        """The export's parallel lists over all example cells (the 1k and 20k examples are one export: same values)."""
        example_file(root, cls.RELATIVE).write_text(json.dumps(_example_export(cls.STORES_CELLS)))


class Curves1kSource(_CurvesSource):
    """1,000 cells with their adjacency, ops and validation accuracy at 4/12/36/108 epochs (one run each)."""

    source = "curves1k"
    description = "nasbench-vis export: 1,000 cells, CIFAR-10 validation accuracy at 4/12/36/108 epochs, one run"
    RELATIVE = "nb101/nb101-1k-curves.json"
    files = {None: RELATIVE}
    STORES_CELLS = True


class Hash20kSource(_CurvesSource):
    """The first 20,001 cells in hash order (the 1k included), identified by module hash only.

    All 20,001 hashes are in our full enumeration (``spaces.nb101.enumerate``), so every row maps to a cell.
    """

    source = "hash20k"
    description = "nasbench-vis export: 20,001 cells by module hash, CIFAR-10 validation accuracy at 4/12/36/108 epochs, one run"
    RELATIVE = "nb101/nb101-20k-by-hash.json"
    files = {None: RELATIVE}


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
        key = (self.source, query, file_identity(p))
        if key in _TABLES:
            return _TABLES[key]
        verify = os.environ.get("WSBENCH_NB101_VERIFY_CRC", "1").strip() != "0"
        runs, _ = _read_tfrecord(*file_identity(p), verify)
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
                "file_size": file_identity(p)[1],
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

    @classmethod
    def write_example(cls, root: Path, rng: np.random.Generator) -> None:
        """``nasbench_full.tfrecord``: 12 example cells x 4 epoch budgets x 3 repeats (accuracies as fractions, as stored)."""
        from spaces.nb101.tfrecord import encode_record, write_records

        cells = [example_cells()[i].pruned() for i in sorted(rng.choice(EXAMPLE_CELLS, size=12, replace=False))]
        write_records(example_file(root, cls.FILES[0]), [encode_record(r) for r in example_records(cells, rng)])


# --------------------------------------------------------------------------- example files

#: NASLib's op codes (``from_naslib_tuple`` reads them).
_NASLIB_CODES = {INPUT: 0, OUTPUT: 1, "maxpool3x3": 2, "conv1x1-bn-relu": 3, "conv3x3-bn-relu": 4}


@lru_cache(maxsize=1)
def example_cells() -> tuple[Cell, ...]:
    """The raw 7-vertex cells every NB101 example draws from: distinct module hashes, in hash order."""
    from spaces.nb101.sampling import sample_cell

    # A fixed seed, not a writer's rng: hash20k, naslib500 and tfrecord examples must name only cells
    # the curves1k example stores, or parsing their hashes would need the full enumeration.
    cells = example_archs(np.random.default_rng(EXAMPLE_SEED), sample_cell, lambda c: c.module_hash, EXAMPLE_CELLS)
    return tuple(sorted(cells, key=lambda c: c.module_hash))


def naslib_tuple(cell: Cell) -> tuple[int, ...]:
    """NASLib's 56-tuple of a 7-vertex cell: the matrix row-major, then the op codes (inverse of ``from_naslib_tuple``)."""
    if cell.num_vertices != MAX_VERTICES:
        raise CellError(f"a NASLib NB101 key spells all {MAX_VERTICES} vertices; this cell has {cell.num_vertices}")
    return tuple(int(x) for row in cell.matrix for x in row) + tuple(_NASLIB_CODES[op] for op in cell.ops)


def _respelled(cell: Cell, rng: np.random.Generator) -> Cell:
    """Sometimes the same cell spelled otherwise (a vertex off every input->output path gets another op), else ``cell``."""
    dead = [v for v in range(1, cell.num_vertices - 1) if v not in cell.live_vertices()]
    if not dead or rng.uniform() < 0.5:
        return cell
    ops = list(cell.ops)
    v = int(rng.choice(dead))
    ops[v] = OPS[(OPS.index(ops[v]) + 1) % len(OPS)]
    return make_cell(cell.array(), ops)


def _accuracy(epochs: float, quality: float, rng: np.random.Generator) -> float:
    """A plausible final accuracy (fraction) after ``epochs`` for a cell of ``quality`` in [0, 1]: short budgets land lower."""
    return float(np.clip(0.93 - 0.55 * math.exp(-epochs / 10) - 0.06 * (1 - quality) + rng.normal(0, 0.003), 0, 1))


def _padded(cell: Cell) -> tuple[list[list[float]], list[int]]:
    """A pruned cell as the export pads it: a 7x7 float matrix, and labels with -3 after the output."""
    matrix = np.zeros((MAX_VERTICES, MAX_VERTICES))
    matrix[: cell.num_vertices, : cell.num_vertices] = cell.array()
    return matrix.tolist(), cell.labels() + [PAD_LABEL] * (MAX_VERTICES - cell.num_vertices)


def _example_export(stores_cells: bool) -> dict[str, list[Any]]:
    """The nasbench-vis export of every example cell, in hash order: one run's validation accuracy per budget (fractions)."""
    from spaces.nb101.cost import arch_cost

    # Not a writer's rng: the 1k and 20k examples are one export and must agree on every value.
    rng = np.random.default_rng(EXAMPLE_SEED + 1)
    cells = [c.pruned() for c in example_cells()]
    quality = rng.uniform(0, 1, size=len(cells))
    out: dict[str, list[Any]] = {f"{e}_final_validation_accuracy": [_accuracy(e, q, rng) for q in quality] for e in EPOCHS}
    out["final_training_time"] = rng.uniform(400, 5000, size=len(cells)).tolist()
    out["trainable_parameters"] = [arch_cost(c).params for c in cells]
    if stores_cells:
        out["operations"] = [_padded(c)[1] for c in cells]
        out["adjacency"] = [_padded(c)[0] for c in cells]
    out["key"] = [c.module_hash for c in cells]
    return out


def example_records(
    cells: Sequence[Cell], rng: np.random.Generator, epochs: Sequence[int] = EPOCHS, repeats: int = NUM_REPEATS
) -> list[Any]:
    """Official benchmark records of pruned ``cells``, one per (budget, repeat), evaluated at the start, half-way and end."""
    from spaces.nb101.cost import arch_cost
    from spaces.nb101.tfrecord import Evaluation, ModelMetrics, Record

    records = []
    for cell in cells:
        adjacency = "".join(str(x) for row in cell.matrix for x in row)
        quality, params = float(rng.uniform()), arch_cost(cell).params
        for e in epochs:
            for _ in range(repeats):
                seconds = float(rng.uniform(10, 50)) * e
                evals = [Evaluation(0.0, 0.0, *(float(a) for a in rng.uniform(0.08, 0.12, size=3)))]
                for at in (e / 2, float(e)):
                    valid = _accuracy(at, quality, rng)
                    train, test = min(1.0, valid + float(rng.uniform(0.02, 0.07))), _accuracy(at, quality, rng)
                    evals.append(Evaluation(at, seconds * at / e, train, valid, test))
                records.append(Record(cell.module_hash, e, adjacency, cell.ops, ModelMetrics(evals, params, seconds)))
    return records


# ------------------------------------------------------------------ the same tables, for the sub-space

#: NAS-Bench-1Shot1's third space as the seed paper trains it (``spaces.nb101.space.NB1Shot1CSpace``):
#: its cells are NB101 cells, so its ground truths are NB101's tables, registered under its own name.
SPACE_1SHOT1C = "nb101-1shot1c"


class NasLib500Source1Shot1C(NasLib500Source):
    """``naslib500`` for space nb101-1shot1c."""

    space = SPACE_1SHOT1C


class Hash20kSource1Shot1C(Hash20kSource):
    """``hash20k`` for space nb101-1shot1c."""

    space = SPACE_1SHOT1C


class TFRecordSource1Shot1C(TFRecordSource):
    """``tfrecord`` for space nb101-1shot1c (the seed paper's ground truth: the mean of the 3 runs at 108 epochs)."""

    space = SPACE_1SHOT1C
