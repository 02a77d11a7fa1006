"""Training-free baselines, scored on the same architecture sets and metrics as supernets.

Every baseline maps a list of architectures to scores, higher = better predicted:

* ``random``   -- uniform scores from the run seed's ``scoring`` stream: the floor a ranking must beat;
* ``params``   -- parameter count of the stand-alone network (the space's benchmark network unless told), by formula;
* ``flops``    -- its FLOPs (multiply-accumulates), by formula;
* ``synflow``  -- zero-cost proxy at initialisation (see ``harness.baselines.zero_cost``); data-independent;
* ``jacob_cov``-- zero-cost proxy at initialisation on a fixed minibatch of real CIFAR-10 training
  images (``batch_size`` images, class-balanced, drawn from the NB201-style training half with the
  run seed's ``scoring`` stream).

Zero-cost networks are initialised from the run seed's ``init`` stream (the same weights seed for
every architecture), so a seed fixes every number. Where the caller names no network they are built
at the space's ``proxy_network`` (the benchmark network unless the space names a smaller one: the
DARTS space's 20-cell C=36 network costs ~22 s per jacob_cov on a CPU core, its 8-cell C=16 search
network ~2.5 s), while ``params`` / ``flops`` always count the benchmark network.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from harness import metrics as M
from harness.api.errors import WsbenchError, unknown
from harness.api.ground_truth import GroundTruthTable
from harness.api.registry import Registry
from harness.api.space import HAS_FLOPS, STANDALONE
from harness.seeding import numpy_stream, stream_seed

#: name -> fn(space, archs, *, seed, network, data, batch_size) -> float64 array of scores.
BaselineFn = Callable[..., np.ndarray]
BASELINES: Registry[BaselineFn] = Registry("baseline")
#: Baselines that build stand-alone networks (built at the space's ``proxy_network`` by default).
PROXIES = ("synflow", "jacob_cov")

#: Minibatch size of the data-dependent proxies (the ICLR 2021 zero-cost study uses 64 on NB201).
DEFAULT_BATCH_SIZE = 64


def training_minibatch(seed: int, batch_size: int = DEFAULT_BATCH_SIZE) -> torch.Tensor:
    """A fixed, class-balanced, normalized minibatch of CIFAR-10 training images (no augmentation)."""
    from harness.data import TensorBatches, get_split, load_cifar10
    from harness.data.splits import balanced_subset

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
        raise WsbenchError(f"baseline batch_size must be an integer >= 2, got {batch_size!r}")
    cifar_part, idx = get_split("nb201-cifar10-valid", seed=0).parts["train"]
    full = load_cifar10(cifar_part)
    pick = balanced_subset(idx, full.labels, batch_size, numpy_stream(seed, "scoring"))
    batches = TensorBatches(full.images[pick], full.labels[pick], device="cpu", batch_size=len(pick))
    return next(iter(batches))[0]


def _images(data: Any) -> torch.Tensor | None:
    """Accept a batch tensor or an (images, labels) pair."""
    if data is None:
        return None
    x = data[0] if isinstance(data, (tuple, list)) else data
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise WsbenchError("baseline data must be an image tensor [batch, 3, H, W] or an (images, labels) pair")
    return x.detach().to("cpu", torch.float32)


def build_network(space: Any, arch: Any, network: dict[str, Any], seed: int) -> torch.nn.Module:
    """The stand-alone network of ``arch`` with freshly initialised weights."""
    space.require([STANDALONE], "zero-cost baselines (stand-alone networks)")
    return space.build_network(arch, seed=seed, **network)


@BASELINES.register("random")
def random_scores(space: Any, archs: Sequence[Any], *, seed: int, **_: Any) -> np.ndarray:
    """Uniform random scores: the floor."""
    return numpy_stream(seed, "scoring").random(len(archs))


@BASELINES.register("params")
def params_scores(space: Any, archs: Sequence[Any], *, network: dict[str, Any], **_: Any) -> np.ndarray:
    """Parameter count (millions) of each stand-alone network."""
    return np.array([space.cost(a, **network).params_m for a in archs], dtype=np.float64)


@BASELINES.register("flops")
def flops_scores(space: Any, archs: Sequence[Any], *, network: dict[str, Any], **_: Any) -> np.ndarray:
    """FLOPs (millions of multiply-accumulates) of each stand-alone network."""
    space.require([HAS_FLOPS], "baseline 'flops'")
    return np.array([space.cost(a, **network).flops_m for a in archs], dtype=np.float64)


@BASELINES.register("synflow")
def synflow_scores(
    space: Any, archs: Sequence[Any], *, seed: int, network: dict[str, Any], data: Any = None, **_: Any
) -> np.ndarray:
    """Synflow at initialisation (all-ones input of the data's image shape, else 3x32x32)."""
    from harness.baselines.zero_cost import synflow

    x = _images(data)
    shape = tuple(x.shape[1:]) if x is not None else (3, 32, 32)
    init = stream_seed(seed, "init")
    return np.array([synflow(build_network(space, a, network, init), shape) for a in archs], dtype=np.float64)


@BASELINES.register("jacob_cov")
def jacob_cov_scores(
    space: Any,
    archs: Sequence[Any],
    *,
    seed: int,
    network: dict[str, Any],
    data: Any = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    **_: Any,
) -> np.ndarray:
    """Jacobian covariance at initialisation on a fixed minibatch of training images."""
    from harness.baselines.zero_cost import jacob_cov

    x = _images(data)
    if x is None:
        x = training_minibatch(seed, batch_size)
    init = stream_seed(seed, "init")
    return np.array([jacob_cov(build_network(space, a, network, init), x) for a in archs], dtype=np.float64)


def check_names(names: Sequence[str]) -> tuple[str, ...]:
    """``names`` if every one is a registered baseline, named once; else a one-line error with "did you mean".

    Commands check their baselines before they compute or write anything: a typo must not cost a
    report, nor become a row that merely says "n/a".
    """
    known = BASELINES.names()
    for name in names:
        if name not in known:
            raise unknown("baseline", name, known)
    twice = next((n for n in names if list(names).count(n) > 1), None)
    if twice is not None:
        raise WsbenchError(f"baseline {twice!r} is named twice; name each baseline once")
    return tuple(names)


def score_baseline(
    name: str,
    space: Any,
    archs: Sequence[Any],
    *,
    seed: int,
    data: Any = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    **network: Any,
) -> np.ndarray:
    """Scores (higher = better predicted) of ``archs`` under baseline ``name``; ``space`` is a space or its name.

    ``network``: the stand-alone network's config (e.g. ``C=16, N=5``); the space's benchmark-scale
    network where not given.
    """
    fn = BASELINES.get(name)
    if isinstance(space, str):
        from harness.catalog import SPACES

        space = SPACES.get(space)
    if len(archs) == 0:
        raise WsbenchError(f"baseline {name!r} needs at least one architecture to score")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise WsbenchError(f"baseline seed must be a non-negative integer, got {seed!r}")
    parsed = [space.parse(a) for a in archs]
    default = space.proxy_network if name in PROXIES else {}
    net = space.network_config(network or default, where="baseline network")
    scores = fn(space, parsed, seed=int(seed), data=data, network=net, batch_size=batch_size)
    return np.asarray(scores, dtype=np.float64)


def baseline_metrics(
    name: str, space: Any, archs: Sequence[Any], tables: list[GroundTruthTable], seed: int, **kwargs: Any
) -> list[dict[str, Any]]:
    """Long-format metric rows (as ``harness.engine.loop.snapshot_metrics``, epoch 0, score = the baseline's name)."""
    if isinstance(space, str):
        from harness.catalog import SPACES

        space = SPACES.get(space)
    est = score_baseline(name, space, archs, seed=seed, **kwargs)
    ids = [space.arch_id(a) for a in archs]
    rows = []
    for table in tables:
        true = table.lookup(ids)
        true = true if table.higher_is_better else -true
        for metric, value in M.compute_all(est, true).items():
            rows.append(
                {
                    "epoch": 0,
                    "ground_truth": table.query.label(),
                    "gt_fingerprint": table.fingerprint[:16],
                    "score": name,
                    "metric": metric,
                    "value": value,
                }
            )
    return rows
