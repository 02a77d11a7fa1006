"""Lazy string-keyed registries: the one way wsbench names its plugins.

Entries map a name to ``"module:attr"`` (imported on first use, so listing plugins imports
nothing heavy: the lm-evaluation-harness / timm pattern) or to an object. A registry may be given a
``discover`` callable that fills it on first use (``harness.catalog`` finds the plugins that
describe themselves this way). Duplicate names raise; a miss raises a one-line error with a
"did you mean".
"""

from __future__ import annotations

import fnmatch
import importlib
import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from harness.api.errors import unknown

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection of plugins, each registered lazily or directly."""

    def __init__(self, kind: str, discover: Callable[[Registry[T]], None] | None = None) -> None:
        self.kind = kind
        self._targets: dict[str, str | T] = {}
        self._discover = discover
        # Discovery runs once; a second thread asking meanwhile waits rather than seeing it empty.
        self._lock = threading.RLock()

    def add_lazy(self, name: str, target: str) -> None:
        """Register ``name`` as the object at ``"package.module:attr"``, imported on first use."""
        if ":" not in target:
            raise ValueError(f"lazy target must look like 'module:attr', got {target!r}")
        self._add(name, target)

    def add(self, name: str, obj: T) -> None:
        """Register ``obj`` directly under ``name``."""
        self._add(name, obj)

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering an object directly under ``name``."""

        def deco(obj: T) -> T:
            self._add(name, obj)
            return obj

        return deco

    def _add(self, name: str, target: str | T) -> None:
        existing = self._targets.get(name)
        if existing is not None and existing is not target and existing != target:
            # A lazy entry being replaced by the object it points at is the same plugin.
            if not (isinstance(existing, str) and self._is_target_of(existing, target)):
                raise ValueError(f"duplicate {self.kind} name {name!r}")
        self._targets[name] = target

    @staticmethod
    def _is_target_of(spec: str, obj: Any) -> bool:
        module, _, attr = spec.partition(":")
        return getattr(obj, "__module__", None) == module and getattr(obj, "__name__", None) == attr

    def _discovered(self) -> dict[str, str | T]:
        """The entries, after the one-time discovery (cleared first, so a failure is not half-remembered)."""
        if self._discover is None:
            return self._targets
        with self._lock:
            if self._discover is not None:
                discover = self._discover
                discover(self)
                self._discover = None  # only once it succeeded: a failure is reported again next time
        return self._targets

    def get(self, name: str) -> T:
        """Return the plugin called ``name``, importing it if needed."""
        targets = self._discovered()
        if name not in targets:
            raise unknown(self.kind, name, targets)
        target = targets[name]
        if isinstance(target, str):
            module, _, attr = target.partition(":")
            target = getattr(importlib.import_module(module), attr)
            targets[name] = target
        return target  # type: ignore[return-value]

    def target(self, name: str) -> str:
        """Where ``name`` comes from: its ``module:attr`` (or the module of an object registered directly)."""
        entry = self._discovered().get(name)
        if entry is None:
            raise unknown(self.kind, name, self._targets)
        if isinstance(entry, str):
            return entry
        return f"{getattr(entry, '__module__', type(entry).__module__)}:{getattr(entry, '__name__', name)}"

    def names(self, pattern: str = "*") -> list[str]:
        """Sorted names matching a shell-style pattern, without importing the plugins themselves."""
        return sorted(n for n in self._discovered() if fnmatch.fnmatch(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._discovered()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
