"""wsbench harness: data, ground truth, metrics, training loop, evaluation and the command line."""

#: The one version number of wsbench (pyproject.toml reads it from here).
__version__ = "0.1.0"
