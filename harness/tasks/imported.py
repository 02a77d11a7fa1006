"""The pseudo-task of cells imported from score files (``wsbench score``): scores only, no training.

An imported estimator's cell holds one score field, ``score``, oriented at import so that higher
is better. It is not registered in ``TASKS`` (nothing can train on it); the scoring and report
code looks it up by ``IMPORTED_TASK``.
"""

from __future__ import annotations

from harness.api.task import ScoreField, Task

IMPORTED_TASK = "imported"


class ImportedScores(Task):
    """The task of an imported cell: its single score field."""

    name = IMPORTED_TASK
    version = 1
    score_fields = (ScoreField("score", True, "an imported estimator's score, oriented at import so that higher is better"),)


IMPORTED_SCORES = ImportedScores()
