"""NAS-Bench-201 (NATS-Bench topology) search space."""
