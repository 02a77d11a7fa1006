"""Channel-Bench-Macro ground truth: every width configuration of a backbone trained 3 times on CIFAR-10.

Files (under ``$WSBENCH_DATA``): ``cbm/Results_MobileNet.json`` and ``cbm/Results_ResNet.json``
(public repository xiusu/Channel-Bench-Macro; no license file: research use, never redistributed
here). Each maps a 7-digit key to ``acc`` (three test accuracies, percent), ``mean``, ``std``,
``params`` and ``flops``.

**Caveat, stated in every table's provenance:** each stored accuracy is the *best test accuracy
over the 60 training epochs* (SGD lr 0.1 cosine, wd 5e-4, batch 256), i.e. selected on the test
set. The metric is therefore named ``best-accuracy``, on split ``test``, never plain accuracy.

Seed reductions: ``mean`` (the file's mean of the three runs, checked against the runs), ``run:0``,
``run:1``, ``run:2`` (one training run). ``wsbench gt`` compares the single runs with each other:
the ceiling (Kendall tau about 0.61 MobileNet, 0.56 ResNet).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from harness.api.errors import CorruptDataError, WsbenchError
from harness.api.ground_truth import GroundTruthQuery, GroundTruthTable
from harness.data.ground_truth_files import FileBackedSource, example_archs, example_file
from spaces.cbm.encoding import DIGITS, LAYERS, NUM_ARCHS, from_key, to_key

FILES = {"mobilenet": "cbm/Results_MobileNet.json", "resnet": "cbm/Results_ResNet.json"}
RUNS = 3
#: Width configurations in an example file (``write_example``).
EXAMPLE_ARCHS = 24
CAVEAT = "best test accuracy over the 60 training epochs (selected on the test set)"


class _CBMSource(FileBackedSource):
    """One backbone's results file."""

    source = "cbm"
    options = {("cifar10", "test"): ("best-accuracy",)}
    seed_reductions = ("mean", *(f"run:{i}" for i in range(RUNS)))
    report_reductions = tuple(f"run:{i}" for i in range(RUNS))
    higher_is_better = {"best-accuracy": True}
    missing_label = "Channel-Bench-Macro {key} results"
    checksum_label = "Channel-Bench-Macro {relative}"

    def parse(self, path: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
        """(keys, runs [n, 3], the file's means) of one results file."""
        try:
            obj = json.loads(path.read_text())
            keys = sorted(obj)
            for k in keys:
                from_key(k)
            runs = np.array([[float(a) for a in obj[k]["acc"]] for k in keys])
            means = np.array([float(obj[k]["mean"]) for k in keys])
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError, WsbenchError) as e:
            raise CorruptDataError(
                f"{path} is not a Channel-Bench-Macro results file ({type(e).__name__}: {e}); copy it again"
            ) from None
        if runs.shape != (len(keys), RUNS):
            raise CorruptDataError(f"{path}: every key needs {RUNS} accuracies in 'acc', got shape {runs.shape}")
        if not np.allclose(runs.mean(axis=1), means, atol=1e-4):
            raise CorruptDataError(f"{path}: 'mean' does not equal the mean of 'acc'; the file is damaged")
        return keys, runs, means

    def _load(self, query: GroundTruthQuery) -> GroundTruthTable:
        (keys, runs, means), prov = self.read()
        if query.seed_reduction == "mean":
            values, reduction, run_ids = means, f"mean of the {RUNS} runs (the file's 'mean')", [f"run{i}" for i in range(RUNS)]
        else:
            run = int(query.seed_reduction.split(":")[1])
            values, reduction, run_ids = runs[:, run], f"training run {run} of {RUNS}", [f"run{run}"]
        provenance: dict[str, Any] = {
            **prov,
            "n_archs": len(keys),
            "unit": "percent",
            "reduction": reduction,
            "runs": run_ids,  # which training runs the values come from (a ceiling needs disjoint ones)
            "caveat": CAVEAT,
            "complete": len(keys) == NUM_ARCHS,
        }
        return GroundTruthTable(query=query, arch_ids=keys, values=values, higher_is_better=True, provenance=provenance)

    @classmethod
    def write_example(cls, root: Path, rng: np.random.Generator) -> None:
        """The backbone's results JSON over 24 width configurations, three runs each (percent, float32 like the file's)."""
        archs = example_archs(
            rng, lambda g: tuple(int(d) for d in g.integers(0, len(DIGITS), size=LAYERS)), to_key, EXAMPLE_ARCHS
        )
        results = {}
        for arch in archs:
            # Wider networks do a little better; the three runs scatter by about 0.2 points, as the real ones do.
            width = float(np.mean(arch)) / (len(DIGITS) - 1)
            acc = (88.0 + 3.0 * width + rng.normal(0, 0.3) + rng.normal(0, 0.2, size=RUNS)).astype(np.float32).astype(float)
            results[to_key(arch)] = {
                "acc": acc.tolist(),
                "std": float(np.std(acc, ddof=1)),
                "flops": int(rng.integers(20_000_000, 130_000_000)),
                "params": int(rng.integers(100_000, 800_000)),
                "mean": float(np.mean(acc)),
            }
        example_file(root, next(iter(cls.files.values()))).write_text(json.dumps(results))


class MobileNetSource(_CBMSource):
    """Channel-Bench-Macro, MobileNet-like backbone: 16,384 widths x 3 runs."""

    space = "cbm-mobilenet"
    files = {"mobilenet": FILES["mobilenet"]}
    description = f"Channel-Bench-Macro MobileNet: 16,384 width configs x 3 CIFAR-10 runs; {CAVEAT}"


class ResNetSource(_CBMSource):
    """Channel-Bench-Macro, ResNet-like backbone: 16,384 widths x 3 runs."""

    space = "cbm-resnet"
    files = {"resnet": FILES["resnet"]}
    description = f"Channel-Bench-Macro ResNet: 16,384 width configs x 3 CIFAR-10 runs; {CAVEAT}"
