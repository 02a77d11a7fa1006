"""The DARTS CIFAR-10 cell space (the seed paper's; Liu et al.'s): encoding, networks, supernet, ground truth."""

from spaces.darts.space import DartsSpace

SPACE = DartsSpace()
