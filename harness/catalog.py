"""The composition root: where wsbench's plugins live, and the registries they fill.

Plugins describe themselves. A plugin module (or package) declares, at module level::

    PLUGINS = {
        "space": {"nb201": ".space:SPACE"},              # name -> "module:attr" ("." = this package)
        "ground_truth": {"nb201/csv": ".ground_truth:NB201CsvSource"},
        "protocols": ["protocols.toml"],                # protocol files beside this module
    }

The registries below find those declarations on first use, in the children of the packages named
in ``PLUGIN_PACKAGES`` (each space folder, each strategy module, each task module) and of any
package named in ``WSBENCH_PLUGINS`` (comma-separated; e.g. a space of your own outside this
repository). Adding a space is therefore one folder: nothing here, in the engine or in a list is
edited. Discovery imports a plugin's declaring module (a space folder's ``__init__`` holds strings
only), not the plugin itself; that happens on ``get``.

This module imports only the contracts; the packages it searches are named as data.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from harness.api.errors import WsbenchError
from harness.api.protocol_files import ProtocolEntry, read_protocol_files
from harness.api.registry import Registry

#: Kind of plugin -> the packages whose children declare it.
PLUGIN_PACKAGES: dict[str, tuple[str, ...]] = {
    "task": ("harness.tasks",),
    "space": ("spaces",),
    "ground_truth": ("spaces",),
    "protocols": ("spaces",),
    "strategy": ("strategies",),
}
#: More plugin packages, comma-separated: searched for every kind.
PLUGINS_ENV = "WSBENCH_PLUGINS"


def extra_packages() -> tuple[str, ...]:
    """The packages ``WSBENCH_PLUGINS`` names."""
    return tuple(p.strip() for p in os.environ.get(PLUGINS_ENV, "").split(",") if p.strip())


def plugin_modules(package: str) -> Iterator[ModuleType]:
    """The package itself and each direct child module or sub-package, imported, in name order."""
    try:
        pkg = importlib.import_module(package)
    except ImportError as e:
        raise WsbenchError(f"plugin package {package!r} cannot be imported ({e}); check {PLUGINS_ENV} and sys.path") from None
    yield pkg
    for info in sorted(pkgutil.iter_modules(getattr(pkg, "__path__", [])), key=lambda i: i.name):
        if not info.name.startswith("_"):
            yield importlib.import_module(f"{package}.{info.name}")


def declarations(kind: str) -> Iterator[tuple[ModuleType, Any]]:
    """(declaring module, its entry for ``kind``) for every plugin module that declares ``kind``."""
    seen: set[str] = set()
    for package in (*PLUGIN_PACKAGES.get(kind, ()), *extra_packages()):
        for module in plugin_modules(package):
            plugins = getattr(module, "PLUGINS", None)
            if module.__name__ in seen or plugins is None:
                continue
            seen.add(module.__name__)
            if not isinstance(plugins, Mapping):
                raise WsbenchError(f"{module.__name__}.PLUGINS must be a dict of kind -> entries, got {type(plugins).__name__}")
            if kind in plugins:
                yield module, plugins[kind]


def absolute(module: ModuleType, target: Any) -> Any:
    """A ``".sub:attr"`` target made absolute against the declaring module's package; others as given."""
    if not isinstance(target, str) or not target.startswith("."):
        return target
    package = module.__name__ if hasattr(module, "__path__") else module.__name__.rpartition(".")[0]
    return package + target


def _discover(kind: str) -> Any:
    """A discovery function filling a registry with every declared plugin of ``kind``."""

    def fill(registry: Registry[Any]) -> None:
        for module, entries in declarations(kind):
            if not isinstance(entries, Mapping):
                raise WsbenchError(f"{module.__name__}.PLUGINS[{kind!r}] must map names to 'module:attr' targets")
            for name, target in entries.items():
                target = absolute(module, target)
                if isinstance(target, str):
                    registry.add_lazy(name, target)
                else:
                    registry.add(name, target)

    return fill


#: Protocol name -> where it was read (its file, base and per-field sources): ``wsbench protocol show``.
PROTOCOL_ENTRIES: dict[str, ProtocolEntry] = {}
#: Protocol name -> the spaces declared beside its file (the spaces it is written for).
PROTOCOL_SPACES: dict[str, tuple[str, ...]] = {}


def protocol_files() -> list[tuple[Path, tuple[str, ...]]]:
    """Every declared protocol file, with the spaces its folder declares."""
    out = []
    for module, files in declarations("protocols"):
        folder = Path(module.__file__).parent  # type: ignore[arg-type]
        spaces = tuple((getattr(module, "PLUGINS", {}) or {}).get("space", {}))
        for name in files:
            path = folder / name
            if not path.is_file():
                raise WsbenchError(f"{module.__name__} declares protocol file {name!r}, but {path} does not exist")
            out.append((path, spaces))
    return out


def _fill_protocols(registry: Registry[Any]) -> None:
    files = protocol_files()
    entries = read_protocol_files([path for path, _ in files])
    spaces_of = {path: spaces for path, spaces in files}
    for name, entry in entries.items():
        registry.add(name, entry.protocol)
        PROTOCOL_ENTRIES[name] = entry
        PROTOCOL_SPACES[name] = spaces_of[entry.path]


SPACES: Registry[Any] = Registry("search space", discover=_discover("space"))
STRATEGIES: Registry[Any] = Registry("strategy", discover=_discover("strategy"))
TASKS: Registry[Any] = Registry("task", discover=_discover("task"))
GROUND_TRUTHS: Registry[Any] = Registry("ground-truth source", discover=_discover("ground_truth"))
PROTOCOLS: Registry[Any] = Registry("protocol", discover=_fill_protocols)


def protocol_entry(name: str) -> ProtocolEntry:
    """Where protocol ``name`` was read: its file, base and per-field sources."""
    PROTOCOLS.get(name)  # discovery, and the standard error for an unknown name
    return PROTOCOL_ENTRIES[name]


def load_ground_truth(space: str, source: str, dataset: str, split: str, metric: str, seed_reduction: str) -> Any:
    """Load one ground-truth table; every argument must be given (``harness.api.ground_truth``)."""
    from harness.api.ground_truth import GroundTruthQuery

    cls = GROUND_TRUTHS.get(f"{space}/{source}")
    return cls().load(GroundTruthQuery(space, source, dataset, split, metric, seed_reduction))


def task_of(space: Any, task_name: str | None) -> Any:
    """The registered task ``task_name``, or the space's default task."""
    return TASKS.get(task_name if task_name is not None else space.default_task)


def known_estimators() -> list[str]:
    """Every estimator name of every registered task (for validating a report's ``score``)."""
    from harness.api.task import estimators

    names: list[str] = []
    for task in TASKS.names():
        names += [n for n in estimators(TASKS.get(task).score_fields) if n not in names]
    return names


@dataclass(frozen=True)
class Pairing:
    """Whether a strategy (with its default options) runs on a space, and why not."""

    space: str
    strategy: str
    allowed: bool
    reason: str = ""


def pairings() -> list[Pairing]:
    """Every registered space x strategy pair, allowed or refused by the space's capabilities."""
    import numpy as np

    from harness.api.space import UnsupportedError

    out = []
    for space_name in SPACES.names():
        space = SPACES.get(space_name)
        for name in STRATEGIES.names():
            try:
                STRATEGIES.get(name)(space, np.random.default_rng(0))
            except UnsupportedError as exc:
                out.append(Pairing(space_name, name, False, str(exc)))
                continue
            out.append(Pairing(space_name, name, True))
    return out
