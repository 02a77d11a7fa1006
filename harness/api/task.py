"""The Task contract: the data of a cell, its loss, and the score of one architecture.

The training loop never names a data set: it asks the cell's task for data sources, the loss of
a batch and the evaluation of an architecture with shared weights. A task declares its **score
fields** with their direction; every consumer (metrics, stability, report, plots, regression)
orients a field through ``oriented`` / ``estimator_name`` here, so "higher is better" lives in
one place.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from harness.api.options import Option, check_options
from harness.api.space import TaskSpec

#: (inputs in the task's format -- an image tensor, a ``TokenBatch`` window -- and the targets).
Batch = tuple[Any, torch.Tensor]


@dataclass(frozen=True)
class ScoreField:
    """One per-architecture score a task writes (a column of the score files)."""

    name: str
    higher_is_better: bool
    description: str = ""


def estimator_name(score: ScoreField) -> str:
    """The name of the oriented estimator (higher = better): ``accuracy``, ``neg_loss``, ``neg_perplexity``."""
    return score.name if score.higher_is_better else f"neg_{score.name}"


def oriented(values: Any, score: ScoreField) -> np.ndarray:
    """``values`` turned so that higher means better predicted."""
    v = np.asarray(values, dtype=np.float64)
    return v if score.higher_is_better else -v


def estimators(fields: Iterable[ScoreField]) -> dict[str, ScoreField]:
    """Estimator name -> the score field behind it, in the task's order."""
    return {estimator_name(f): f for f in fields}


