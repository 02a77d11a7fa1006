"""ProxylessNAS's MobileNetV2-like space (the seed paper's fifth): encoding, costs, networks, supernet, ground truth."""

# This folder describes itself (``harness.catalog``): its spaces, ground-truth sources and protocol
# files. The targets are imported on first use, so listing plugins stays cheap.
PLUGINS = {
    "space": {
        "proxyless": ".space:SPACE",
    },
    "ground_truth": {
        "proxyless/seedpaper": ".ground_truth:SeedPaperSource",
    },
    "protocols": ["protocols.toml"],
}
