"""wsbench harness: data, ground truth, metrics, training loop, evaluation and the command line."""

__version__ = "0.1.0"
