"""NAS-Bench-201 ground-truth adapters: the shared CSV export, analog-nasbench, the official
``.pth`` benchmark file and NATS-Bench (topology).

Every table is keyed by the official arch string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``,
normalised through ``spaces.nb201.encoding`` so strings from any source compare equal.
Each table's provenance names the file (path, sha256) and the reading package (name, version).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.resources
import importlib.util
import math
import os
import pickle
import re
import sys
import types
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.api.errors import CorruptDataError, DataMissingError, UnknownNameError, WsbenchError, unknown
from harness.api.ground_truth import GroundTruthQuery, GroundTruthSource, GroundTruthTable
from harness.data import ground_truth_files
from harness.data.ground_truth_files import FileBackedSource, example_file, file_identity, write_example_csv
from harness.fileio import sha256_file
from harness.settings import DATA_ENV, data_root
from spaces.nb201.encoding import EDGES, NUM_ARCHS, OP_INDEX, OPS, Arch, ArchStringError, check_arch, parse_arch_str, to_arch_str

SPACE = "nb201"

# Process-wide cache of loaded tables: (source, query, file identity) -> table. Loading is
# deterministic, so a cached table is exactly what a fresh load would give.
_TABLE_CACHE: dict[tuple[Any, ...], GroundTruthTable] = {}
# The last opened official-API object per source class (the files are gigabytes: keep one).
_API_CACHE: dict[type, tuple[Any, tuple[Any, Any]]] = {}


def canonical_arch_str(arch: str) -> str:
    """The official string of ``arch`` after a parse/print round trip (one spelling per cell)."""
    return to_arch_str(parse_arch_str(arch))


def has_input_output_path(arch: Arch) -> bool:
    """True when some chain of non-``none`` edges links the cell input (node 0) to its output (node 3)."""
    reach = {0}
    for (target, source), op in sorted(zip(EDGES, check_arch(arch)), key=lambda e: e[0][0]):
        # EDGES sorted by target node visits every edge into node i after all edges into i-1.
        if op != OP_INDEX["none"] and source in reach:
            reach.add(target)
    return 3 in reach


def _package_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _cached(key: tuple[Any, ...], build: Callable[[], GroundTruthTable]) -> GroundTruthTable:
    if key not in _TABLE_CACHE:
        _TABLE_CACHE[key] = build()
    return _TABLE_CACHE[key]


def clear_cache() -> None:
    """Forget every table loaded in this process (tests use it to force a re-read)."""
    _TABLE_CACHE.clear()
    _API_CACHE.clear()
    _analog_raw.cache_clear()
    ground_truth_files.clear_cache()


def _check_seed_reduction(src: GroundTruthSource, query: GroundTruthQuery, why: str) -> None:
    """Unknown seed reduction: the standard did-you-mean error plus the source's reason."""
    if query.seed_reduction not in src.seed_reductions:
        err = unknown(f"seed reduction for {src.space}/{src.source}", query.seed_reduction, src.seed_reductions)
        raise UnknownNameError(f"{err}; {why}")


# --------------------------------------------------------------------------- the shared CSV