@dataclass(frozen=True)
class DataIdentity:
    """Which data a cell trains and scores on: checksums of what the task reads and the selection it makes.

    ``files`` maps a stable name (``train``, ``data_batch_1``, ``val_data.npz``) to the SHA-256 of
    its content; ``selection`` describes the split (parts, token or image budgets). ``checksum``
    covers the data set, the files and the selection, not ``source``: the same bytes copied to
    another folder are the same data. A cell records it (``config.json``, ``data_identity``) and is
    reused only for the same data (``harness.engine.reuse``); it is not part of the cell hash.
    """

    dataset: str
    source: str
    files: Mapping[str, str]
    selection: Mapping[str, Any] = field(default_factory=dict)

    @property
    def checksum(self) -> str:
        """SHA-256 of the data set name, the file checksums and the selection."""
        body = {"dataset": self.dataset, "files": dict(self.files), "selection": dict(self.selection)}
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()

    @property
    def short(self) -> str:
        """``<dataset>:<first 12 hex digits>``, as messages and tables show it."""
        return f"{self.dataset}:{self.checksum[:12]}"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form a cell records (with its checksum)."""
        return {
            "checksum": self.checksum,
            "dataset": self.dataset,
            "source": self.source,
            "files": dict(self.files),
            "selection": dict(self.selection),
        }

    @classmethod
    def from_dict(cls, record: Any) -> DataIdentity | None:
        """The identity a cell recorded, or None where there is none or it does not read as one."""
        if not isinstance(record, dict) or not isinstance(record.get("files"), dict):
            return None
        return cls(
            str(record.get("dataset", "")),
            str(record.get("source", "")),
            {str(k): str(v) for k, v in record["files"].items()},
            dict(record.get("selection") or {}),
        )

    def same_data(self, other: DataIdentity) -> bool:
        """Whether both read the same bytes (the selection is the cell's own options: the cell hash covers it)."""
        return self.dataset == other.dataset and dict(self.files) == dict(other.files)

    def changes_from(self, old: DataIdentity) -> str:
        """What differs from ``old``, in words (``the source changed and the content of train differs``)."""
        said = []
        if self.dataset != old.dataset:
            said.append(f"the data set changed ({old.dataset} -> {self.dataset})")
        if self.source != old.source:
            said.append("the source changed")
        differ = sorted(k for k in set(self.files) | set(old.files) if self.files.get(k) != old.files.get(k))
        if differ:
            shown = ", ".join(differ[:4]) + (f" and {len(differ) - 4} more" if len(differ) > 4 else "")
            said.append(f"the content of {shown} differs")
        return " and ".join(said) or "the selection changed"


@dataclass
class CellData:
    """What a task hands the loop: training batches (resumable), scoring batches and provenance.

    ``train`` and ``arch_train`` are iterables of batches with a ``generator`` (their random
    stream, saved in checkpoints); ``arch_train`` is set only for bi-level strategies.
    """

    train: Any
    calib_batches: list[Batch]
    eval_batches: list[Batch]
    n_train: int
    n_eval: int
    arch_train: Any = None
    info: dict[str, Any] = field(default_factory=dict)
    #: Steps one epoch over the whole training part (both halves) takes; None: examples // batch size.
    #: Tasks whose step is not ``batch_size`` examples (a language model's BPTT windows) set it.
    full_epoch_steps: int | None = None

    @property
    def n_arch_train(self) -> int:
        """Training examples held out for architecture parameters (0 without ``arch_train``)."""
        return self.arch_train.num_examples if self.arch_train is not None else 0

    def state_dict(self) -> dict[str, Any]:
        """The random state of the training streams (checkpointed every epoch)."""
        return {
            "data_rng": self.train.generator.get_state(),
            "archdata_rng": self.arch_train.generator.get_state() if self.arch_train is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""
        self.train.generator.set_state(state["data_rng"].cpu())
        if self.arch_train is not None:
            self.arch_train.generator.set_state(state["archdata_rng"].cpu())


class Task:
    """Base class of tasks (declared in a ``harness.tasks`` module's ``PLUGINS``; ``harness.catalog.TASKS``)."""

    name: ClassVar[str]
    version: ClassVar[int]
    #: The data set family the task trains and scores on (``cifar10``, ``ptb``, ``imagenet``): a
    #: space's default ground truths on another family do not apply to its cells.
    dataset: ClassVar[str] = ""
    #: Score fields in the order the score files hold them; the first is the primary estimator.
    score_fields: ClassVar[tuple[ScoreField, ...]]
    #: The task's options (``Protocol.task_options``: what data it reads), each declared once with its
    #: rule; unknown options are errors.
    option_specs: ClassVar[dict[str, Option]] = {}
    #: Whether a cell can train on it (the imported-scores task only holds scores).
    trainable: ClassVar[bool] = True

    def options(self, protocol: Any) -> dict[str, Any]:
        """``protocol.task_options`` checked (names, types, ranges, the rules between them), defaults filled in."""
        where = f"protocol {protocol.name!r}"
        opts = check_options(protocol.task_options, self.option_specs, where, "task option", f"task {self.name!r}")
        return self.refine_options(opts, f"{where}: task option")

    def refine_options(self, opts: dict[str, Any], where: str) -> dict[str, Any]:
        """Rules between options, and defaults that depend on others (``where`` starts each error)."""
        return opts

    def spec(self) -> TaskSpec:
        """What the network needs to know (its number of outputs)."""
        raise NotImplementedError

    def configure(self, protocol: Any) -> "Task":
        """The task as one protocol runs it (e.g. with its loss options); by default itself."""
        return self

    def check_protocol(self, protocol: Any) -> None:
        """A one-line error for protocol fields this task cannot serve (called when a cell is built)."""

    def make_data(self, protocol: Any, seed: int, device: torch.device, arch_half: bool = False) -> CellData:
        """The cell's data on ``device``; training order from ``seed``, scoring data fixed per protocol."""
        raise NotImplementedError

    def data_identity(self, protocol: Any) -> DataIdentity:
        """Which data ``make_data`` reads for ``protocol``: checksums of its files (cached, so cheap to ask again).

        Called before a cell is reused, without reading the data itself. A task that reads files must
        override it (``harness.data.identity`` caches their checksums); by default the data is what
        the task's code draws (the toy tasks of the tests), named by the task and its version.
        """
        return DataIdentity(self.dataset or self.name, f"drawn by task {self.name!r}", {"code": f"{self.name} v{self.version}"})

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean training loss of one batch."""
        raise NotImplementedError

    def correct(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Count of correct predictions in one batch (for the training log's accuracy)."""
        raise NotImplementedError

    def synthetic_batch(self, n: int, generator: torch.Generator) -> Batch:
        """``n`` random examples in the task's input format (contract tests, benches; no data files)."""
        raise NotImplementedError

    def lr_factor(self, batch: Batch) -> float:
        """A factor on the learning rate of the step that trains on ``batch`` (1.0: none; a language
        model may scale it by the window's length, as DARTS does)."""
        return 1.0

    def synthetic_data(self, protocol: Any, seed: int, device: torch.device) -> CellData:
        """Random examples in the task's format, batched as the protocol asks (benches, smoke runs; no data files).

        By default a few ``synthetic_batch`` batches of each size; a task whose batching is its own
        (device-side augmentation, BPTT windows) overrides it with that batching on random inputs.
        """
        g = torch.Generator().manual_seed(int(seed))

        def batches(size: int, count: int) -> list[Batch]:
            out = []
            for _ in range(count):
                x, y = self.synthetic_batch(size, g)
                out.append((x.to(device), y.to(device)))
            return out

        n_eval = protocol.eval_images or 2 * protocol.eval_batch_size
        evaluation = batches(protocol.eval_batch_size, max(1, n_eval // protocol.eval_batch_size))
        return CellData(
            train=batches(protocol.batch_size, 4),
            calib_batches=batches(protocol.calib_batch_size, max(1, protocol.calib_batches)),
            eval_batches=evaluation,
            n_train=4 * protocol.batch_size,
            n_eval=sum(len(y) for _, y in evaluation),
            info={"source": "synthetic"},
        )

    def evaluate(self, model: torch.nn.Module, arch: Any, batches: Sequence[Batch]) -> dict[str, float]:
        """Every score field of ``arch`` on ``batches`` (the model is already in scoring mode)."""
        raise NotImplementedError

    @classmethod
    def primary(cls) -> ScoreField:
        """The main score field (the report's default estimator)."""
        return cls.score_fields[0]

    @classmethod
    def field(cls, name: str) -> ScoreField:
        """The score field called ``name``."""
        for f in cls.score_fields:
            if f.name == name:
                return f
        from harness.api.errors import unknown

        raise unknown(f"score field of task {cls.name!r}", name, [f.name for f in cls.score_fields])


def estimator_values(scores: Any, estimator: str, fields: Sequence[ScoreField]) -> np.ndarray:
    """The oriented values (higher = better) of ``estimator`` from a score frame with the fields' columns."""
    by_name = estimators(fields)
    if estimator not in by_name:
        from harness.api.errors import unknown

        raise unknown("score kind", estimator, by_name)
    field_ = by_name[estimator]
    return oriented(scores[field_.name].to_numpy(), field_)
