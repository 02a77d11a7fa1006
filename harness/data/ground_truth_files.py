"""Ground truths read from files under ``$WSBENCH_DATA``: one base finds, checks, caches and cites them.

A ``FileBackedSource`` declares its files (``files``: key -> path under the data folder; the key is
a training seed, a backbone, or None for a single file) and how one file is parsed (``parse``). The
base finds each file (a one-line ``DataMissingError`` naming the path and the setting), checks it
against ``SHA256SUMS`` beside the data, parses it once per file version (path, size, modification
time), answers ``available()``, refuses a table without rows or with an architecture twice (a
one-line ``CorruptDataError``: the file is damaged), and says where a table came from (``file``,
``sha256``, ``checksum``). ``PerSeedFilesSource`` adds what the seed paper's re-trained tables share: one file
per training seed, read alone (``seed:<n>``) or averaged over the architectures every run trained.
The ``example_*`` helpers are what several sources' ``write_example`` share.
"""

from __future__ import annotations

import csv
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from harness.api.errors import CorruptDataError, DataMissingError, WsbenchError
from harness.api.ground_truth import GroundTruthQuery, GroundTruthSource, GroundTruthTable
from harness.fileio import sha256_file
from harness.settings import DATA_ENV, data_checksum_status, data_root

#: (source class, resolved path, size, mtime, relative path) -> (parsed, sha256, checksum status).
_READS: OrderedDict[tuple[Any, ...], tuple[Any, str, str]] = OrderedDict()
#: Parsed files kept (least recently used dropped first): every shipped file, plus a few versions.
_MAX_READS = 16

T = TypeVar("T")


def file_identity(path: Path) -> tuple[str, int, int]:
    """(resolved path, size, modification time in ns): changes whenever the file does."""
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def clear_cache() -> None:
    """Forget every file parsed in this process (tests use it to force a re-read)."""
    _READS.clear()


class FileBackedSource(GroundTruthSource):
    """A ground truth whose tables come from files under ``$WSBENCH_DATA``; subclasses add ``parse`` and ``_load``."""

    #: File key -> path relative to the data folder (key None: the source's only file).
    files: ClassVar[Mapping[Any, str]] = {}
    #: What a missing file is called in its error; ``{key}`` is its key (e.g. ``DARTS ground truth (seed {key})``).
    missing_label: ClassVar[str] = ""
    #: What a checksum mismatch calls the file; ``{key}`` and ``{relative}`` are filled in.
    checksum_label: ClassVar[str] = ""

    def path(self, key: Any = None) -> Path:
        """The file of ``key`` (None: the only file); a one-line error naming the setting when it is absent."""
        key = self._key(key)
        root = data_root(required=True)
        assert root is not None
        p = root / self.files[key]
        if not p.is_file():
            raise DataMissingError(
                f"{self.missing_label.format(key=key)} not found at {p}; copy {self.files[key]} there "
                f"or point {DATA_ENV} at a folder holding it"
            )
        return p

    def available(self) -> tuple[bool, str]:
        """(True, the paths) when every file is present, else (False, why not)."""
        try:
            return True, ", ".join(str(self.path(key)) for key in self.files)
        except WsbenchError as e:
            return False, str(e)

    def read(self, key: Any = None) -> tuple[Any, dict[str, str]]:
        """The parsed file of ``key`` (cached per file version) and its provenance (file, sha256, checksum)."""
        p = self.path(key)
        key = self._key(key)
        identity = file_identity(p)
        cache_key = (type(self), *identity, self.files[key])
        if cache_key in _READS:
            _READS.move_to_end(cache_key)
        else:
            _READS[cache_key] = self._checked_parse(Path(identity[0]), key)
            while len(_READS) > _MAX_READS:
                _READS.popitem(last=False)
        parsed, sha, status = _READS[cache_key]
        return parsed, {"file": str(p), "sha256": sha, "checksum": status}

    def parse(self, path: Path) -> Any:
        """The file's content in the form ``_load`` uses; a damaged file is a one-line ``CorruptDataError``."""
        raise NotImplementedError

    def load(self, query: GroundTruthQuery) -> GroundTruthTable:
        """The base's load, plus what every file-backed table must be: rows present, each architecture once.

        A file with a header and no rows (a truncated copy) would otherwise be "available" with 0
        architectures, and a repeated architecture id a traceback from the table's own check.
        """
        try:
            table = super().load(query)
        except ValueError as e:  # the table's consistency checks (a repeated id, lengths that differ)
            raise CorruptDataError(f"{self._files_text(query)}: {e}; the file is damaged: copy it again") from None
        if len(table) == 0:
            raise CorruptDataError(
                f"{self._files_text(query)} holds no architectures for {query.label()} (a header without rows?); "
                "the file is damaged: copy it again"
            )
        return table

    def _files_text(self, query: GroundTruthQuery) -> str:
        """The file(s) behind a query, for an error (a per-seed query names its seed's file)."""
        del query  # a source with several files names them all; PerSeedFilesSource narrows this
        return ", ".join(str(self.path(key)) for key in self.files)

    def _checked_parse(self, path: Path, key: Any) -> tuple[Any, str, str]:
        """Checksum first (a damaged file must fail as damaged, not as unparsable), then parse and digest."""
        relative = self.files[key]
        status = data_checksum_status(path, relative, self.checksum_label.format(key=key, relative=relative))
        parsed = self.parse(path)
        return parsed, sha256_file(path), status

    def _key(self, key: Any) -> Any:
        if key is None and len(self.files) == 1:
            return next(iter(self.files))
        return key