class NB201CsvSource(FileBackedSource):
    """The all-15,625-cell CSV export of the official benchmark (200-epoch test accuracy, seed mean).

    Columns were exported with ``get_more_info(i, dataset, hp='200', is_random=False)``:

    ======================  =====  ===================================  ======================================
    dataset                 split  column                               meaning
    ======================  =====  ===================================  ======================================
    ``cifar10``             test   ``CIFAR10TestAccuracy200Epochs``     trained on train+valid, tested on test
    ``cifar100``            test   ``CIFAR100TestAccuracy200Epochs``    official ``x-test`` half of the test set
    ``ImageNet16-120``      test   ``ImageNetTestAccuracy200Epochs``    official ``x-test`` half of the test set
    ======================  =====  ===================================  ======================================
    """

    space = SPACE
    source = "csv"
    version = 1
    description = "CSV export of NAS-Bench-201: 200-epoch test accuracy, mean over the benchmark's seeds"
    RELATIVE = "nb201/nb201-test-acc-200ep.csv"
    files = {None: RELATIVE}
    missing_label = "NB201 CSV ground truth"
    checksum_label = "NB201 CSV ground truth"
    HEADER = (
        "CIFAR10TestAccuracy200Epochs",
        "CIFAR100TestAccuracy200Epochs",
        "ImageNetTestAccuracy200Epochs",
        "ArchitectureString",
        "UniqueString",
    )
    COLUMNS = {
        ("cifar10", "test"): "CIFAR10TestAccuracy200Epochs",
        ("cifar100", "test"): "CIFAR100TestAccuracy200Epochs",
        ("ImageNet16-120", "test"): "ImageNetTestAccuracy200Epochs",
    }
    options = {key: ("accuracy",) for key in COLUMNS}
    seed_reductions = ("mean",)
    higher_is_better = {"accuracy": True}

    def validate(self, query: GroundTruthQuery) -> None:
        """Reject any field the export cannot answer; per-seed values do not exist in it."""
        _check_seed_reduction(self, query, "the CSV holds only the mean over the benchmark's seeds, no per-seed values")
        super().validate(query)

    def parse(self, path: Path) -> pd.DataFrame:
        """The checked export: one canonical arch string and three accuracies per cell."""
        return _parse_nb201_csv(path, self.HEADER)

    def _load(self, query: GroundTruthQuery) -> GroundTruthTable:
        path = self.path()
        column = self.COLUMNS[(query.dataset, query.split)]

        def build() -> GroundTruthTable:
            frame, provenance = self.read()
            return GroundTruthTable(
                query=query,
                arch_ids=list(frame["arch"]),
                values=frame[column].to_numpy(dtype=np.float64),
                higher_is_better=self.higher_is_better[query.metric],
                provenance={**provenance, "column": column, "n_archs": len(frame), "package": f"pandas {pd.__version__}"},
            )

        return _cached((self.source, query, file_identity(path)), build)

    @classmethod
    def write_example(cls, root: Path, rng: np.random.Generator) -> None:
        """The export over every cell (the parser demands all 15,625), in official order, with drawn accuracies."""
        from spaces.nb201.isomorphism import canonical
        from spaces.nb201.official_order import arch_at_official_index

        archs = [arch_at_official_index(i) for i in range(NUM_ARCHS)]
        quality = rng.uniform(0, 1, size=(NUM_ARCHS, 1))
        # One quality per cell drives all three datasets (their rankings agree, as the real ones largely do).
        low, high = np.array([85.0, 55.0, 25.0]), np.array([94.4, 73.5, 47.3])
        accuracy = low + (high - low) * quality + rng.normal(0, 0.3, size=(NUM_ARCHS, 3))
        # A cell without an input->output path outputs a constant: chance accuracy (10, 100 and 120 classes).
        accuracy[[not has_input_output_path(a) for a in archs]] = [10.0, 1.0, 100 / 120]
        rows = ([*row, to_arch_str(a), canonical(a)] for row, a in zip(np.clip(accuracy, 0, 100).tolist(), archs))
        write_example_csv(root, cls.RELATIVE, cls.HEADER, rows)


def _parse_nb201_csv(path: Path, header: tuple[str, ...]) -> pd.DataFrame:
    """Parse and check the CSV: exact header, 15,625 distinct valid cells, finite accuracies."""
    fix = "the file is truncated or corrupt: copy it again from the shared data folder"
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise CorruptDataError(f"cannot parse {path} ({str(e).splitlines()[0]}); {fix}") from None
    if tuple(frame.columns) != header:
        raise CorruptDataError(f"{path} has header {list(frame.columns)}, expected {list(header)}; {fix}")
    if len(frame) != NUM_ARCHS:
        raise CorruptDataError(f"{path} has {len(frame)} rows, expected {NUM_ARCHS}; {fix}")
    try:
        arch = [canonical_arch_str(s) for s in frame["ArchitectureString"]]
    except ArchStringError as e:
        raise CorruptDataError(f"{path}: {e}; {fix}") from None
    if len(set(arch)) != NUM_ARCHS:
        raise CorruptDataError(f"{path} lists {NUM_ARCHS - len(set(arch))} duplicate architectures; {fix}")
    out = pd.DataFrame({"arch": arch})
    for col in header[:3]:
        values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.flatnonzero(bad)[0]) + 2  # 1-based, after the header line
            raise CorruptDataError(f"{path} line {row}: {col} is {frame[col].iloc[row - 2]!r}, not a finite number; {fix}")
        out[col] = values
    return out


# --------------------------------------------------------------------------- analog-nasbench

