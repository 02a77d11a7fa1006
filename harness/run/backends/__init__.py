"""Where a matrix's cells run, behind one interface (``base.Backend``).

- ``base``: what every backend reports (``CellOutcome``, ``MatrixRun``, ``CellStatus``) and the interface.
- ``locks``: one file lock per cell, so a cell never runs twice at once, whoever starts it.
- ``local``: the worker pool on this machine (``run_matrix``).
- ``slurm``: cells as submitit jobs (Slurm, or local subprocesses), with ``records`` and ``scheduler``.

``harness.run.launch`` picks one from ``ExecutorOptions.kind`` (``harness.run.cluster_options``).
Nothing here imports ``launch``, and ``base`` imports no backend.
"""
