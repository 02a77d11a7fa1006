"""``wsbench reproduce``: the main job — run a shipped matrix, write its report and print its first screen.

A profile is a shipped matrix (``matrices/<profile>.toml``): ``quick`` (CPU, minutes; what
``make reproduce`` runs), ``full`` (paper scale on a GPU), and the others in ``matrices/``.
Finished cells are reused, interrupted ones resume. The report puts every strategy beside the
training-free baselines the matrix names and the ``params`` baseline (parameter count as the
estimator): a supernet that does not beat it is not yet useful, and the report says so.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from harness.api.errors import WsbenchError
from harness.settings import results_dir


def reproduce(profile_name: str, device: str | None = None, root: Path | None = None, log=print) -> str:
    """Run a profile's cells (finished ones are reused), write the report; return its first screen and path."""
    import dataclasses
    import json

    import torch

    from harness.analysis.report import terminal_text, write_report
    from harness.run.backends.local import run_matrix
    from harness.run.launch import check_finished_data
    from harness.run.matrix import load_matrix

    matrix = load_matrix(profile_name)
    if device is not None:
        matrix = dataclasses.replace(matrix, device=device)
    if matrix.resolved_device().startswith("cuda") and not torch.cuda.is_available():
        raise WsbenchError(
            f"profile {profile_name!r} runs on a GPU and none is visible; use --device cpu to force it "
            "(hours to days) or PROFILE=quick"
        )
    root = Path(root) if root is not None else results_dir()
    t0 = time.perf_counter()
    check_finished_data(matrix, root, False, log)  # a finished cell of other data is refused, before anything runs
    run = run_matrix(matrix, root=root, log=log)
    if not run.finished and not run.skipped:
        # Usually one cause (e.g. missing data) for every cell: say it once, on one line.
        first = run.failed[0].detail.splitlines()[0] if run.failed else run.summary().splitlines()[0]
        raise WsbenchError(f"no cell of profile {profile_name!r} finished ({len(run.failed)} failed); first: {first}")
    wall = time.perf_counter() - t0
    done = [o for o in run.outcomes if o.status != "failed"]
    results = [json.loads((o.run_dir / "result.json").read_text()) for o in done]
    spe = np.mean([r["seconds_per_epoch"] for r in results])
    protocols = sorted({o.spec.protocol.name for o in done})
    p = done[0].spec.protocol
    preamble = (
        f"{matrix.description}. Matrix `{matrix.name}`: {len(run.outcomes)} cells "
        f"({len(run.failed)} failed), protocol(s) {', '.join(f'`{n}`' for n in protocols)}"
        + (
            f" — {', '.join(f'{k}={v}' for k, v in p.network.items())}, {p.epochs} epochs, batch {p.batch_size}, "
            f"data {', '.join(f'{k}={v}' for k, v in p.task_options.items()) or 'as its task defaults'}, "
            f"BN `{p.bn_mode}`, {results[0]['n_archs']} architectures (`{p.archset}`), snapshots at epochs "
            f"{list(p.snapshot_epochs)}"
            if len(protocols) == 1
            else ""
        )
        + f". Seeds {list(matrix.seeds)}; {spe:.1f} s per epoch on average; this run took {wall:.0f} s "
        "(finished cells are reused)."
    )
    files = write_report(
        root,
        out_dir=root / "reports",
        name=f"reproduce-{matrix.name}",  # a profile given as a path names its files by the matrix's name
        cells=[o.spec.cell_hash() for o in done],
        labels=matrix.labels(),
        title=f"wsbench reproduce — profile `{profile_name}`",
        preamble=preamble,
        baselines=matrix.baselines,
    )
    failed = "".join(f"\nFAILED: {o.label} seed {o.spec.seed}: {o.detail}" for o in run.failed)
    return terminal_text(files, failed)