#: analog-nasbench / NASLib key convention: tuple position -> (source node, target node) ...
NASLIB_EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))
#: ... and op code -> op name.
NASLIB_OPS: tuple[str, ...] = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
# For each of our tuple positions (target, source), the NASLib position of the same edge.
_NASLIB_POS = tuple(NASLIB_EDGES.index((source, target)) for target, source in EDGES)


def naslib_to_arch(key: tuple[int, ...]) -> Arch:
    """An analog-nasbench / NASLib 6-tuple key as our tuple (edge order and op codes both differ)."""
    if len(key) != len(NASLIB_EDGES) or any(not 0 <= int(c) < len(NASLIB_OPS) for c in key):
        raise ArchStringError(f"NASLib NB201 key must be 6 op codes in 0..4, got {key!r}")
    return tuple(OP_INDEX[NASLIB_OPS[int(key[pos])]] for pos in _NASLIB_POS)  # type: ignore[return-value]


def arch_to_naslib(arch: Arch) -> tuple[int, ...]:
    """Our tuple as an analog-nasbench / NASLib key (inverse of ``naslib_to_arch``)."""
    a = check_arch(arch)
    key = [0] * len(NASLIB_EDGES)
    for ours, pos in enumerate(_NASLIB_POS):
        key[pos] = NASLIB_OPS.index(OPS[a[ours]])
    return tuple(key)


@contextlib.contextmanager
def _pkg_resources_shim() -> Iterator[None]:
    """Provide ``pkg_resources.resource_filename`` for the import only, when setuptools lacks it.

    analog-nasbench imports ``pkg_resources`` at import time; setuptools >= 81 no longer ships
    it. The stand-in is inserted only when no real module exists and removed afterwards.
    """
    if "pkg_resources" in sys.modules or importlib.util.find_spec("pkg_resources") is not None:
        yield
        return
    shim = types.ModuleType("pkg_resources")
    shim.resource_filename = lambda pkg, name: str(importlib.resources.files(pkg).joinpath(name))  # type: ignore[attr-defined]
    sys.modules["pkg_resources"] = shim
    try:
        yield
    finally:
        if sys.modules.get("pkg_resources") is shim:
            del sys.modules["pkg_resources"]


def _analog_file() -> Path:
    spec = importlib.util.find_spec("analognasbench")
    if spec is None or not spec.submodule_search_locations:
        raise DataMissingError("the analog-nasbench package is not installed; run: pip install analog-nasbench")
    # Located from the import spec, not importlib.resources: that would import the package,
    # whose import needs pkg_resources.
    path = Path(list(spec.submodule_search_locations)[0]) / "data.anb"
    if not path.is_file():
        raise DataMissingError(
            f"analog-nasbench is installed but its data file {path} is missing; run: pip install --force-reinstall analog-nasbench"
        )
    return path


@lru_cache(maxsize=1)
def _analog_raw() -> tuple[dict[Arch, Any], str, str]:
    """{our tuple: Architecture record}, the data file path and its sha256 (read once per process)."""
    path = _analog_file()
    with _pkg_resources_shim():
        # The pickle references analognasbench.data's classes, so that module must be importable.
        importlib.import_module("analognasbench.data")
        try:
            with open(path, "rb") as f:
                raw = pickle.load(f)
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError) as e:
            raise CorruptDataError(f"cannot read {path} ({e}); run: pip install --force-reinstall analog-nasbench") from None
    if not isinstance(raw, dict) or len(raw) != NUM_ARCHS:
        raise CorruptDataError(
            f"{path} holds {len(raw) if isinstance(raw, dict) else type(raw).__name__} entries, expected {NUM_ARCHS}; run: pip install --force-reinstall analog-nasbench"
        )
    data = {naslib_to_arch(k): v for k, v in raw.items()}
    if len(data) != NUM_ARCHS:
        raise CorruptDataError(f"{path} maps several keys to one cell; run: pip install --force-reinstall analog-nasbench")
    return data, str(path), sha256_file(path)


