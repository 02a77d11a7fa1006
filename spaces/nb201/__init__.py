"""NAS-Bench-201 (NATS-Bench topology) search space."""

from spaces.nb201.space import NB201Space

SPACE = NB201Space()
