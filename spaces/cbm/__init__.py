"""Channel-Bench-Macro width spaces (MobileNet-like and ResNet-like backbones): widths, costs, supernets, ground truth."""

# This folder describes itself (``harness.catalog``): its spaces, ground-truth sources and protocol
# files. The targets are imported on first use, so listing plugins stays cheap.
PLUGINS = {
    "space": {
        "cbm-mobilenet": ".space:MOBILENET",
        "cbm-resnet": ".space:RESNET",
    },
    "ground_truth": {
        "cbm-mobilenet/cbm": ".ground_truth:MobileNetSource",
        "cbm-resnet/cbm": ".ground_truth:ResNetSource",
    },
    "protocols": ["protocols.toml"],
}