class AnalogNASBenchSource(GroundTruthSource):
    """analog-nasbench: all 15,625 cells re-trained once for 200 epochs on CIFAR-10 (IBM, 2025).

    Split: ``test``. The package documents only "trained on CIFAR-10"; its public training
    script (IBM/analog-nas, ``analognasbench/training_script.py``, labelled an example) trains
    on the 50,000 CIFAR-10 training images and reports ``baseline_accuracy`` on the 10,000 test
    images (``CIFAR10(train=False)``), averaged over 25 evaluation passes that apply the
    training augmentation. Like the official ``cifar10`` split it tests on the test set after
    training on all 50,000 training images. One training run per cell: seed reduction
    ``as-published``.

    Metrics (percent, higher is better): ``accuracy`` = ``baseline_accuracy`` (digital,
    full precision); ``ptq_accuracy`` (post-training quantisation), ``qat_accuracy``
    (quantisation-aware training), ``noisy_accuracy`` (digital weights on simulated analog
    hardware), ``analog_accuracy`` (after hardware-aware training).
    """

    space = SPACE
    source = "analog"
    version = 1
    description = "analog-nasbench: 15,625 cells re-trained once for 200 epochs on CIFAR-10 (test set)"
    ATTRS = {
        "accuracy": "baseline_accuracy",
        "ptq_accuracy": "ptq_accuracy",
        "qat_accuracy": "qat_accuracy",
        "noisy_accuracy": "noisy_accuracy",
        "analog_accuracy": "analog_accuracy",
    }
    options = {("cifar10", "test"): tuple(ATTRS)}
    seed_reductions = ("as-published",)
    higher_is_better = {m: True for m in ATTRS}

    def available(self) -> tuple[bool, str]:
        """(True, data file) when analog-nasbench is installed, else (False, why)."""
        try:
            return True, str(_analog_file())
        except WsbenchError as e:
            return False, str(e)

    def validate(self, query: GroundTruthQuery) -> None:
        """Reject any field the package cannot answer; it publishes one run per cell."""
        _check_seed_reduction(self, query, "analog-nasbench publishes one training run per cell")
        super().validate(query)

    def _load(self, query: GroundTruthQuery) -> GroundTruthTable:
        data, path, sha = _analog_raw()
        attr = self.ATTRS[query.metric]

        def build() -> GroundTruthTable:
            archs = sorted(data)
            return GroundTruthTable(
                query=query,
                arch_ids=[to_arch_str(a) for a in archs],
                values=np.array([float(getattr(data[a], attr)) for a in archs]),
                higher_is_better=self.higher_is_better[query.metric],
                provenance={
                    "file": path,
                    "sha256": sha,
                    "attribute": attr,
                    "n_archs": len(archs),
                    "package": f"analog-nasbench {_package_version('analog-nasbench')}",
                },
            )

        return _cached((self.source, query, sha), build)


# --------------------------------------------------------------------------- official APIs

# (dataset, split) -> (key of get_more_info's dict, the API's underlying set name).
_API_KEYS: dict[tuple[str, str], tuple[str, str]] = {
    ("cifar10-valid", "valid"): ("valid-accuracy", "x-valid"),
    ("cifar10-valid", "test"): ("test-accuracy", "ori-test"),
    ("cifar10", "test"): ("test-accuracy", "ori-test"),
    ("cifar100", "valid"): ("valid-accuracy", "x-valid"),
    ("cifar100", "test"): ("test-accuracy", "x-test"),
    ("cifar100", "valid+test"): ("valtest-accuracy", "ori-test"),
    ("ImageNet16-120", "valid"): ("valid-accuracy", "x-valid"),
    ("ImageNet16-120", "test"): ("test-accuracy", "x-test"),
    ("ImageNet16-120", "valid+test"): ("valtest-accuracy", "ori-test"),
}
_SEED_RE = re.compile(r"^seed:(\d+)$")
# The 200-epoch runs of NAS-Bench-201 / NATS-Bench topology use these three seeds.
_OFFICIAL_SEEDS = (777, 888, 999)

_API_TABLE_DOC = """
    ===================  ==========  ===================  ==========  =====================================
    dataset              split       get_more_info key    set name    what it is
    ===================  ==========  ===================  ==========  =====================================
    ``cifar10-valid``    valid       valid-accuracy       x-valid     trained on train (25k), valid (25k)
    ``cifar10-valid``    test        test-accuracy        ori-test    trained on train (25k), test (10k)
    ``cifar10``          test        test-accuracy        ori-test    trained on train+valid, test (10k)
    ``cifar100``         valid       valid-accuracy       x-valid     half of the official test set
    ``cifar100``         test        test-accuracy        x-test      the other half
    ``cifar100``         valid+test  valtest-accuracy     ori-test    the whole official test set
    ``ImageNet16-120``   valid       valid-accuracy       x-valid     half of the official test set
    ``ImageNet16-120``   test        test-accuracy        x-test      the other half
    ``ImageNet16-120``   valid+test  valtest-accuracy     ori-test    the whole official test set
    ===================  ==========  ===================  ==========  =====================================

    All read ``hp='200'`` at the last epoch. Seed reduction ``mean`` passes ``is_random=False``
    (average over the cell's runs); ``seed:<n>`` passes ``is_random=n`` and keeps only the cells
    that have a run with seed n (the count is in provenance).
"""


