"""Channel-Bench-Macro width spaces (MobileNet-like and ResNet-like backbones): encoding, costs, ground truth.

Not registered in ``spaces.SPACES`` yet: the width supernet and its channel-sharing rules come next.
"""
