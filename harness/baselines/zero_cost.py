"""Zero-cost proxies: scores of an untrained stand-alone network, computed at initialisation.

* ``synflow`` -- Tanaka et al., "Pruning neural networks without any data by iteratively conserving
  synaptic flow", NeurIPS 2020, as used for NAS by Abdelfattah et al., "Zero-Cost Proxies for
  Lightweight NAS", ICLR 2021: every parameter replaced by its absolute value, BatchNorm disabled
  (identity: the ICLR paper's default ``synflow`` builds the network without BN), the network in
  float64 (its products of absolute weights overflow float32), ReLU6 replaced by ReLU (a clipped unit
  saturates on the all-positive network and passes no gradient), one all-ones input image, R = sum of
  the logits; score = sum over Conv2d and Linear *weights* of |theta * dR/dtheta| (biases and BN
  affine parameters are not counted, as in that paper's code). Data-independent by construction.
* ``jacob_cov`` -- Mellor et al., "Neural Architecture Search without Training", arXiv 2006.04647v1
  (2020; the ICML 2021 version replaced it by a different score): J holds, per image of a minibatch,
  the gradient of the sum of the logits with respect to that image (flattened); with the correlation
  matrix of J's rows and its eigenvalues v, score = -sum(log(v + k) + 1/(v + k)), k = 1e-5. The
  network runs in training mode (BatchNorm on batch statistics), float32, as both papers' code does.
  If some image's gradient is constant (e.g. no path from input to output), the correlation is
  undefined; we return the score of a rank-one correlation matrix (every image looks the same), the
  lowest value the formula can take, instead of NaN.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

JACOB_K = 1e-5


def _disable_batchnorm(model: nn.Module) -> None:
    """Replace every BatchNorm layer by identity (synflow is defined on the BN-free network)."""
    for name, child in model.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(model, name, nn.Identity())
        else:
            _disable_batchnorm(child)


def _unclip_activations(model: nn.Module) -> None:
    """Replace every ReLU6 by ReLU: on synflow's all-positive network a ReLU is the identity, while ReLU6
    saturates at 6 and zeroes every gradient behind it (ProxylessNAS / MobileNet blocks would all score the same)."""
    for name, child in model.named_children():
        if isinstance(child, nn.ReLU6):
            setattr(model, name, nn.ReLU())
        else:
            _unclip_activations(child)


def synflow(model: nn.Module, input_shape: tuple[int, ...] = (3, 32, 32)) -> float:
    """Synaptic-flow score of ``model`` (modified in place: BN removed, ReLU6 unclipped, |weights|, float64)."""
    _disable_batchnorm(model)
    _unclip_activations(model)
    model.double()
    with torch.no_grad():
        for p in model.parameters():
            p.abs_()
    model.zero_grad(set_to_none=True)
    model.train()  # no BN left, so the mode changes nothing; set for definiteness
    x = torch.ones((1, *input_shape), dtype=torch.float64)
    model(x).sum().backward()
    total = 0.0
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)) and m.weight.grad is not None:
            total += float((m.weight.detach() * m.weight.grad).abs().sum())
    return total


def jacobian_rows(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    """Per-image gradients of the summed logits w.r.t. the input, as a float64 [batch, pixels] array."""
    model.train()
    x = x.detach().clone().requires_grad_(True)
    model.zero_grad(set_to_none=True)
    model(x).sum().backward()
    assert x.grad is not None
    return x.grad.detach().reshape(x.shape[0], -1).to(torch.float64).numpy()


def jacob_cov_from_rows(jacob: np.ndarray, k: float = JACOB_K) -> float:
    """Mellor et al.'s score of a Jacobian matrix (one row per image)."""
    n = jacob.shape[0]
    sd = jacob.std(axis=1)
    if n < 2 or not np.all(np.isfinite(jacob)) or np.any(sd == 0):
        # Rank-one correlation: eigenvalues n, 0, ..., 0 -- the formula's minimum.
        v = np.zeros(n)
        v[0] = n
    else:
        corr = np.corrcoef(jacob)
        # Symmetric: real eigenvalues; clip rounding noise below 0 (they are >= 0 in exact arithmetic).
        v = np.clip(np.linalg.eigvalsh(corr), 0.0, None)
    return float(-np.sum(np.log(v + k) + 1.0 / (v + k)))


def jacob_cov(model: nn.Module, x: torch.Tensor) -> float:
    """Jacobian-covariance score of ``model`` on the minibatch ``x``."""
    return jacob_cov_from_rows(jacobian_rows(model, x))
