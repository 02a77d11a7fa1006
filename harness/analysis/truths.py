"""The ground-truth tables a report compares with: which can be read here, oriented, and which pairs are independent."""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.api.errors import WsbenchError
from harness.api.ground_truth import GroundTruthTable


def load_tables(space: str, specs: list[list[str]]) -> tuple[dict[str, GroundTruthTable], list[str]]:
    """The ground-truth tables named in a cell config that can be read here, by label; and why not others."""
    from harness.engine.scoring import available_ground_truths

    try:
        tables, skipped = available_ground_truths(space, tuple(tuple(s) for s in specs))  # type: ignore[misc]
    except WsbenchError as exc:
        return {}, [str(exc)]
    return {t.query.label(): t for t in tables}, skipped


def default_tables(space: str) -> dict[str, GroundTruthTable]:
    """The space's default ground truths readable here: candidates for the ceiling's estimator.

    A cell may be scored against one ground truth only; the ceiling still needs a second
    measurement of the same thing, which any other default table of that dataset family is.
    """
    from harness.catalog import SPACES

    specs = [list(s) for s in getattr(SPACES.get(space), "default_ground_truths", ())]
    return load_tables(space, specs)[0] if specs else {}


def oriented(table: GroundTruthTable, archs: list[str]) -> np.ndarray:
    """The table's values on ``archs``, negated where lower is better (as the metrics expect)."""
    v = table.lookup(archs)
    return v if table.higher_is_better else -v


def independent(a: GroundTruthTable, b: GroundTruthTable) -> bool:
    """Whether two tables measure independently: not when both name their training runs and share one
    (seed 42 vs the mean of seeds 42 and 43 is no ceiling: the mean contains the run)."""
    runs_a, runs_b = a.provenance.get("runs"), b.provenance.get("runs")
    return not (runs_a and runs_b and set(runs_a) & set(runs_b))


def fingerprint_notes(tables: dict[str, GroundTruthTable], rows: pd.DataFrame) -> list[str]:
    """Say when a ground truth read today is not the table the runs were scored against."""
    notes = []
    for lbl, t in tables.items():
        recorded = set(rows.loc[rows["ground_truth"] == lbl, "gt_fingerprint"].astype(str))
        if recorded and recorded != {t.fingerprint[:16]}:
            notes.append(
                f"{lbl}: the table read here (fingerprint {t.fingerprint[:16]}) differs from the one the runs "
                f"used ({', '.join(sorted(recorded))}); baseline and ceiling rows use today's"
            )
    return notes
