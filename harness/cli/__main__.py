"""``python -m harness.cli``: the ``wsbench`` command."""

import sys

from harness.cli import main

sys.exit(main())
