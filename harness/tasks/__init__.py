"""Tasks: what a cell trains on and how an architecture is scored. Each module declares its tasks in
``PLUGINS``; ``harness.catalog`` finds them."""
