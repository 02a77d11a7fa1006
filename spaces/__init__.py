"""Search spaces. Each space lives in ``spaces/<name>/`` with its encoding, costs, supernet and
ground-truth adapters, and is registered in ``SPACES`` (lazily, so listing imports nothing heavy)."""

from harness.api.registry import Registry

SPACES: Registry = Registry("search space")
SPACES.add_lazy("nb201", "spaces.nb201:SPACE")
SPACES.add_lazy("nb101", "spaces.nb101:SPACE")
SPACES.add_lazy("darts", "spaces.darts:SPACE")
SPACES.add_lazy("ptb", "spaces.ptb:SPACE")
SPACES.add_lazy("proxyless", "spaces.proxyless:SPACE")
SPACES.add_lazy("cbm-mobilenet", "spaces.cbm:MOBILENET")
SPACES.add_lazy("cbm-resnet", "spaces.cbm:RESNET")
