"""Weight-sharing strategies: small registered, versioned plugins; the harness owns the loop."""

from harness.api.registry import Registry

STRATEGIES: Registry = Registry("strategy")
STRATEGIES.add_lazy("spos", "strategies.spos:SPOS")
STRATEGIES.add_lazy("fairnas", "strategies.fairnas:FairNAS")
STRATEGIES.add_lazy("multipath", "strategies.multipath:MultiPath")
STRATEGIES.add_lazy("mdenas", "strategies.mdenas:MdeNAS")
STRATEGIES.add_lazy("fewshot", "strategies.partitioned:FewShot")
STRATEGIES.add_lazy("grouping", "strategies.partitioned:Grouping")
STRATEGIES.add_lazy("darts", "strategies.darts:DARTS")
STRATEGIES.add_lazy("gdas", "strategies.gdas:GDAS")
STRATEGIES.add_lazy("sandwich", "strategies.sandwich:Sandwich")
STRATEGIES.add_lazy("omniscience", "strategies.tricks:Omniscience")
STRATEGIES.add_lazy("trainsplit", "strategies.tricks:TrainSplit")
STRATEGIES.add_lazy("focusbranch", "strategies.tricks:FocusBranch")
