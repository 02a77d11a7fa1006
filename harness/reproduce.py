"""``wsbench reproduce``: the main job — train and score a small matrix, print the results table.

A profile names the space, strategies, seeds, protocol and device. The table reports, per
ground truth, each metric as mean ± sd over seeds at the final snapshot (and over the last
snapshots within a run), beside the ``params`` baseline (parameter count as the estimator) on
the same architectures: a supernet that does not beat it is not yet useful, and the table says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import WsbenchError, unknown
from harness.settings import results_dir


@dataclass(frozen=True)
class Profile:
    """A named reproduce job."""

    name: str
    space: str
    strategies: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]
    protocol: str
    seeds: tuple[int, ...]
    device: str  # "cpu" or "cuda"
    description: str


PROFILES = {
    "quick": Profile(
        "quick", "nb201", (("spos", ()),), "quick", (0, 1), "cpu",
        "NB201 x SPOS x 2 seeds, reduced network and data; minutes on a 2-core CPU",
    ),
    "full": Profile(
        "full", "nb201", (("spos", ()),), "nb201-rs", (0, 1), "cuda",
        "NB201 x SPOS x 2 seeds with the NAS-Bench-201 paper's supernet protocol; hours on one GPU",
    ),
}


def reproduce(profile_name: str, device: str | None = None, root: Path | None = None, log=print) -> str:
    """Run a profile's cells (finished ones are reused) and return the report text."""
    import torch

    from harness.protocols import PROTOCOLS
    from harness.report import write_report
    from harness.train import CellSpec, run_cell

    if profile_name not in PROFILES:
        raise unknown("profile", profile_name, PROFILES)
    prof = PROFILES[profile_name]
    device = device or prof.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise WsbenchError(
            f"profile {profile_name!r} runs on a GPU and none is visible; use --device cpu to force it (hours to days) or PROFILE=quick"
        )
    protocol = PROTOCOLS.get(prof.protocol)
    root = root if root is not None else results_dir()
    t0 = time.perf_counter()
    results = []
    for strategy, options in prof.strategies:
        for seed in prof.seeds:
            spec = CellSpec(prof.space, strategy, protocol, seed, dict(options), device=device)
            log(f"cell {prof.space}/{strategy}/{protocol.name}/seed{seed} -> {spec.run_dir(root)}")
            r = run_cell(spec, root=root, log=log)
            results.append({**r, "strategy": strategy, "seed": seed})
    wall = time.perf_counter() - t0
    spe = np.mean([r["seconds_per_epoch"] for r in results])
    preamble = (
        f"{prof.description}. Protocol `{protocol.name}`: C={protocol.C}, N={protocol.N}, {protocol.epochs} epochs, "
        f"batch {protocol.batch_size}, split `{protocol.split}` (subset {protocol.subset}), BN `{protocol.bn_mode}`, "
        f"{results[0]['n_archs']} architectures (`{protocol.archset}`), snapshots at epochs {list(protocol.snapshot_epochs)}. "
        f"Seeds {list(prof.seeds)}; {spe:.1f} s per epoch on average; this run took {wall:.0f} s (finished cells are reused)."
    )
    files = write_report(
        root, out_dir=root / "reports", name=f"reproduce-{profile_name}", cells=[r["cell_hash"] for r in results],
        title=f"wsbench reproduce — profile `{prof.name}`", preamble=preamble,
    )
    return files.text + "\nwritten:\n" + "\n".join(f"  {p}" for p in files.paths()) + "\n"
