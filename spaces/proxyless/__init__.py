"""ProxylessNAS's MobileNetV2-like space (the seed paper's fifth): encoding, costs, networks, supernet, ground truth."""

from spaces.proxyless.space import ProxylessSpace

SPACE = ProxylessSpace()