class _OfficialApiSource(GroundTruthSource):
    """Shared reading of the official NB201 / NATS APIs through ``get_more_info``."""

    options = {key: ("accuracy",) for key in _API_KEYS}
    seed_reductions = ("mean",) + tuple(f"seed:{s}" for s in _OFFICIAL_SEEDS)
    higher_is_better = {"accuracy": True}
    package_module: str = ""
    package_dist: str = ""

    def locate(self) -> Path:
        """The benchmark file or folder; a one-line error naming the settings when absent."""
        raise NotImplementedError

    def _open(self, path: Path) -> tuple[Any, list[int]]:
        """The API object and the indexes of the architectures the file holds results for."""
        raise NotImplementedError

    def _check_package(self) -> None:
        if importlib.util.find_spec(self.package_module) is None:
            raise DataMissingError(f"the {self.package_dist} package is not installed; run: pip install {self.package_dist}")

    def available(self) -> tuple[bool, str]:
        """(True, path) when the package and the benchmark file are both present, else (False, why)."""
        try:
            self._check_package()
            return True, str(self.locate())
        except WsbenchError as e:
            return False, str(e)

    def validate(self, query: GroundTruthQuery) -> None:
        """Reject any field the benchmark cannot answer."""
        _check_seed_reduction(self, query, f"use 'mean' or one of the benchmark's seeds ({', '.join(map(str, _OFFICIAL_SEEDS))})")
        super().validate(query)

    def _load(self, query: GroundTruthQuery) -> GroundTruthTable:
        self._check_package()
        path = self.locate()
        return _cached((self.source, query, file_identity(path)), lambda: self._build(query, path))

    def _opened(self, path: Path) -> tuple[Any, list[int]]:
        """``_open`` remembered for the last file per source: one benchmark file answers many queries."""
        ident = (type(self), file_identity(path))
        if _API_CACHE.get(type(self), (None,))[0] != ident:
            _API_CACHE[type(self)] = (ident, self._open(path))
        return _API_CACHE[type(self)][1]

    def _build(self, query: GroundTruthQuery, path: Path) -> GroundTruthTable:
        api, indexes = self._opened(path)
        key, set_name = _API_KEYS[(query.dataset, query.split)]
        m = _SEED_RE.match(query.seed_reduction)
        is_random: bool | int = int(m.group(1)) if m else False
        arch_ids: list[str] = []
        values: list[float] = []
        skipped = 0
        for index in indexes:
            arch = self._arch_str(api, index, path)
            try:
                if m is not None and is_random not in self._seeds(api, index, query.dataset):
                    skipped += 1
                    continue
                info = api.get_more_info(index, query.dataset, iepoch=None, hp="200", is_random=is_random)
            except (KeyError, ValueError, AssertionError) as e:
                raise CorruptDataError(
                    f"{path} has no 200-epoch {query.dataset} results for architecture {index} ({type(e).__name__}: {e}); "
                    "the file is incomplete or damaged: download it again"
                ) from None
            value = info.get(key)
            if value is None or not math.isfinite(float(value)):
                raise CorruptDataError(
                    f"{path} lacks a finite {query.dataset} {set_name} accuracy for architecture {index}; "
                    "this file version does not record that split, or it is damaged"
                )
            arch_ids.append(arch)
            values.append(float(value))
        if not arch_ids:
            raise WsbenchError(
                f"{path} has no architecture with a run for {query.seed_reduction} on {query.dataset}; use seed reduction 'mean'"
            )
        return GroundTruthTable(
            query=query,
            arch_ids=arch_ids,
            values=np.array(values),
            higher_is_better=True,
            provenance={
                "file": str(path),
                "sha256": _path_sha256(path),
                "get_more_info_key": key,
                "set_name": set_name,
                "hp": "200",
                "n_archs": len(arch_ids),
                "complete": len(arch_ids) == NUM_ARCHS,
                "n_skipped_no_such_seed": skipped,
                "package": f"{self.package_dist} {_package_version(self.package_dist)}",
            },
        )

    @staticmethod
    def _arch_str(api: Any, index: int, path: Path) -> str:
        try:
            return canonical_arch_str(api.meta_archs[index])
        except (ArchStringError, IndexError) as e:
            raise CorruptDataError(
                f"{path}: architecture {index} has no valid arch string ({e}); download the file again"
            ) from None

    @staticmethod
    def _seeds(api: Any, index: int, dataset: str) -> list[int]:
        return list(api.arch2infos_dict[index]["200"].get_dataset_seeds(dataset))


