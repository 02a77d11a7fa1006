"""Weight-sharing strategies: small registered, versioned plugins; the harness owns the loop."""

from harness.registry import Registry

STRATEGIES: Registry = Registry("strategy")
STRATEGIES.add_lazy("spos", "strategies.spos:SPOS")
