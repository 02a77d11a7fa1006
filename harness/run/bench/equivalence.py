"""Does the static step train what the ordinary step trains? Weights after N steps along the same paths.

Two supernets from the same initial weights, each with its own SPOS sampler from the same seed (so
the same paths), take ``steps`` steps on the same batches, one with the ordinary step and one with
the static step (``harness.engine.static_step``); the result is the largest absolute difference of
their parameters and of their BN statistics, and of their logits for one path before training.
The tests run it on a CPU and ``scripts/device_bench.py`` on a GPU.

A deep supernet of tiny width can amplify a rounding difference step after step (measured on the
ProxylessNAS smoke network: perturbing the ordinary step's own initial weights by 1e-7 moves its
weights by 0.06 after 10 steps), so ``dtype=torch.float64`` checks the semantics where float32
rounding would hide them.
"""

from __future__ import annotations

from itertools import islice
from typing import Any

import torch

from harness.api.protocol import Protocol
from harness.engine.step import train_step
from harness.run.bench.setup import Plan, Setup, build_setup, forever


def static_vs_ordinary(
    space: str, protocol: Protocol, steps: int, device: str = "cpu", seed: int = 0, dtype: torch.dtype | None = None
) -> dict[str, Any]:
    """Max |diff| of parameters, BN buffers and first-path logits between the static and the ordinary step."""
    setups = {mode: _setup(space, protocol.replace(step=mode), steps, device, seed, dtype) for mode in ("ordinary", "static")}
    batches = _batches(setups["ordinary"], steps, dtype)
    logits = forward_diff(setups["ordinary"], batches[0][0])
    states = {mode: train_along(s, batches) for mode, s in setups.items()}
    return {**max_diff(states["ordinary"], states["static"]), "logits": logits, "steps": steps}


def weights_after(space: str, protocol: Protocol, steps: int, device: str = "cpu", seed: int = 0,
                  dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:  # fmt: skip
    """The state dict after ``steps`` steps of ``protocol`` (its own ``step``) on the seed's batches and paths."""
    s = _setup(space, protocol, steps, device, seed, dtype)
    return train_along(s, _batches(s, steps, dtype))


def train_along(s: Setup, batches: list[Any]) -> dict[str, torch.Tensor]:
    """Train ``s`` one step per batch (its strategy's paths); its state dict, copied."""
    s.trainer.model.train()
    for i, batch in enumerate(batches):
        train_step(s.trainer, i, batch)
    return {k: v.detach().clone() for k, v in s.trainer.model.state_dict().items()}


@torch.no_grad()
def forward_diff(s: Setup, x: torch.Tensor) -> float:
    """Max |diff| of ``forward(x, arch)`` and ``forward_masked(x, path_mask(arch))`` for the first path of a
    fresh sampler, in training mode (batch statistics) on copies of the weights (the BN statistics stay)."""
    import copy

    model: Any = copy.deepcopy(s.trainer.model).train()  # a supernet with a masked forward
    arch = copy.deepcopy(s.trainer.strategy).paths(0)[0]
    return float((model(x, arch) - model.forward_masked(x, model.path_mask(arch))).abs().max())


def max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> dict[str, float]:
    """Largest |a - b| over the floating entries: parameters (BN affine included) and buffers (BN statistics)."""
    out = {"params": 0.0, "buffers": 0.0}
    for k, v in a.items():
        if not v.is_floating_point():
            if not torch.equal(v, b[k]):
                out["buffers"] = float("inf")  # a counter that differs: BN updated where it should not have
            continue
        kind = "buffers" if "running_" in k else "params"
        out[kind] = max(out[kind], float((v.double() - b[k].double()).abs().max()))
    return out


def _setup(space: str, protocol: Protocol, steps: int, device: str, seed: int, dtype: torch.dtype | None) -> Setup:
    return build_setup(Plan(space, protocol, device, seed), torch.device(device), steps, dtype=dtype)


def _batches(s: Setup, steps: int, dtype: torch.dtype | None) -> list[Any]:
    """``steps`` batches of the setup's synthetic data, drawn once (every run trains on these), in ``dtype``."""
    out = []
    for x, y in islice(forever(s.data.train), steps):
        out.append((x.to(dtype) if dtype is not None and x.is_floating_point() else x, y))
    return out
