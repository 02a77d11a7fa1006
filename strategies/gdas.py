"""GDAS: one op per edge sampled by a hard Gumbel-softmax, architecture logits learned through it.

Dong and Yang, "Searching for A Robust Neural Architecture in Four GPU Hours", CVPR 2019. Every
edge samples one op from Gumbel-softmax((log_softmax(alpha) + g) / tau), g ~ Gumbel(0, 1), and uses
it as a hard one-hot in the forward pass; the backward pass goes through the soft probabilities
(straight-through: ``one_hot - probs.detach() + probs``). Only the sampled op of each edge is run.
Each step trains the weights on a batch from the weight half with a fresh sample, and alpha on a
batch from the architecture half with another fresh sample (Adam, like DARTS). The temperature
falls linearly from ``tau_max`` = 10 to ``tau_min`` = 0.1 over the epochs. The pick is the space's
``derive`` of softmax(alpha), as for DARTS: on NB201 the argmax per edge, ``none`` included; on the
DARTS space (every one of a cell's 14 candidate edges samples an op, ``none`` included) DARTS's
two-strongest-edges-per-node rule.

Followed from NAS-Bench-201's GDAS baseline (xautodl ``exps/NAS-Bench-201-algos/GDAS.py`` and
``NAS201SearchCell.forward_gdas``): alpha = 1e-3 * N(0, 1); Adam(lr 3e-4, betas (0.5, 0.999),
weight decay 1e-3); tau set once per epoch, tau_max - (tau_max - tau_min) * epoch / (epochs - 1)
(tau_max throughout a 1-epoch run, where that formula divides by zero); in the architecture step the
ops not sampled are skipped but their (zero) hard weights are added to the node, so every logit
gets a gradient (the official trick; see ``spaces.nb201.ops``). Deviations, because the harness
owns the weight loop: the harness runs the architecture step *before* the weight step (the official
loop updates the weights first); the weight step receives the exact detached one-hot (the official
one carries ``1 - p + p``, equal to 1 up to rounding, and its alpha gradient is discarded anyway);
the weight optimizer, schedule, clipping and augmentation are the protocol's (NB201's GDAS: SGD
0.025 cosine, clip 5); BatchNorms are affine (NB201 searches with ``affine=False``); Gumbel noise
is drawn on the host from the strategy's random stream so runs are reproducible across devices.

Compute per step relative to SPOS: one single-path forward/backward for the weights plus one for
alpha (one op per edge each) = 2. ``paths_per_step = 2``. Measured on CPU (quick protocol, C=8,
N=1, batch 128, one thread): 0.233 s per GDAS step vs 0.102 s per SPOS step, 2.3x.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from harness.api.errors import WsbenchError
from harness.api.options import Option
from strategies.darts import Bilevel


class GDAS(Bilevel):
    """Hard Gumbel-softmax sampling of one op per edge; straight-through gradient to alpha."""

    name = "gdas"
    version = 1
    paths_per_step = 2.0
    option_specs = {
        **Bilevel.option_specs,
        "tau_max": Option(10.0, float, above=0, help="Gumbel-softmax temperature of the first epoch"),
        "tau_min": Option(0.1, float, above=0, help="temperature of the last epoch"),
    }

    def __init__(self, space: Any, rng: np.random.Generator, **options: Any) -> None:
        super().__init__(space, rng, **options)
        self.tau_max, self.tau_min = self.options["tau_max"], self.options["tau_min"]

    def check_rules(self) -> None:
        """The temperature only falls."""
        if self.options["tau_min"] > self.options["tau_max"]:
            raise WsbenchError(
                f"gdas option tau_min ({self.options['tau_min']}) must not exceed tau_max ({self.options['tau_max']})"
            )

    def tau(self, step: int) -> float:
        """Temperature of a step: linear in the epoch, tau_max in the first, tau_min in the last."""
        if self.epochs <= 1:
            return self.tau_max
        epoch = min(step // self.steps_per_epoch, self.epochs - 1)
        return self.tau_max - (self.tau_max - self.tau_min) * epoch / (self.epochs - 1)

    def _sample(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(hard one-hot, soft probabilities) of one Gumbel-softmax draw; probs keep alpha's graph."""
        while True:  # the official code also redraws non-finite noise (probability ~0)
            g = self.rng.gumbel(size=(self.num_edges, self.num_ops))
            if np.isfinite(g).all():
                break
        alpha, _ = self._bound()
        gumbel = torch.as_tensor(g, dtype=alpha.dtype, device=alpha.device)
        probs = F.softmax((F.log_softmax(alpha, dim=-1) + gumbel) / self.tau(step), dim=-1)
        hard = torch.zeros_like(probs).scatter_(-1, probs.argmax(-1, keepdim=True), 1.0)
        return hard, probs

    def arch_weights(self, step: int) -> torch.Tensor:
        hard, probs = self._sample(step)
        return hard - probs.detach() + probs  # straight-through: forward hard, backward soft

    def paths(self, step: int) -> list[torch.Tensor]:
        self._require_bound()
        with torch.no_grad():
            hard, _ = self._sample(step)
        return [hard]


#: Registered by ``harness.catalog`` (this module describes itself).
PLUGINS = {"strategy": {"gdas": GDAS}}
