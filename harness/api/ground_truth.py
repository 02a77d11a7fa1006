"""The ground-truth interface: ``(space, source, dataset, split, metric, seed_reduction)`` -> table.

Every argument is explicit: there are no defaults that change meaning and no silent remapping
(NASLib once answered ``cifar10`` from ``cifar10-valid``). A source declares exactly which
datasets, splits, metrics and seed reductions it can answer; anything else is a one-line error.
Loading involves no randomness. Each table carries a content fingerprint so results can say
precisely which ground truth they were scored against.

Sources are declared by their space folder (``PLUGINS["ground_truth"]``) under ``"<space>/<source>"``
and found by ``harness.catalog`` (``GROUND_TRUTHS``, ``load_ground_truth``).
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from harness.api.errors import WsbenchError, unknown


@dataclass(frozen=True)
class GroundTruthQuery:
    """What is asked of a ground-truth source; every field explicit."""

    space: str
    source: str
    dataset: str
    split: str
    metric: str
    seed_reduction: str  # e.g. "mean" (over the benchmark's seeds) or "as-published"

    def label(self) -> str:
        """Short human-readable name, e.g. ``nb201/csv:cifar10/test/accuracy@mean``."""
        return f"{self.space}/{self.source}:{self.dataset}/{self.split}/{self.metric}@{self.seed_reduction}"


@dataclass
class GroundTruthTable:
    """True performance of architectures: one value per architecture id.

    ``arch_ids`` use the space's canonical id (for NB201 the official arch string).
    ``higher_is_better`` tells the metrics which direction "good" is.
    """

    query: GroundTruthQuery
    arch_ids: list[str]
    values: np.ndarray
    higher_is_better: bool
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float64)
        if self.values.shape != (len(self.arch_ids),):
            raise ValueError(f"{len(self.arch_ids)} arch ids but values of shape {self.values.shape}")
        if len(set(self.arch_ids)) != len(self.arch_ids):
            raise ValueError(f"duplicate architecture ids in ground truth {self.query.label()}")
        if not np.all(np.isfinite(self.values)):
            bad = int((~np.isfinite(self.values)).sum())
            raise WsbenchError(f"ground truth {self.query.label()} has {bad} non-finite values; the file is damaged")
        check_value_range(self.query, self.values)
        self._index = {a: i for i, a in enumerate(self.arch_ids)}

    def __len__(self) -> int:
        return len(self.arch_ids)

    @functools.cached_property
    def fingerprint(self) -> str:
        """SHA-256 over the query and the (sorted) id/value content: changes iff the table does."""
        h = hashlib.sha256(json.dumps(self.query.__dict__, sort_keys=True).encode())
        h.update(b"\x00higher" if self.higher_is_better else b"\x00lower")
        order = np.argsort(np.asarray(self.arch_ids, dtype=object), kind="stable")
        for i in order:
            h.update(self.arch_ids[i].encode())
            h.update(np.float64(self.values[i]).tobytes())
        return h.hexdigest()

    def lookup(self, arch_ids: list[str]) -> np.ndarray:
        """Values for the given ids, in that order; a one-line error names ids not in the table."""
        missing = [a for a in arch_ids if a not in self._index]
        if missing:
            raise WsbenchError(f"{len(missing)} architectures are not in ground truth {self.query.label()} (first: {missing[0]})")
        return self.values[[self._index[a] for a in arch_ids]]

    def as_series(self) -> pd.Series:
        """The table as a pandas Series indexed by architecture id."""
        return pd.Series(self.values, index=pd.Index(self.arch_ids, name="arch"), name=self.query.label())


def dataset_family(dataset: str) -> str:
    """Dataset family: ``cifar10-valid`` (NB201's networks trained on half the training set) belongs with ``cifar10``."""
    return dataset.removesuffix("-valid")


def is_percentage(metric: str) -> bool:
    """Accuracy-type metrics are stored in percent (0-100) everywhere in wsbench."""
    return "accuracy" in metric or metric in ("top1", "top5")


def check_value_range(query: GroundTruthQuery, values: np.ndarray) -> None:
    """A one-line error for values a metric cannot take (a damaged file, or fractions where percent belong)."""
    if not values.size or not is_percentage(query.metric):
        return
    lo, hi = float(values.min()), float(values.max())
    if lo < 0 or hi > 100:
        raise WsbenchError(
            f"ground truth {query.label()}: accuracies must be percentages in [0, 100], found {lo:g}..{hi:g}; the file is damaged"
        )
    if hi <= 1.0 and values.size > 1:
        raise WsbenchError(
            f"ground truth {query.label()}: every accuracy is <= 1 ({lo:g}..{hi:g}): fractions, not percent; "
            "multiply by 100 in the file (wsbench never rescales silently)"
        )


class GroundTruthSource:
    """Base class of a ground-truth adapter. Subclasses fill the class attributes and ``_load``.

    ``options`` maps ``(dataset, split)`` to the metrics it offers; ``seed_reductions`` lists
    the seed reductions the source can honour. ``available()`` says whether its files are present.

    ``write_example(root, rng)`` writes a tiny valid example of the source's data under data folder
    ``root``: exactly the relative paths the source reads (nothing else), in the real files' format
    and units (fractions where the file stores fractions), keyed by real architectures of the space
    written with its own encoding (a handful where the format allows), values drawn from ``rng``.
    The contract tests point ``WSBENCH_DATA`` at a folder every source's example filled, so every
    source is tested without the data folder. A writer that needs a missing package raises
    ``DataMissingError``. The base writes nothing: right only where the data ships in an installed
    package (``available()`` then needs no data folder).
    """

    space: ClassVar[str]
    source: ClassVar[str]
    version: ClassVar[int] = 1
    description: ClassVar[str] = ""
    options: ClassVar[dict[tuple[str, str], tuple[str, ...]]] = {}
    seed_reductions: ClassVar[tuple[str, ...]] = ()
    higher_is_better: ClassVar[dict[str, bool]] = {}
    #: Seed reductions ``wsbench gt`` reports side by side (e.g. two training runs); empty: the first one.
    report_reductions: ClassVar[tuple[str, ...]] = ()

    def available(self) -> tuple[bool, str]:
        """(True, where) when the source's data can be read here, else (False, why not)."""
        raise NotImplementedError

    @classmethod
    def write_example(cls, root: Path, rng: np.random.Generator) -> None:
        """Write a tiny valid example of this source's data, in the real format, under data folder ``root``."""

    def validate(self, query: GroundTruthQuery) -> None:
        """Raise a one-line error for any field this source does not offer."""
        datasets = sorted({d for d, _ in self.options})
        if query.dataset not in datasets:
            raise unknown(f"dataset for {self.space}/{self.source}", query.dataset, datasets)
        splits = sorted({s for d, s in self.options if d == query.dataset})
        if query.split not in splits:
            raise unknown(f"split of {query.dataset} in {self.space}/{self.source}", query.split, splits)
        metrics = self.options[(query.dataset, query.split)]
        if query.metric not in metrics:
            raise unknown(f"metric of {query.dataset}/{query.split} in {self.space}/{self.source}", query.metric, metrics)
        if query.seed_reduction not in self.seed_reductions:
            raise unknown(f"seed reduction for {self.space}/{self.source}", query.seed_reduction, self.seed_reductions)

    def load(self, query: GroundTruthQuery) -> GroundTruthTable:
        """Validate the query, then load the table (deterministically)."""
        if (query.space, query.source) != (self.space, self.source):
            raise ValueError(f"query {query.label()} sent to source {self.space}/{self.source}")
        self.validate(query)
        return self._load(query)

    def _load(self, query: GroundTruthQuery) -> GroundTruthTable:
        raise NotImplementedError
