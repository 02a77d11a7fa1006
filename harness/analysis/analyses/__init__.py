"""The report's analyses, one module each, found by their declarations.

A module here (or in a package named in ``WSBENCH_PLUGINS``) declares its analyses at module level::

    PLUGINS = {"analysis": {"complexity_bias": ANALYSIS}}   # name -> AnalysisPlugin (or "module:attr")

``ANALYSES`` finds them on first use; the report runs them in ascending ``order``. Adding an
analysis is adding a module: nothing here or in the report names it.
"""

from __future__ import annotations

from typing import Any

from harness.analysis.analyses.base import AnalysisPlugin, Groups, Rendered
from harness.api.errors import WsbenchError
from harness.api.registry import Registry

KIND = "analysis"


def _fill(registry: Registry[Any]) -> None:
    """Register every analysis declared in this package's modules and in the ``WSBENCH_PLUGINS`` packages."""
    from harness.catalog import absolute, declarations, plugin_modules

    own = [(m, getattr(m, "PLUGINS", {}).get(KIND)) for m in plugin_modules(__name__)]
    seen: set[str] = set()
    for module, entries in [*own, *declarations(KIND)]:
        if entries is None or module.__name__ in seen:
            continue
        seen.add(module.__name__)
        for name, target in entries.items():
            target = absolute(module, target)
            if isinstance(target, str):
                registry.add_lazy(name, target)
            else:
                registry.add(name, target)


ANALYSES: Registry[AnalysisPlugin[Any]] = Registry(KIND, discover=_fill)


def ordered(registry: Registry[AnalysisPlugin[Any]] | None = None) -> list[tuple[str, AnalysisPlugin[Any]]]:
    """Every registered analysis as (name, plugin), in report order."""
    reg = ANALYSES if registry is None else registry
    plugins = [(name, reg.get(name)) for name in reg.names()]
    for name, plugin in plugins:
        if not isinstance(plugin, AnalysisPlugin):
            raise WsbenchError(
                f"analysis {name!r} is a {type(plugin).__name__}, not an AnalysisPlugin; declare one in its module"
            )
    return sorted(plugins, key=lambda item: (item[1].order, item[0]))


def run_all(groups: Groups, name: str, registry: Registry[AnalysisPlugin[Any]] | None = None) -> list[Rendered]:
    """Every analysis computed on ``groups`` and rendered for a report called ``name``, in report order."""
    return [plugin.run(groups, name) for _, plugin in ordered(registry)]
