"""The DARTS CIFAR-10 cell space (the seed paper's; Liu et al.'s): encoding and evaluation network.

Not registered in ``spaces.SPACES`` yet: the supernet, the ground-truth adapter and the
strategies' support come next, and a registered space must pass the whole Space contract.
"""
