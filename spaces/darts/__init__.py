"""The DARTS CIFAR-10 cell space (the seed paper's; Liu et al.'s): encoding, networks, supernet, ground truth."""

# This folder describes itself (``harness.catalog``): its spaces, ground-truth sources and protocol
# files. The targets are imported on first use, so listing plugins stays cheap.
PLUGINS = {
    "space": {
        "darts": ".space:SPACE",
    },
    "ground_truth": {
        "darts/seedpaper": ".ground_truth:SeedPaperSource",
    },
    "protocols": ["protocols.toml"],
}