def _path_sha256(path: Path) -> str:
    """sha256 of a file, or for a folder of its meta file and sorted (name, size) listing."""
    if path.is_file():
        return sha256_file(path)
    import hashlib

    h = hashlib.sha256()
    for child in sorted(path.iterdir()):
        h.update(f"{child.name}\x00{child.stat().st_size}\n".encode())
    meta = path / "meta.pickle.pbz2"
    if meta.is_file():
        h.update(sha256_file(meta).encode())
    return h.hexdigest()


def _located(env: str, names: tuple[str, ...], what: str) -> Path:
    """The path in ``env`` when set, else the first of ``names`` under WSBENCH_DATA."""
    value = os.environ.get(env, "").strip()
    if value:
        path = Path(value).expanduser()
        if not path.exists():
            raise DataMissingError(f"{env}={value} does not exist; point {env} at your {what}")
        return path
    root = data_root(required=False)
    if root is None:
        raise DataMissingError(f"{what} not found: set {env} to its path, or {DATA_ENV} to a folder holding {' or '.join(names)}")
    for name in names:
        if (root / name).exists():
            return root / name
    raise DataMissingError(f"{what} not found in {root}: put {' or '.join(names)} there, or set {env} to its path")


class NB201PthSource(_OfficialApiSource):
    __doc__ = (
        "The official NAS-Bench-201 benchmark file, read through ``nas_201_api``.\n\n"
        "    Found at ``$WSBENCH_NB201_PTH`` or as ``NAS-Bench-201-v1_1-096897.pth`` /\n"
        "    ``NAS-Bench-201-v1_0-e61699.pth`` in ``$WSBENCH_DATA``. What each option reads:\n" + _API_TABLE_DOC
    )

    space = SPACE
    source = "nb201-pth"
    version = 1
    description = "official NAS-Bench-201 .pth file via nas_201_api (200 epochs)"
    ENV = "WSBENCH_NB201_PTH"
    FILES = ("NAS-Bench-201-v1_1-096897.pth", "NAS-Bench-201-v1_0-e61699.pth")
    package_module = "nas_201_api"
    package_dist = "nas-bench-201"

    def locate(self) -> Path:
        """The .pth file from ``WSBENCH_NB201_PTH`` or ``WSBENCH_DATA``."""
        path = _located(self.ENV, self.FILES, "NAS-Bench-201 benchmark file")
        if not path.is_file():
            raise DataMissingError(f"{path} is not a file; point {self.ENV} at NAS-Bench-201-v1_1-096897.pth")
        return path

    def _open(self, path: Path) -> tuple[Any, list[int]]:
        import torch
        from nas_201_api import NASBench201API

        try:
            api = NASBench201API(str(path), verbose=False)
        except pickle.UnpicklingError:
            # torch >= 2.6 loads with weights_only=True, which refuses some objects the
            # official file pickles; it is the user's own benchmark download, so load it fully.
            try:
                blob = torch.load(str(path), map_location="cpu", weights_only=False)
                api = NASBench201API(blob, verbose=False)
            except Exception as e:  # noqa: BLE001 - any failure here means an unreadable file
                raise CorruptDataError(f"cannot read {path} ({type(e).__name__}: {e}); download it again") from None
        except (RuntimeError, EOFError, AssertionError, KeyError, OSError) as e:
            raise CorruptDataError(f"cannot read {path} ({type(e).__name__}: {e}); download it again") from None
        return api, sorted(api.arch2infos_dict)

    @classmethod
    def write_example(cls, root: Path, rng: np.random.Generator) -> None:
        """``NAS-Bench-201-v1_1-096897.pth`` listing every cell, with results for 12 of them (needs nas_201_api)."""
        cls()._check_package()
        write_pth(example_file(root, cls.FILES[0]), *example_runs(rng))


