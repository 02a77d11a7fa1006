"""The pseudo-task of cells imported from score files (``wsbench score``): scores only, no training.

An imported estimator's cell holds one score field, ``score``, oriented at import so that higher
is better. It is a registered task like any other (a cell folder names its task, and every reader
looks the task up by that name), but not a trainable one: a protocol that names it is refused.
"""

from __future__ import annotations

from typing import Any

from harness.api.errors import WsbenchError
from harness.api.task import ScoreField, Task

IMPORTED_TASK = "imported"


class ImportedScores(Task):
    """The task of an imported cell: its single score field."""

    name = IMPORTED_TASK
    version = 1
    score_fields = (ScoreField("score", True, "an imported estimator's score, oriented at import so that higher is better"),)
    trainable = False

    def check_protocol(self, protocol: Any) -> None:
        """Nothing trains on imported scores."""
        raise WsbenchError(
            f"protocol {protocol.name!r}: task {self.name!r} holds scores imported by wsbench score; no cell trains on it"
        )


IMPORTED_SCORES = ImportedScores()

#: Registered by ``harness.catalog`` (this module describes itself).
PLUGINS = {"task": {"imported": IMPORTED_SCORES}}
