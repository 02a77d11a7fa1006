"""The seed paper's DARTS-PTB ground truth: 137 recurrent cells trained from scratch, 93 of them twice.

Files (under ``$WSBENCH_DATA``): ``seedpaper/ptb.csv`` (seed 42, 137 rows) and
``seedpaper/ptb-seed43.csv`` (seed 43, 93 rows), released with "How Does Supernet Help in Neural
Architecture Search?" (matluster/anonymous-2102, Apache-2.0). Columns: ``architecture`` (the JSON
object ``encoding.from_json`` reads), ``valid_ppl``, ``test_ppl``.

What is asked must be said (``harness.api.ground_truth``):

- dataset ``ptb``, split ``valid`` or ``test``: perplexity of the stand-alone cell (hidden 850)
  on Penn Treebank's validation / test text;
- metric ``perplexity``: **lower is better** (the tables say so, and every metric orients by it);
- seed reductions ``seed:42`` (137 cells), ``seed:43`` (93), ``mean-of-seeds`` (the arithmetic mean
  of the two perplexities, only on the 93 cells that have both).

The two seeds agree at Kendall tau ~0.72 (``wsbench gt ptb``): the ceiling for one run.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from harness.api.errors import CorruptDataError, WsbenchError
from harness.data.ground_truth_files import PerSeedFilesSource, example_archs, example_seed_rows, write_example_csv
from spaces.ptb import encoding

SPACE = "ptb"
FILES = {42: "seedpaper/ptb.csv", 43: "seedpaper/ptb-seed43.csv"}
SPLITS = ("valid", "test")
REDUCTIONS = ("seed:42", "seed:43", "mean-of-seeds")
#: Cells in the example files (``write_example``): seed 42 trains them all, seed 43 half.
EXAMPLE_CELLS = 16


class SeedPaperSource(PerSeedFilesSource):
    """DARTS-PTB cells trained from scratch by the seed paper (seed 42: 137, seed 43: 93)."""

    space = SPACE
    source = "seedpaper"
    description = (
        "seed paper (Zhang et al.): 137 DARTS recurrent cells, hidden 850, PTB valid/test perplexity; 93 re-trained with seed 43"
    )
    options = {("ptb", "valid"): ("perplexity",), ("ptb", "test"): ("perplexity",)}
    seed_reductions = REDUCTIONS
    #: ``wsbench gt`` compares these tables with each other: the two training runs.
    report_reductions = ("seed:42", "seed:43")
    higher_is_better = {"perplexity": False}
    files = FILES
    missing_label = "PTB ground truth (seed {key})"
    checksum_label = "PTB ground truth {relative}"
    mean_reduction = "arithmetic mean of the seed-42 and seed-43 perplexities, on the cells both trained"
    unit = "perplexity (lower is better)"

    def parse(self, path: Path) -> dict[str, dict[str, float]]:
        """Split -> arch id -> perplexity."""
        import pandas as pd

        try:
            frame = pd.read_csv(path)
            archs = [encoding.from_json(json.loads(text)) for text in frame["architecture"]]
            values = {split: frame[f"{split}_ppl"].to_numpy(dtype=np.float64) for split in SPLITS}
        except (KeyError, ValueError, TypeError, json.JSONDecodeError, pd.errors.ParserError, WsbenchError) as e:
            raise CorruptDataError(
                f"{path} is not the seed paper's PTB table (architecture JSON, valid_ppl, test_ppl): {type(e).__name__}: {e}"
            ) from None
        ids = [encoding.arch_id(a) for a in archs]
        if len(set(ids)) != len(ids):
            raise CorruptDataError(f"{path} lists a cell twice; the file is damaged")
        for split, v in values.items():
            if len(v) and not (np.all(np.isfinite(v)) and v.min() >= 1.0):
                raise CorruptDataError(f"{path}: {split}_ppl must be finite perplexities >= 1; the file is damaged")
        return {s: dict(zip(ids, v.tolist())) for s, v in values.items()}

    def values(self, parsed: dict[str, dict[str, float]], split: str) -> dict[str, float]:
        """The perplexities of one split."""
        return parsed[split]

    @classmethod
    def write_example(cls, root: Path, rng: np.random.Generator) -> None:
        """Both seeds' CSVs over 16 sampled cells (seed 43: half of them), valid/test perplexities like the paper's."""
        cells = example_archs(rng, _sample, encoding.arch_id, EXAMPLE_CELLS)
        # One true quality per cell plus run noise; test text reads about 2.5 perplexity lower than valid.
        quality = rng.uniform(58.5, 64.0, size=len(cells))
        for seed, rows in example_seed_rows(rng, len(cells), cls.files).items():
            valid = np.round(quality[rows] + rng.normal(0, 0.3, size=len(rows)), 6)
            test = np.round(valid - rng.uniform(2.0, 3.0, size=len(rows)), 6)
            lines = (
                [json.dumps(encoding.to_json(cells[i]), sort_keys=True, separators=(",", ":")), v, t]
                for i, v, t in zip(rows, valid.tolist(), test.tolist())
            )
            write_example_csv(root, cls.files[seed], ("architecture", "valid_ppl", "test_ppl"), lines)


def _sample(rng: np.random.Generator) -> encoding.Arch:
    """A uniform cell: per step an activation and one of the states before it."""
    return encoding.from_grid(
        [int(v) for i in range(encoding.STEPS) for v in rng.integers(0, (len(encoding.ACTIVATIONS), i + 1))]
    )
