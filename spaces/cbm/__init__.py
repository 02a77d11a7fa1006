"""Channel-Bench-Macro width spaces (MobileNet-like and ResNet-like backbones)."""

from spaces.cbm.space import CBMSpace

MOBILENET = CBMSpace("mobilenet")
RESNET = CBMSpace("resnet")
