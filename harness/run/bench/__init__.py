"""``wsbench bench``: how fast the harness trains and scores a space's supernet on this device, against a naive loop.

One run measures one space under one protocol, on random inputs in its task's format (speed only,
no data files; ``Task.synthetic_data``):

- *ours, training*: ``harness.engine.step.train_step``, the step the cell loop takes (the task's
  device batches, SPOS path sampling, the protocol's optimizer, clipping, schedule, memory format
  and autocast) — ``ours.py``;
- *naive, training*: the same network, loss and optimizer fed as a first implementation would
  (CPU NCHW float batches copied per step, images cropped and flipped one by one in NumPy, no
  ``channels_last``, the loss read back every step) — ``naive.py``;
- *static, training*: the same step with ``Protocol.step = "static"`` (every candidate op, masked), and
  on a GPU the static step replayed as CUDA graphs — ``static.py``; skipped, with the reason, where
  the supernet has no masked forward or the device no CUDA graphs;
- *ours / naive, scoring*: ``score_architectures`` (BN recalibration, fixed device batches) vs a
  plain loop (BN statistics reset per architecture, a copy and a read per batch);
- *aggregate*: k processes each running the ours-training loop at once — ``aggregate.py``.

Without ``--protocol`` a space is benched at its benchmark-scale network with the engine's default
optimizer at batch 256 (for NB201: C=16, N=5, the published H100 figures' setting). Every figure is
taken after ``warmup`` untimed steps; on a GPU the timed span is bracketed by CUDA events.
"""

from harness.run.bench.command import bench_command, format_bench, run_bench
from harness.run.bench.setup import DEFAULT_BENCH, Plan, bench_protocol, build_setup, resolve_device

__all__ = [
    "DEFAULT_BENCH",
    "Plan",
    "bench_command",
    "bench_protocol",
    "build_setup",
    "format_bench",
    "resolve_device",
    "run_bench",
]
