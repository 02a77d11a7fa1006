"""The DARTS recurrent-cell space on Penn Treebank (the seed paper's DARTS-PTB): encoding, supernet, ground truth."""

from spaces.ptb.space import PtbSpace

SPACE = PtbSpace()
