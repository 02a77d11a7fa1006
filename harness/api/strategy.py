"""The strategy contract: a strategy decides *which paths* are trained at each step.

The harness owns the loop (data, optimizer, schedule, checkpoints, scoring). A strategy gets the
space and its own architecture-sampling random stream, and each step returns the list of paths
whose gradients are accumulated before one optimizer update. Everything a strategy needs to
resume exactly is in ``state_dict``.

A strategy's options are declared once (``option_specs``: ``harness.api.options.Option`` per name,
with its default, type, bounds or choices); ``Strategy.__init__`` checks what it is given against
them, so a strategy only checks the rules between options (``check_rules``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from torch import nn

from harness.api.errors import WsbenchError, did_you_mean, unknown
from harness.api.options import Option


@dataclass(frozen=True)
class StrategyOption(Option):
    """An ``Option`` whose errors use the strategy's own words where the generated ones would not do."""

    #: The rule in words (e.g. ``a number in (0, 1]``, where a hook checks what ``Option`` cannot say).
    rule: str = ""
    #: What an unknown-choice error calls the option (default ``<strategy> <name>``).
    label: str = ""


def rule_words(option: Option) -> str:
    """The rule an option's value breaks, in words (``a positive integer``, ``an integer >= 2``, ...)."""
    if isinstance(option, StrategyOption) and option.rule:
        return option.rule
    if option.kind is int and (option.min, option.above, option.below) == (1, None, None):
        return "a positive integer"
    return option.describe()


class Strategy:
    """Base class of weight-sharing strategies (registered in ``strategies.STRATEGIES``)."""

    name: ClassVar[str]
    version: ClassVar[int]
    #: The options, each declared once (default, type, bounds, choices); unknown options are errors.
    option_specs: ClassVar[dict[str, Option]] = {}
    #: Option name -> default, derived from ``option_specs``. Every cell hash holds these values:
    #: changing a default changes the hash of every cell of the strategy.
    defaults: ClassVar[dict[str, Any]] = {}
    #: Set True to receive ``observe`` calls (costs a device sync per path on a GPU).
    wants_feedback: ClassVar[bool] = False
    #: Forward/backward passes per step relative to SPOS (one path), for fair-compute reports.
    #: A class default; strategies whose count depends on options or the space set it per instance.
    paths_per_step: float = 1.0
    #: Bi-level strategies (DARTS, GDAS) set True: the harness then splits the training images
    #: into a weight half and an architecture half and calls ``arch_step`` once per step.
    needs_arch_data: ClassVar[bool] = False
    #: Space capabilities (``harness.api.space``) the strategy needs; checked before anything runs.
    requires: ClassVar[frozenset[str]] = frozenset()
    #: ``estimator``: a way of training a supernet that estimates architectures (the main matrices run
    #: every one); ``trick``: a training ablation of the seed papers, some reading the ground truth
    #: (run by ``matrices/tricks.toml``, not by the default profile).
    kind: ClassVar[str] = "estimator"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "defaults" in cls.__dict__ and "option_specs" not in cls.__dict__:
            # A strategy written before typed options: its defaults, each of any type.
            cls.option_specs = {name: Option(default) for name, default in cls.defaults.items()}
        cls.defaults = {name: option.default for name, option in cls.option_specs.items()}

    def __init__(self, space: Any, rng: np.random.Generator, **options: Any) -> None:
        self.space = space
        self.rng = rng
        self.options = self.checked_options(options)
        space.require(self.requirements(), f"strategy {self.name!r}")
        self.check_rules()

    def checked_options(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """``given`` checked against ``option_specs`` (names, types, bounds, choices), defaults filled in."""
        unknown_names = sorted(set(given) - set(self.option_specs))
        if unknown_names:
            raise WsbenchError(
                f"unknown option(s) {', '.join(unknown_names)} for strategy {self.name!r}"
                f"{did_you_mean(unknown_names[0], self.option_specs)}; known: {', '.join(sorted(self.option_specs)) or 'none'}"
            )
        out = dict(self.defaults)
        for name, value in given.items():
            option = self.option_specs[name]
            if option.choices is not None and value not in option.choices:
                label = option.label if isinstance(option, StrategyOption) and option.label else f"{self.name} {name}"
                raise unknown(label, value, option.choices)
            ok, out[name] = option.coerce(value)
            if not ok:
                raise WsbenchError(f"{self.name} option {name} must be {rule_words(option)}, got {value!r}")
        return out

    def check_rules(self) -> None:
        """Rules between options, or between an option and the space (called after ``requirements`` are met)."""

    def requirements(self) -> frozenset[str]:
        """What this instance needs of the space (``requires``, plus what its options add)."""
        return frozenset(self.requires)

    def paths(self, step: int) -> list[Any]:
        """Architectures trained at this step; their gradients are summed (each loss / len).

        Usually arch tuples; bi-level strategies return op-weight tensors the supernet accepts.
        """
        raise NotImplementedError

    def held_aside(self) -> tuple[Any, ...]:
        """Parameters whose gradient this strategy holds out of the current step (it gives them back
        later): they count as holding a gradient in a resume point. Default: none."""
        return ()

    def observe(self, step: int, arch: tuple[int, ...], loss: float, accuracy: float) -> None:
        """Feedback after each trained path (loss, batch accuracy in percent); only if ``wants_feedback``."""

    def path_loss(self, arch: Any, output: Any, target: Any, task: Any) -> Any:
        """The loss one trained path's output is trained on (before the loop's 1 / paths).

        The task's loss by default; in-place distillation trains smaller paths on a larger one's
        predictions instead. Called in the order ``paths`` returned them.
        """
        return task.loss(output, target)

    # -- loop hooks (all optional; the defaults make a plain single-supernet strategy) -------------

    def bind(self, model: nn.Module, steps_per_epoch: int, epochs: int) -> nn.Module:
        """Called once before the optimizer is built; returns the module that is trained and scored.

        Strategies that keep several copies of the weights (few-shot, grouping) wrap the supernet
        here; the returned module's parameters are what the harness optimizes and checkpoints.
        """
        return model

    def before_step(self, step: int, model: nn.Module, optimizer: Any) -> None:
        """Called at the start of every step, before ``arch_step`` and ``paths`` (e.g. to split)."""

    def arch_step(self, step: int, model: nn.Module, x: Any, y: Any, loss_fn: Any = None) -> None:
        """One update of the strategy's own parameters on an architecture batch (``needs_arch_data``);
        ``loss_fn(output, target)`` is the cell's task loss."""

    def selected(self) -> tuple[int, ...] | None:
        """The architecture the strategy itself would pick now (e.g. DARTS' argmax); None if it picks none."""
        return None

    def describe(self) -> dict[str, Any]:
        """Name, version and resolved options, for provenance and cell hashing."""
        return {"name": self.name, "version": self.version, "options": dict(sorted(self.options.items()))}

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: by default the sampling RNG state."""
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""
        self.rng.bit_generator.state = state["rng"]


def uniform_grid(space: Any, who: str) -> tuple[int, int]:
    """(choices, options per choice) of a GRID space whose choices all have the same number of options.

    Strategies that keep one [choices, options] array (MdeNAS's distributions, DARTS's alpha) need it.
    """
    sizes = space.grid_shape()
    if len(set(sizes)) != 1:
        raise WsbenchError(
            f"{who} needs every choice of space {space.name!r} to have the same number of options, got {sorted(set(sizes))}"
        )
    return len(sizes), sizes[0]
