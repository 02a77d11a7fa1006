"""What defines one matrix cell (``CellSpec``), its hash and folder, and the provenance it records."""

from __future__ import annotations

import hashlib
import json
import platform
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import harness
from harness.api.errors import WsbenchError
from harness.api.ground_truth import dataset_family
from harness.api.protocol import Protocol
from harness.api.space import GTSpec
from harness.catalog import SPACES, STRATEGIES, task_of
from harness.engine.determinism import settings as determinism_settings
from harness.engine.run_folder import cell_path
from harness.settings import results_dir


@dataclass(frozen=True)
class CellSpec:
    """Everything that defines one matrix cell."""

    space: str
    strategy: str
    protocol: Protocol
    seed: int
    strategy_options: dict[str, Any] = field(default_factory=dict)
    ground_truths: tuple[GTSpec, ...] | None = None  # None: the space's defaults
    device: str = "cpu"

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise WsbenchError(f"seed must be an integer >= 0, got {self.seed!r}")
        check_device(self.device)

    def config(self) -> dict[str, Any]:
        """The fully resolved config (JSON-able); its hash names the cell."""
        space = SPACES.get(self.space)
        strat = STRATEGIES.get(self.strategy)
        task = task_of(space, self.protocol.task)
        return {
            "space": space.describe(),
            "strategy": {"name": strat.name, "version": strat.version, "options": {**strat.defaults, **self.strategy_options}},
            "protocol": self.protocol.to_dict(space, task),
            "seed": self.seed,
            "ground_truths": [list(g) for g in self.resolved_ground_truths()],
            "device_type": torch.device(self.device).type,
            "wsbench_version": harness.__version__,
        }

    def resolved_ground_truths(self) -> tuple[GTSpec, ...]:
        """The configured ground truths, or the space's defaults on the data set this cell trains on.

        A default ground truth measured on another data set (ProxylessNAS's ImageNet numbers for a
        supernet trained on CIFAR-10) does not apply: such a cell reports stability only. Named
        explicitly (``ground_truths``), any ground truth is used as asked (a transfer question).
        """
        if self.ground_truths is not None:
            return self.ground_truths
        return tuple(g for g in self._default_ground_truths() if self._applies(g))

    def missing_ground_truths(self) -> tuple[GTSpec, ...]:
        """The space's default ground truths left out because they were measured on another data set."""
        if self.ground_truths is not None:
            return ()
        return tuple(g for g in self._default_ground_truths() if not self._applies(g))

    def _default_ground_truths(self) -> tuple[GTSpec, ...]:
        return tuple(SPACES.get(self.space).default_ground_truths)

    def _applies(self, gt: GTSpec) -> bool:
        dataset = task_of(SPACES.get(self.space), self.protocol.task).dataset
        return not dataset or dataset_family(gt[1]) == dataset

    def cell_hash(self) -> str:
        """SHA-256 of the resolved config."""
        return hashlib.sha256(json.dumps(self.config(), sort_keys=True).encode()).hexdigest()

    def run_dir(self, root: Path | None = None) -> Path:
        """Where this cell's outputs live."""
        root = root if root is not None else results_dir()
        return cell_path(root, self.space, self.strategy, self.protocol.name, self.seed, self.cell_hash())


DEVICE_PATTERN = re.compile(r"cpu|cuda(:\d+)?|mps")


def check_device(device: str) -> str:
    """``device`` if it is a device name torch knows (cpu, cuda, cuda:N, mps); else a one-line error."""
    if not isinstance(device, str) or not DEVICE_PATTERN.fullmatch(device):
        raise WsbenchError(f"unknown device {device!r}; use cpu, cuda, cuda:N or mps")
    return device


def require_device(device: torch.device) -> None:
    """A one-line error when ``device`` is not present on this machine."""
    if device.type == "cuda":
        visible = torch.cuda.device_count()
        if visible == 0:
            raise WsbenchError(f"device {device} asked for, but no GPU is visible; use --device cpu or run on a GPU machine")
        if device.index is not None and device.index >= visible:
            raise WsbenchError(f"device {device} asked for, but only {visible} GPU(s) are visible (cuda:0..cuda:{visible - 1})")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise WsbenchError(f"device {device} asked for, but MPS is not available on this machine; use --device cpu")


def _git(*args: str) -> str:
    here = Path(__file__).parent
    return subprocess.run(["git", *args], capture_output=True, text=True, cwd=here, timeout=5).stdout.strip()


def provenance(device: torch.device) -> dict[str, Any]:
    """Versions, git hash and device of this process."""
    try:
        git, dirty = _git("rev-parse", "HEAD") or None, bool(_git("status", "--porcelain"))
    except (OSError, subprocess.SubprocessError):
        git, dirty = None, None
    info = {
        "wsbench": harness.__version__,
        "git": git,
        "git_dirty": dirty,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "determinism": determinism_settings(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info
