"""The Task contract: the data of a cell, its loss, and the score of one architecture.

The training loop never names a data set: it asks the cell's task for data sources, the loss of
a batch and the evaluation of an architecture with shared weights. A task declares its **score
fields** with their direction; every consumer (metrics, stability, report, plots, regression)
orients a field through ``oriented`` / ``estimator_name`` here, so "higher is better" lives in
one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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