class NATSBenchSource(_OfficialApiSource):
    __doc__ = (
        "NATS-Bench topology (``tss``), read through ``nats_bench``.\n\n"
        "    Found at ``$WSBENCH_NATS_TSS`` or as the ``NATS-tss-v1_0-3ffb9-simple`` folder (read with\n"
        "    ``fast_mode=True``) or ``NATS-tss-v1_0-3ffb9.pickle.pbz2`` file in ``$WSBENCH_DATA``.\n"
        "    What each option reads:\n" + _API_TABLE_DOC
    )

    space = SPACE
    source = "nats"
    version = 1
    description = "NATS-Bench topology (tss) via nats_bench (200 epochs)"
    ENV = "WSBENCH_NATS_TSS"
    FILES = ("NATS-tss-v1_0-3ffb9-simple", "NATS-tss-v1_0-3ffb9.pickle.pbz2")
    package_module = "nats_bench"
    package_dist = "nats_bench"

    def locate(self) -> Path:
        """The NATS tss folder or file from ``WSBENCH_NATS_TSS`` or ``WSBENCH_DATA``."""
        return _located(self.ENV, self.FILES, "NATS-Bench topology benchmark")

    def _open(self, path: Path) -> tuple[Any, list[int]]:
        import nats_bench

        fast = path.is_dir()
        if fast and not (path / "meta.pickle.pbz2").is_file():
            raise DataMissingError(f"{path} has no meta.pickle.pbz2; it is not a NATS-tss-*-simple folder")
        try:
            api = nats_bench.create(str(path), "tss", fast_mode=fast, verbose=False)
        except (OSError, EOFError, ValueError, KeyError, pickle.UnpicklingError) as e:
            raise CorruptDataError(f"cannot read {path} ({type(e).__name__}: {e}); download it again") from None
        if not fast:
            return api, sorted(api.arch2infos_dict)
        # Fast mode loads each cell's file on demand; only cells with a file are in the table.
        present = []
        for child in path.iterdir():
            stem = child.name.removesuffix(".pickle.pbz2")
            if stem != child.name and stem.isdigit():
                present.append(int(stem))
        return api, sorted(i for i in set(present) if i < len(api.meta_archs))

    @staticmethod
    def _seeds(api: Any, index: int, dataset: str) -> list[int]:
        api._prepare_info(index)  # fast mode: read the cell's file before asking for its seeds
        return list(api.arch2infos_dict[index]["200"].get_dataset_seeds(dataset))

    @classmethod
    def write_example(cls, root: Path, rng: np.random.Generator) -> None:
        """The ``NATS-tss-v1_0-3ffb9.pickle.pbz2`` archive listing every cell, with results for 12 of them (needs nats_bench)."""
        cls()._check_package()
        archs, runs = example_runs(rng)
        write_nats(root, archs, runs, simple=False)


# --------------------------------------------------------------------------- official-format files

#: Arch index -> training budget (``"12"``, ``"200"``) -> (dataset, set name, seed) -> last-epoch accuracy (percent).
Runs = dict[int, dict[str, dict[tuple[str, str, int], Any]]]
#: The sets each dataset's results evaluate, as the official files store them.
RESULT_SETS: dict[str, tuple[str, ...]] = {
    "cifar10-valid": ("x-valid", "ori-test"),
    "cifar10": ("ori-test",),
    "cifar100": ("x-valid", "x-test", "ori-test"),
    "ImageNet16-120": ("x-valid", "x-test", "ori-test"),
}
#: Training budgets of the official files: epochs each ran.
BUDGET_EPOCHS = {"12": 12, "200": 200}
_CLASSES = {"cifar10-valid": 10, "cifar10": 10, "cifar100": 100, "ImageNet16-120": 120}
#: Final accuracy range (percent) of each dataset at 200 epochs; 12-epoch runs land lower.
_EXAMPLE_RANGE = {
    "cifar10-valid": (84.0, 91.6),
    "cifar10": (88.0, 94.4),
    "cifar100": (60.0, 73.5),
    "ImageNet16-120": (30.0, 47.3),
}
#: Cells with results in an example file.
EXAMPLE_EVALUATED = 12


