"""The cell folder: one module owns its layout, how it is written and sealed, and how it is read.

A cell lives at ``<results>/runs/<space>/<strategy>/<protocol>/seed<k>-<hash10>/`` (imported score
files at ``runs/<space>/imported/<label>/...``) and holds (results/README.md):

- ``config.json``   the resolved config, provenance and the task (written first)
- ``train_log.csv`` one row per epoch
- ``scores/epoch_NNN.csv`` per-snapshot architecture scores (the task's score fields)
- ``metrics.csv``   long format: epoch, ground truth, score kind, metric, value
- ``supernet.pt``   the shared weights that were scored; ``checkpoint.pt`` while the cell runs
- ``result.json``   written last and atomically, with the size and SHA-256 of every file above:
  the cell is finished iff it validates (``harness.engine.integrity``)
- ``.damaged-<k>/``, ``.stale-<data>/`` outputs moved aside (damaged; trained on other data:
  ``harness.engine.reuse``), ``data_identity.json`` the data an older cell adopted at its first reuse

The trained loop, the results store and imported score files all go through ``RunFolder``; the
task of a cell is the one its config names (registered in ``harness.catalog``), never guessed.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from harness.api.errors import WsbenchError
from harness.api.task import ScoreField, Task
from harness.catalog import SPACES, task_of
from harness.engine.integrity import DAMAGED, FINISHED, cell_state, manifest, read_json, seal, set_aside
from harness.fileio import atomic_write_bytes, atomic_write_json, atomic_write_text

CONFIG, TRAIN_LOG, METRICS, RESULT = "config.json", "train_log.csv", "metrics.csv", "result.json"
SUPERNET, CHECKPOINT, SCORES = "supernet.pt", "checkpoint.pt", "scores"
#: The ``DataFrame.attrs`` key under which ``RunFolder.scores`` records the score fields of its columns.
FIELDS_ATTR = "score_fields"


def cell_path(root: Path, space: str, strategy: str, protocol: str, seed: int, cell_hash: str) -> Path:
    """Where a cell lives under a results folder."""
    return root / "runs" / space / strategy / protocol / f"seed{seed}-{cell_hash[:10]}"


def task_of_config(config: dict[str, Any]) -> Task:
    """The task a cell ran, by the name its config records (older cells name none: their space's default)."""
    protocol = config.get("protocol", {})
    name = protocol.get("task") if isinstance(protocol, dict) else None
    if name is not None:
        return task_of(None, name)
    return task_of(SPACES.get(config["space"]["name"]), None)


@dataclass(frozen=True)
class RunFolder:
    """One cell folder."""

    path: Path

    # -- state ---------------------------------------------------------------------------------
    def state(self) -> tuple[str, str]:
        """(``finished`` | ``damaged`` | ``absent``, the reason when damaged)."""
        return cell_state(self.path)

    def finished(self) -> bool:
        """Whether the cell finished and its files are intact."""
        return self.state()[0] == FINISHED

    def damaged(self) -> bool:
        """Whether the cell has a result whose files no longer validate."""
        return self.state()[0] == DAMAGED

    def set_aside(self, reason: str, names: Sequence[str] | None = None, prefix: str = ".damaged-") -> Path:
        """Move outputs (all, or ``names``) into ``.damaged-<k>/`` (or ``prefix``) with the reason; returns that folder."""
        if names is None:
            return set_aside(self.path, reason, prefix=prefix)
        return set_aside(self.path, reason, tuple(names), prefix=prefix)

    # -- writing -------------------------------------------------------------------------------
    def write_config(self, config: dict[str, Any]) -> None:
        """``config.json`` (written first: the folder is a cell from then on)."""
        atomic_write_json(self.path / CONFIG, config)

    def write_scores(self, epoch: int, scores: pd.DataFrame) -> None:
        """One snapshot's architecture scores, ``scores/epoch_NNN.csv``."""
        atomic_write_text(self.path / SCORES / f"epoch_{epoch:03d}.csv", scores.to_csv(index=False))

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        """The long-format metrics so far (rewritten at every snapshot, so a cut-short cell can be reported)."""
        atomic_write_text(self.path / METRICS, pd.DataFrame(rows).to_csv(index=False))

    def write_train_log(self, rows: list[dict[str, Any]]) -> None:
        """One row per epoch."""
        atomic_write_text(self.path / TRAIN_LOG, pd.DataFrame(rows).to_csv(index=False))

    def save(self, name: str, state: Any) -> None:
        """A torch state (``supernet.pt``, ``checkpoint.pt``), written atomically."""
        buf = io.BytesIO()
        torch.save(state, buf)
        atomic_write_bytes(self.path / name, buf.getvalue())

    def seal(self, result: dict[str, Any]) -> dict[str, Any]:
        """Write ``result.json`` last, listing every output file's size and hash; the cell is finished from then on."""
        result = seal({**result, "files": manifest(self.path)})
        atomic_write_json(self.path / RESULT, result)
        return result

    # -- reading -------------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """``config.json``; a one-line error when it is missing or unreadable."""
        try:
            config = read_json(self.path / CONFIG)
        except (OSError, ValueError) as exc:
            raise WsbenchError(f"{self.path / CONFIG} is unreadable ({exc}); the cell cannot be reported") from None
        if not isinstance(config, dict):
            raise WsbenchError(f"{self.path / CONFIG} is not a JSON object; the cell cannot be reported")
        return config

    def result(self) -> dict[str, Any]:
        """``result.json`` (read as written; ``state`` says whether it validates)."""
        return json.loads((self.path / RESULT).read_text())

    def task(self) -> Task:
        """The task this cell ran (its config names it)."""
        try:
            return task_of_config(self.config())
        except KeyError as exc:
            raise WsbenchError(f"{self.path / CONFIG} lacks {exc}; the cell cannot be reported") from None

    def scores(self, fields: Sequence[ScoreField] | None = None) -> pd.DataFrame:
        """Every snapshot's scores: columns epoch, arch and the task's score fields (default: the cell's task's)."""
        files = sorted((self.path / SCORES).glob("epoch_*.csv"))
        if not files:
            raise WsbenchError(f"no score files in {self.path / SCORES}; the cell has not reached a snapshot epoch yet")
        fields = self.task().score_fields if fields is None else fields
        columns = ["epoch", "arch", *(f.name for f in fields)]
        frames = []
        for f in files:
            try:
                # Architecture ids are strings: CBM's keys are all digits and would otherwise become ints.
                frames.append(pd.read_csv(f, dtype={"arch": str}, keep_default_na=False))
            except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
                raise WsbenchError(f"{f} is unreadable ({exc}); delete the cell folder and run it again") from None
        df = pd.concat(frames, ignore_index=True)
        missing = set(columns) - set(df.columns)
        if missing:
            raise WsbenchError(
                f"score files in {self.path / SCORES} lack columns {sorted(missing)}; they are not wsbench score files"
            )
        out = df[columns].sort_values("epoch", kind="stable").reset_index(drop=True)
        out.attrs[FIELDS_ATTR] = tuple(fields)  # which task's fields these columns are, for every reader
        return out

    def train_log(self) -> pd.DataFrame | None:
        """``train_log.csv`` (one row per epoch), or None where there is none (imported, unfinished)."""
        try:
            return pd.read_csv(self.path / TRAIN_LOG)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
            return None

    def metrics(self) -> pd.DataFrame:
        """``metrics.csv``; a one-line error when it is unreadable or holds no metric rows."""
        try:
            metrics = pd.read_csv(self.path / METRICS)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise WsbenchError(f"metrics.csv is unreadable ({type(exc).__name__}); run the cell again") from None
        if metrics.empty or not {"epoch", "ground_truth", "score", "metric", "value"} <= set(metrics.columns):
            raise WsbenchError("metrics.csv has no metric rows; run the cell again")
        return metrics

    def load(self, name: str, device: torch.device | str = "cpu") -> Any:
        """A torch state written by ``save``."""
        return torch.load(self.path / name, map_location=device, weights_only=False)