class PerSeedFilesSource(FileBackedSource):
    """One file per training seed (``files``: seed -> path); reductions ``seed:<n>`` and ``mean-of-seeds``.

    ``mean-of-seeds`` averages the runs on the architectures every run trained -- never a mix of
    one-run and several-run values.
    """

    #: Provenance of ``mean-of-seeds``: what was averaged, and the values' unit.
    mean_reduction: ClassVar[str] = ""
    unit: ClassVar[str] = ""

    def values(self, parsed: Any, split: str) -> dict[str, float]:
        """Arch id -> value on ``split`` of one parsed file."""
        raise NotImplementedError

    def seed_values(self, seed: int, split: str) -> tuple[dict[str, float], dict[str, str]]:
        """One seed's arch id -> value on ``split``, and its file's provenance; a file without rows is damaged."""
        parsed, provenance = self.read(seed)
        values = self.values(parsed, split)
        if not values:
            raise CorruptDataError(
                f"{provenance['file']} holds no architectures (a header without rows?); the file is damaged: copy it again"
            )
        return values, provenance

    def _files_text(self, query: GroundTruthQuery) -> str:
        if query.seed_reduction.startswith("seed:"):
            return str(self.path(int(query.seed_reduction.split(":")[1])))
        return super()._files_text(query)

    def _load(self, query: GroundTruthQuery) -> GroundTruthTable:
        if query.seed_reduction.startswith("seed:"):
            seed = int(query.seed_reduction.split(":")[1])
            values, prov = self.seed_values(seed, query.split)
            ids = sorted(values)
            vals = [values[a] for a in ids]
            provenance: dict[str, Any] = {**prov, "reduction": f"one training run (seed {seed})", "runs": [f"seed{seed}"]}
        else:
            runs = [self.seed_values(seed, query.split) for seed in self.files]
            ids = sorted(set.intersection(*(set(v) for v, _ in runs)))
            if not ids:
                files = ", ".join(p["file"] for _, p in runs)
                raise CorruptDataError(f"{files} share no architecture, so they have no mean; a file is damaged: copy them again")
            # sum() starts at 0 and 0 + a is exactly a: two seeds give exactly (a + b) / 2.
            vals = [sum(v[i] for v, _ in runs) / len(runs) for i in ids]
            provenance = {
                "files": [p for _, p in runs],
                "reduction": self.mean_reduction,
                "runs": [f"seed{seed}" for seed in self.files],
            }
        # complete: the files are read whole (the space itself is only sampled, by design).
        provenance.update(n_archs=len(ids), unit=self.unit, complete=True)
        higher = self.higher_is_better[query.metric]
        return GroundTruthTable(
            query=query, arch_ids=ids, values=np.asarray(vals), higher_is_better=higher, provenance=provenance
        )


# --------------------------------------------------------------------------- examples


def example_file(root: Path, relative: str) -> Path:
    """``root / relative`` with its folder made: where an example writer puts one file."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def example_archs(rng: np.random.Generator, draw: Callable[[np.random.Generator], T], key: Callable[[T], str], n: int) -> list[T]:
    """``n`` architectures drawn with ``draw`` whose ids (``key``) differ: a table lists each architecture once."""
    out: dict[str, T] = {}
    # A bounded loop: every space here has millions of architectures, so n distinct ones come fast.
    for _ in range(100 * n):
        arch = draw(rng)
        out.setdefault(key(arch), arch)
        if len(out) == n:
            return list(out.values())
    raise WsbenchError(f"drew only {len(out)} distinct architectures of {n} for a ground-truth example")


def example_seed_rows(rng: np.random.Generator, n: int, seeds: Iterable[Any]) -> dict[Any, list[int]]:
    """Rows each seed trained: the first seed all ``n``, each later one a random half (the seed paper re-trained a subset)."""
    order = list(seeds)
    half = sorted(int(i) for i in rng.choice(n, size=max(2, n // 2), replace=False))
    return {seed: (list(range(n)) if i == 0 else half) for i, seed in enumerate(order)}


def write_example_csv(root: Path, relative: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A CSV as pandas writes it (minimal quoting, a JSON cell quoted with doubled quotes) at ``root / relative``."""
    with open(example_file(root, relative), "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
