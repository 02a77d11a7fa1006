"""The DARTS recurrent-cell space on Penn Treebank (the seed paper's DARTS-PTB): encoding, supernet, ground truth."""

# This folder describes itself (``harness.catalog``): its spaces, ground-truth sources and protocol
# files. The targets are imported on first use, so listing plugins stays cheap.
PLUGINS = {
    "space": {
        "ptb": ".space:SPACE",
    },
    "ground_truth": {
        "ptb/seedpaper": ".ground_truth:SeedPaperSource",
    },
    "protocols": ["protocols.toml"],
}
