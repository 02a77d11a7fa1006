"""NAS-Bench-101 search space: cells, the official module hash, enumeration, supernet, ground truths."""

# This folder describes itself (``harness.catalog``): its spaces, ground-truth sources and protocol
# files. The targets are imported on first use, so listing plugins stays cheap.
PLUGINS = {
    "space": {
        "nb101": ".space:SPACE",
        # The seed paper's NB101 supernet draws its paths from NAS-Bench-1Shot1's third space.
        "nb101-1shot1c": ".space:SPACE_1SHOT1C",
    },
    "ground_truth": {
        "nb101/naslib500": ".ground_truth:NasLib500Source",
        "nb101/curves1k": ".ground_truth:Curves1kSource",
        "nb101/hash20k": ".ground_truth:Hash20kSource",
        "nb101/tfrecord": ".ground_truth:TFRecordSource",
        # The same tables for the sub-space (ground truths are looked up by space name).
        "nb101-1shot1c/naslib500": ".ground_truth:NasLib500Source1Shot1C",
        "nb101-1shot1c/hash20k": ".ground_truth:Hash20kSource1Shot1C",
        "nb101-1shot1c/tfrecord": ".ground_truth:TFRecordSource1Shot1C",
    },
    "protocols": ["protocols.toml"],
}
