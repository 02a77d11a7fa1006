"""Weight-sharing strategies: small versioned plugins, one module each; the harness owns the loop.

Each module declares its strategies in ``PLUGINS`` (``harness.catalog`` finds them): adding a
strategy is adding a module."""
