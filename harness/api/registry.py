"""Lazy string-keyed registries for spaces, strategies, ground-truth sources and protocols.

Entries map a name to ``"module:attr"`` and are imported on first use, so listing plugins
imports nothing heavy (the lm-evaluation-harness / timm pattern). Duplicate names raise;
a miss raises a one-line error with a "did you mean".
"""

from __future__ import annotations

import fnmatch
import importlib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from harness.api.errors import unknown

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection of plugins, each registered lazily or directly."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._targets: dict[str, str | T] = {}

    def add_lazy(self, name: str, target: str) -> None:
        """Register ``name`` as the object at ``"package.module:attr"``, imported on first use."""
        if ":" not in target:
            raise ValueError(f"lazy target must look like 'module:attr', got {target!r}")
        self._add(name, target)

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering an object directly under ``name``."""

        def deco(obj: T) -> T:
            self._add(name, obj)
            return obj

        return deco

    def _add(self, name: str, target: str | T) -> None:
        existing = self._targets.get(name)
        if existing is not None and existing is not target:
            # A lazy entry being replaced by the object it points at is the same plugin.
            if not (isinstance(existing, str) and self._is_target_of(existing, target)):
                raise ValueError(f"duplicate {self.kind} name {name!r}")
        self._targets[name] = target

    @staticmethod
    def _is_target_of(spec: str, obj: Any) -> bool:
        module, _, attr = spec.partition(":")
        return getattr(obj, "__module__", None) == module and getattr(obj, "__name__", None) == attr

    def get(self, name: str) -> T:
        """Return the plugin called ``name``, importing it if needed."""
        if name not in self._targets:
            raise unknown(self.kind, name, self._targets)
        target = self._targets[name]
        if isinstance(target, str):
            module, _, attr = target.partition(":")
            target = getattr(importlib.import_module(module), attr)
            self._targets[name] = target
        return target  # type: ignore[return-value]

    def names(self, pattern: str = "*") -> list[str]:
        """Sorted names matching a shell-style pattern, without importing anything."""
        return sorted(n for n in self._targets if fnmatch.fnmatch(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._targets

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
