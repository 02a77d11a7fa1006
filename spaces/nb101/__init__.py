"""NAS-Bench-101 search space."""

from spaces.nb101.space import NB101Space

SPACE = NB101Space()
"""The NB101 space as the harness sees it: sampling, module-hash ids, supernet, parameter counts."""
