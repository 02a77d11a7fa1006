"""The seed paper's DARTS-CIFAR10 ground truth: 377 architectures trained from scratch, 101 of them twice.

Files (under ``$WSBENCH_DATA``): ``seedpaper/darts-cifar10.csv`` (seed 42, 377 rows) and
``seedpaper/darts-cifar10-seed43.csv`` (seed 43, 101 rows), released with "How Does Supernet Help
in Neural Architecture Search?" (matluster/anonymous-2102, Apache-2.0). Columns: ``architecture``
(the JSON object ``encoding.from_json`` reads), ``accuracy``, ``flops``, ``params``.

What is asked must be said (``harness.api.ground_truth``):

- dataset ``cifar10``, split ``test``: the networks (20 cells, C=36) were trained on the 50k
  CIFAR-10 training images and evaluated on the 10k test images, the DARTS evaluation protocol the
  paper follows; the file itself names no split.
- metric ``accuracy``, top-1 in **percent**: the file stores fractions (0.9725); the adapter
  multiplies by 100, explicitly, and says so in the table's provenance.
- seed reductions: ``seed:42`` (377 archs), ``seed:43`` (101), ``mean-of-seeds`` (the mean of the two,
  only on the 101 archs that have both -- never a mix of one-run and two-run values).

The two seeds agree only at Kendall tau ~0.58 (``wsbench gt darts``): the ceiling any estimator
scored against one run of this ground truth must be read against.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from harness.api.errors import CorruptDataError, WsbenchError
from harness.data.ground_truth_files import PerSeedFilesSource, example_archs, example_seed_rows, write_example_csv
from spaces.darts import encoding

SPACE = "darts"
FILES = {42: "seedpaper/darts-cifar10.csv", 43: "seedpaper/darts-cifar10-seed43.csv"}
REDUCTIONS = ("seed:42", "seed:43", "mean-of-seeds")
#: Architectures in the example files (``write_example``): seed 42 trains them all, seed 43 half.
EXAMPLE_ARCHS = 20


class SeedPaperSource(PerSeedFilesSource):
    """DARTS-CIFAR10 architectures trained from scratch by the seed paper (seed 42: 377, seed 43: 101)."""

    space = SPACE
    source = "seedpaper"
    description = "seed paper (Zhang et al.): 377 DARTS cells, 20 cells C=36, CIFAR-10 test top-1; 101 re-trained with seed 43"
    options = {("cifar10", "test"): ("accuracy",)}
    seed_reductions = REDUCTIONS
    #: ``wsbench gt`` compares these tables with each other: the two training runs.
    report_reductions = ("seed:42", "seed:43")
    higher_is_better = {"accuracy": True}
    files = FILES
    missing_label = "DARTS ground truth (seed {key})"
    checksum_label = "DARTS ground truth {relative}"
    mean_reduction = "mean of seeds 42 and 43, on the architectures both trained"
    unit = "percent (the files store fractions; multiplied by 100)"

    def parse(self, path: Path) -> dict[str, float]:
        """Arch id -> accuracy in percent (the file stores fractions)."""
        import pandas as pd

        try:
            frame = pd.read_csv(path)
            archs = [encoding.from_json(json.loads(text)) for text in frame["architecture"]]
            fractions = frame["accuracy"].to_numpy(dtype=np.float64)
        except (KeyError, ValueError, TypeError, json.JSONDecodeError, pd.errors.ParserError, WsbenchError) as e:
            raise CorruptDataError(
                f"{path} is not the seed paper's DARTS table (architecture JSON, accuracy, flops, params): {type(e).__name__}: {e}"
            ) from None
        ids = [encoding.arch_id(a) for a in archs]
        if len(set(ids)) != len(ids):
            raise CorruptDataError(f"{path} lists an architecture twice; the file is damaged")
        if len(fractions) and not (0 <= fractions.min() and fractions.max() <= 1):
            raise CorruptDataError(
                f"{path}: accuracies must be fractions in [0, 1] as the paper stores them; the file is damaged"
            )
        return dict(zip(ids, (100.0 * fractions).tolist()))

    def values(self, parsed: dict[str, float], split: str) -> dict[str, float]:
        """The file holds one split (test)."""
        return parsed

    @classmethod
    def write_example(cls, root: Path, rng: np.random.Generator) -> None:
        """Both seeds' CSVs over 20 sampled cells (seed 43: half of them), accuracies as fractions like the paper's."""
        archs = example_archs(rng, encoding.sample, encoding.arch_id, EXAMPLE_ARCHS)
        # One true quality per cell plus run noise, so the two seeds agree only roughly, as the real runs do.
        quality = rng.uniform(0.962, 0.975, size=len(archs))
        flops, params = (
            rng.integers(250_000_000, 600_000_000, size=len(archs)),
            rng.integers(2_000_000, 4_000_000, size=len(archs)),
        )
        for seed, rows in example_seed_rows(rng, len(archs), cls.files).items():
            accuracy = np.round(np.clip(quality[rows] + rng.normal(0, 0.001, size=len(rows)), 0, 1), 4)
            lines = (
                [json.dumps(encoding.to_json(archs[i]), sort_keys=True, separators=(",", ":")), a, int(flops[i]), int(params[i])]
                for i, a in zip(rows, accuracy.tolist())
            )
            write_example_csv(root, cls.files[seed], ("architecture", "accuracy", "flops", "params"), lines)