def arch_results_state(api_utils: Any, index: int, arch: str, hp: str, accuracies: dict[tuple[str, str, int], Any]) -> Any:
    """One cell's ``ArchResults`` state at budget ``hp``, built with the package's own classes."""
    # Every epoch gets an entry, as in the real files; only the last holds ``accuracies``: the one read.
    epochs = BUDGET_EPOCHS[hp]
    results = api_utils.ArchResults(index, arch)
    for dataset, seed in dict.fromkeys((d, s) for d, _, s in accuracies):
        config = {"arch_str": arch, "channel": 16, "num_cells": 5, "class_num": _CLASSES[dataset]}
        train = {i: 100.0 * (1 - 0.9 * 0.98**i) for i in range(epochs)}
        count = api_utils.ResultsCount(
            f"{dataset}-{seed}", None, train, {i: 2.0 for i in range(epochs)}, 0.1, 10.0, config, seed, epochs, None
        )
        sets = [name for d, name, s in accuracies if (d, s) == (dataset, seed)]
        evals = {
            f"{name}@{i}": accuracies[(dataset, name, seed)] if i == epochs - 1 else 1.0 for name in sets for i in range(epochs)
        }
        count.update_eval(evals, {k: 1.0 for k in evals}, {k: 0.01 for k in evals})
        results.update(dataset, seed, count)
    return results.state_dict()


def example_runs(rng: np.random.Generator) -> tuple[list[str], Runs]:
    """Every cell's string in official order, and drawn results of 12 of them for both budgets and all three seeds."""
    from spaces.nb201.official_order import arch_at_official_index

    archs = [to_arch_str(arch_at_official_index(i)) for i in range(NUM_ARCHS)]
    runs: Runs = {}
    for index in sorted(int(i) for i in rng.choice(NUM_ARCHS, size=EXAMPLE_EVALUATED, replace=False)):
        quality = float(rng.uniform(0, 1))
        runs[index] = {}
        for hp in BUDGET_EPOCHS:
            shortfall = 8.0 if hp == "12" else 0.0  # the 12-epoch schedule ends well short of the 200-epoch one
            runs[index][hp] = {
                (dataset, name, seed): round(lo + (hi - lo) * quality - shortfall + float(rng.normal(0, 0.3)), 4)
                for dataset, (lo, hi) in _EXAMPLE_RANGE.items()
                for name in RESULT_SETS[dataset]
                for seed in _OFFICIAL_SEEDS
            }
    return archs, runs


def write_pth(path: Path, archs: list[str], runs: Runs) -> None:
    """A NAS-Bench-201 ``.pth`` file as ``nas_201_api`` reads it: ``less`` (12 epochs) and ``full`` (200) per evaluated cell."""
    import torch
    from nas_201_api import api_utils

    blob = {
        "meta_archs": list(archs),
        "arch2infos": {
            i: {
                "less": arch_results_state(api_utils, i, archs[i], "12", r["12"]),
                "full": arch_results_state(api_utils, i, archs[i], "200", r["200"]),
            }
            for i, r in runs.items()
        },
        "evaluated_indexes": set(runs),
        "total_archs": len(archs),
    }
    torch.save(blob, path)


def write_nats(root: Path, archs: list[str], runs: Runs, simple: bool) -> Path:
    """NATS-Bench topology data under ``root`` as ``nats_bench`` reads it: the ``-simple`` folder or the archive."""
    from nats_bench import api_utils

    infos = {i: {hp: arch_results_state(api_utils, i, archs[i], hp, r[hp]) for hp in BUDGET_EPOCHS} for i, r in runs.items()}
    if simple:
        folder = root / NATSBenchSource.FILES[0]
        folder.mkdir(parents=True)
        api_utils.pickle_save({"meta_archs": list(archs)}, str(folder / "meta.pickle"))
        for i, info in infos.items():
            api_utils.pickle_save(info, str(folder / f"{i:06d}.pickle"))
        return folder
    archive = example_file(root, NATSBenchSource.FILES[1])
    # pickle_save appends ".pbz2" to the name it is given.
    api_utils.pickle_save(
        {"meta_archs": list(archs), "arch2infos": infos, "evaluated_indexes": list(runs)}, str(archive.with_suffix(""))
    )
    return archive
