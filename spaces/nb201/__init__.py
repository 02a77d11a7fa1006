"""NAS-Bench-201 (NATS-Bench topology) search space: encodings, isomorphism, costs, supernet, ground truths."""

# This folder describes itself (``harness.catalog``): its spaces, ground-truth sources and protocol
# files. The targets are imported on first use, so listing plugins stays cheap.
PLUGINS = {
    "space": {
        "nb201": ".space:SPACE",
    },
    "ground_truth": {
        "nb201/csv": ".ground_truth:NB201CsvSource",
        "nb201/analog": ".ground_truth:AnalogNASBenchSource",
        "nb201/nb201-pth": ".ground_truth:NB201PthSource",
        "nb201/nats": ".ground_truth:NATSBenchSource",
    },
    "protocols": ["protocols.toml"],
}
