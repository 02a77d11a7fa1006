"""NAS-Bench-101 search space: cells, the official module hash, enumeration, supernet, ground truths."""

# This folder describes itself (``harness.catalog``): its spaces, ground-truth sources and protocol
# files. The targets are imported on first use, so listing plugins stays cheap.
PLUGINS = {
    "space": {
        "nb101": ".space:SPACE",
    },
    "ground_truth": {
        "nb101/naslib500": ".ground_truth:NasLib500Source",
        "nb101/curves1k": ".ground_truth:Curves1kSource",
        "nb101/hash20k": ".ground_truth:Hash20kSource",
        "nb101/tfrecord": ".ground_truth:TFRecordSource",
    },
    "protocols": ["protocols.toml"],
}
